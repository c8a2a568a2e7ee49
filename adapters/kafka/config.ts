/**
 * The Kafka adapter's config types. The JSON Schemas (source.schema.json, sink.schema.json) are the source of truth;
 * config.test.ts keeps these types and the schemas in step.
 */
import type { JsonSchema } from '../../src/core/contracts.js';
import type { Duration } from '../../src/core/duration.js';
import sinkSchemaJson from './sink.schema.json' with { type: 'json' };
import sourceSchemaJson from './source.schema.json' with { type: 'json' };

export const sourceSchema = sourceSchemaJson as JsonSchema;
export const sinkSchema = sinkSchemaJson as JsonSchema;

export interface KafkaTlsConfig {
  /** CA bundle (PEM file, relative to the flow file) to trust instead of the system's. */
  ca?: string;
  /** Client certificate and key (PEM files) for mutual TLS. */
  cert?: string;
  key?: string;
  passphrase?: string;
  /** Default true. */
  reject_unauthorized?: boolean;
  servername?: string;
}

export interface KafkaSaslConfig {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** Connection settings, the same on the source and the sink. */
export interface KafkaConnectionConfig {
  /** "host:port" addresses, as a list or one comma-separated string (handy with ${env:KAFKA_BROKERS}). */
  brokers: string[] | string;
  /** Default "integration-hub". */
  client_id?: string;
  /** true for TLS with the system's CAs, or the TLS settings. */
  tls?: boolean | KafkaTlsConfig;
  sasl?: KafkaSaslConfig;
  /** Default "3s". */
  connection_timeout?: Duration;
  /** Default "30s". */
  request_timeout?: Duration;
}

export interface RedeliveryConfig {
  /** Default "500ms". */
  initial?: Duration;
  /** Default "30s". */
  max?: Duration;
}

export interface KafkaSourceConfig extends KafkaConnectionConfig {
  /** One of `topic` and `topics` is given. */
  topic?: string;
  topics?: string[];
  group_id: string;
  /** Default false: a new group starts at the end of the topic. */
  from_beginning?: boolean;
  /** Default "<topic>.dlq" of each record's topic. */
  dead_letter_topic?: string;
  /** Default true: one message at a time per partition. */
  ordered?: boolean;
  /** Default 16. */
  max_in_flight?: number;
  redelivery?: RedeliveryConfig;
  /** Default "6s" (the broker's least): a replica killed with -9 hands its partitions over this soon. */
  session_timeout?: Duration;
  /** Further record headers the message keeps (lower-cased); the trace and correlation headers always are. */
  headers?: string[];
}

export interface KafkaSinkConfig extends KafkaConnectionConfig {
  /** Template. */
  topic: string;
  /** Template; no key (round robin by batch) when absent. */
  key?: string;
  partition?: number;
  /** Templates. */
  headers?: Record<string, string>;
  /** Default "5ms". */
  linger?: Duration;
  /** Default 200. */
  batch_size?: number;
  /** Default "30s". */
  timeout?: Duration;
}
