/**
 * The AMQP adapter's config types. The JSON Schemas (source.schema.json, sink.schema.json) are the source of truth;
 * config.test.ts keeps these types and the schemas in step.
 */
import type { JsonSchema } from '../../src/core/contracts.js';
import type { Duration } from '../../src/core/duration.js';
import sinkSchemaJson from './sink.schema.json' with { type: 'json' };
import sourceSchemaJson from './source.schema.json' with { type: 'json' };

export const sourceSchema = sourceSchemaJson as JsonSchema;
export const sinkSchema = sinkSchemaJson as JsonSchema;

export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';
export type QueueType = 'classic' | 'quorum';
/** An AMQP field table as YAML can write it. */
export type Arguments = Record<string, string | number | boolean>;

/** Connection settings, the same on the source and the sink. */
export interface ConnectionConfig {
  url: string;
  username?: string;
  password?: string;
  /** Default "30s"; 0 turns heartbeats off. */
  heartbeat?: Duration;
  reconnect?: ReconnectConfig;
}

export interface ReconnectConfig {
  /** Default "200ms". */
  initial?: Duration;
  /** Default "15s". */
  max?: Duration;
}

export interface ExchangeConfig {
  /** Default "topic". */
  type?: ExchangeType;
  /** Default true. */
  durable?: boolean;
  /** Default false. */
  auto_delete?: boolean;
  arguments?: Arguments;
}

export interface BindConfig {
  exchange: string;
  /** Default "" (what fanout and headers exchanges use). */
  routing_key?: string | string[];
  arguments?: Arguments;
}

export interface QueueConfig {
  /** Default "classic". */
  type?: QueueType;
  /** Default true. */
  durable?: boolean;
  arguments?: Arguments;
  bind?: BindConfig | BindConfig[];
}

export interface DeadLetterConfig {
  exchange: string;
  /** Default "direct" (ignored when the exchange is described under `exchanges`). */
  type?: ExchangeType;
  /** Default: the source queue's name. */
  routing_key?: string;
  /** Default "<queue>.dead"; false declares no dead-letter queue. */
  queue?: string | false;
}

export interface RetryConfig {
  /** Default "5s". */
  delay?: Duration;
  /** Default: no limit. */
  max_retries?: number;
  /** Default "<queue>.retry". */
  queue?: string;
}

export interface AmqpSourceConfig extends ConnectionConfig {
  queue: string;
  /** Default "classic". */
  queue_type?: QueueType;
  /** Default true. */
  durable?: boolean;
  arguments?: Arguments;
  bind?: BindConfig | BindConfig[];
  dead_letter?: DeadLetterConfig;
  retry?: RetryConfig;
  /** Default 32. */
  prefetch?: number;
  /** Default "application/json". */
  content_type?: string;
  headers?: string[];
  exchanges?: Record<string, ExchangeConfig>;
  queues?: Record<string, QueueConfig>;
}

export interface AmqpSinkConfig extends ConnectionConfig {
  /** Default "" (the default exchange, which routes to the queue named by the routing key). */
  exchange?: string;
  /** Default "". */
  routing_key?: string;
  /** Default true. */
  mandatory?: boolean;
  /** Default "reject". */
  unroutable?: 'reject' | 'retry';
  /** Default true. */
  persistent?: boolean;
  headers?: Record<string, string>;
  exchanges?: Record<string, ExchangeConfig>;
  queues?: Record<string, QueueConfig>;
}

export const DEFAULTS = {
  heartbeat: '30s',
  reconnectInitial: '200ms',
  reconnectMax: '15s',
  prefetch: 32,
  contentType: 'application/json',
  retryDelay: '5s',
} as const;
