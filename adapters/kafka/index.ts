/**
 * The Kafka adapter: a consumer-group source (order per partition, commits only up to the lowest unsettled offset,
 * refused records to a dead-letter topic) and an idempotent, batching producer sink (acks from all in-sync
 * replicas). See README.md for every option and the delivery guarantees.
 */
import type { AdapterRegistration } from '../../src/core/contracts.js';
import { sinkFactory } from './sink.js';
import { sourceFactory } from './source.js';

export type { KafkaSinkConfig, KafkaSourceConfig } from './config.js';

const kafka: AdapterRegistration = {
  name: 'kafka',
  description: 'Apache Kafka in and out: a consumer-group source that commits only what the flow settled (refused records go to a dead-letter topic), and an idempotent producer sink with acks=all.',
  source: sourceFactory,
  sink: sinkFactory,
};

export default kafka;
