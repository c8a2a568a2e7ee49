/**
 * The Kafka adapter: a consumer-group source (order per partition, commits only up to the lowest unsettled offset,
 * refused records to a dead-letter topic) and an idempotent, batching producer sink (acks from all in-sync
 * replicas). See README.md for every option and the delivery guarantees.
 */
import type { AdapterRegistration, JsonSchema } from '../../src/core/contracts.js';
import { KafkaSink, type KafkaSinkConfig } from './sink.js';
import sinkSchema from './sink.schema.json' with { type: 'json' };
import { KafkaSource, type KafkaSourceConfig } from './source.js';
import sourceSchema from './source.schema.json' with { type: 'json' };

export type { KafkaSinkConfig } from './sink.js';
export type { KafkaSourceConfig } from './source.js';

const kafka: AdapterRegistration = {
  name: 'kafka',
  description: 'Apache Kafka in and out: a consumer-group source that commits only what the flow settled (refused records go to a dead-letter topic), and an idempotent producer sink with acks=all.',
  source: {
    schema: sourceSchema as JsonSchema,
    create: (config: KafkaSourceConfig, ctx) => new KafkaSource(config, ctx),
  },
  sink: {
    schema: sinkSchema as JsonSchema,
    create: (config: KafkaSinkConfig, ctx) => new KafkaSink(config, ctx),
  },
};

export default kafka;
