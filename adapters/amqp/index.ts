/**
 * The AMQP 0-9-1 adapter (RabbitMQ): a queue-consuming source that acks only after the flow settled each message,
 * and a sink that publishes with publisher confirms. Topology (exchanges, queues, bindings, dead-letter and retry
 * queues) is declared from the flow config on every (re)connect. See README.md for every option.
 */
import type { AdapterRegistration } from '../../src/core/contracts.js';
import { sinkFactory } from './sink.js';
import { sourceFactory } from './source.js';

export type { AmqpSinkConfig, AmqpSourceConfig } from './config.js';

const amqp: AdapterRegistration = {
  name: 'amqp',
  description: 'AMQP 0-9-1 (RabbitMQ): consume a queue (ack after the flow settled, dead letter with the reason, delayed retry) and publish with confirms; topology declared from the flow.',
  source: sourceFactory,
  sink: sinkFactory,
};

export default amqp;
