import { Partitioners, type IHeaders, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { HubError } from '../../src/core/errors.js';

/** Headers a dead-lettered record carries besides its own: why, from where, and when. */
export const DEAD_LETTER_HEADERS = {
  code: 'x-dlq-error-code',
  message: 'x-dlq-error-message',
  step: 'x-dlq-error-step',
  flow: 'x-dlq-flow',
  topic: 'x-dlq-original-topic',
  partition: 'x-dlq-original-partition',
  offset: 'x-dlq-original-offset',
  messageId: 'x-dlq-message-id',
  at: 'x-dlq-at',
} as const;

/**
 * Writes the records a flow refused, unchanged, to the dead-letter topic (the source's `dead_letter_topic`, or
 * `<topic>.dlq` of the record's own topic), with headers saying why and where from. Its idempotent producer
 * connects at the first refused record, not when the source starts.
 */
export class DeadLetterWriter {
  readonly #producer: Producer;
  #ready: Promise<void> | undefined;
  readonly #topic: string | undefined;
  readonly #flow: string;
  readonly #logger: Logger;

  constructor(kafka: Kafka, topic: string | undefined, flow: string, logger: Logger) {
    this.#producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.#topic = topic;
    this.#flow = flow;
    this.#logger = logger;
  }

  /** Resolves once every in-sync replica has the record (acks=all); rejects when it could not be written. */
  async write(topic: string, partition: number, record: KafkaMessage, error: HubError, messageId: string | undefined): Promise<void> {
    const target = this.#topic ?? `${topic}.dlq`;
    const producer = this.#producer;
    this.#ready ??= producer.connect().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    await this.#ready;
    const headers: IHeaders = {
      ...(record.headers ?? {}),
      [DEAD_LETTER_HEADERS.code]: error.code,
      [DEAD_LETTER_HEADERS.message]: error.message,
      [DEAD_LETTER_HEADERS.flow]: this.#flow,
      [DEAD_LETTER_HEADERS.topic]: topic,
      [DEAD_LETTER_HEADERS.partition]: String(partition),
      [DEAD_LETTER_HEADERS.offset]: record.offset,
      [DEAD_LETTER_HEADERS.at]: new Date().toISOString(),
      ...(error.step ? { [DEAD_LETTER_HEADERS.step]: error.step } : {}),
      ...(messageId ? { [DEAD_LETTER_HEADERS.messageId]: messageId } : {}),
    };
    await producer.send({ topic: target, acks: -1, messages: [{ key: record.key, value: record.value, headers, timestamp: record.timestamp }] });
    this.#logger.warn({ messageId, topic, partition, offset: record.offset, code: error.code, deadLetterTopic: target }, `the flow refused the record at ${topic}/${partition}/${record.offset} (${error.code}: ${error.message}); it is in ${target}`);
  }

  async disconnect(): Promise<void> {
    await this.#producer.disconnect().catch(() => {});
  }
}
