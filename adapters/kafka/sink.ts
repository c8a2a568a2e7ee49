import { Partitioners, type IHeaders, type Message as KafkaRecord, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { AdapterContext, SendContext, Sink, SinkFactory } from '../../src/core/contracts.js';
import { durationOption } from '../../src/core/duration.js';
import { HubError, hubError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { compileHeaderTemplates, compileTemplate, type CompiledTemplate } from '../../src/kit/expression.js';
import type { Message } from '../../src/core/message.js';
import { MESSAGE_ID_HEADER, outboundHeaders } from '../../src/kit/propagation.js';
import { backoffMs, brokerList, createKafka, kafkaOptions, sleep, toKafkaHubError, TOPIC_NAME } from './client.js';
import { sinkSchema, type KafkaSinkConfig } from './config.js';

/** Headers the sink sets itself; a config that names one is reported. */
const RESERVED_HEADERS = new Set(['content-type', MESSAGE_ID_HEADER]);
const RECONNECT_INITIAL_MS = 500;
const RECONNECT_MAX_MS = 30_000;

interface Pending {
  topic: string;
  record: KafkaRecord;
  /** The send's context: a record whose flow gave up on it (`aborted`) before it was taken into a request is dropped. */
  ctx: SendContext;
  resolve: (value: undefined) => void;
  reject: (err: HubError) => void;
}

/**
 * Produces each message as one record, with acks from all in-sync replicas and kafkajs' idempotent producer (one
 * request in flight, sequence numbers), so a retry inside kafkajs does not write a record twice. Batching:
 * - idle (no request in flight): the first send waits `linger` for company, then what is queued (at most
 *   `batch_size`) goes as one request; a full batch goes at once.
 * - busy: sends queue while the request is in flight, and the moment it returns everything queued meanwhile (at
 *   most `batch_size`, the rest right after) leaves as the next request, with no linger.
 * Records leave in the order they were sent, one request at a time, so the order per key (per partition) holds.
 * Each caller is answered when its own request is acknowledged. It does not retry across requests: it says whether
 * a retry may help and the flow's retry policy decides.
 */
export class KafkaSink implements Sink {
  readonly #options: ReturnType<typeof kafkaOptions>;
  readonly #logger: Logger;
  readonly #topic: CompiledTemplate;
  readonly #key: CompiledTemplate | undefined;
  readonly #partition: number | undefined;
  readonly #headers: [string, CompiledTemplate][];
  readonly #lingerMs: number;
  readonly #batchSize: number;
  readonly #timeoutMs: number;
  readonly #where: string;
  #producer: Producer | undefined;
  #connected = false;
  #connecting: Promise<void> | undefined;
  #connectedWaiters: (() => void)[] = [];
  #stopping: AbortController | undefined;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(config: KafkaSinkConfig, ctx: AdapterContext) {
    const report = ctx.report.bind(ctx);
    this.#options = kafkaOptions(config, ctx);
    this.#logger = ctx.logger.child({ sink: 'kafka' });
    this.#where = brokerList(config.brokers).join(',');
    this.#topic = compileTemplate(config.topic, ['topic'], report);
    if (this.#topic.constant && !TOPIC_NAME.test(config.topic)) report({ path: ['topic'], message: `"${config.topic}" is not a valid topic name (letters, digits, ".", "_", "-"; at most 249)` });
    this.#key = config.key === undefined ? undefined : compileTemplate(config.key, ['key'], report);
    this.#partition = config.partition;
    this.#headers = compileHeaderTemplates(config.headers, RESERVED_HEADERS, report);
    this.#lingerMs = durationOption(config.linger, '5ms', ['linger'], ctx.report);
    this.#batchSize = config.batch_size ?? 200;
    this.#timeoutMs = durationOption(config.timeout, '30s', ['timeout'], ctx.report, 1);
  }

  async start(): Promise<void> {
    if (this.#producer) return;
    this.#stopping = new AbortController();
    const kafka = createKafka(this.#options, this.#logger);
    // Idempotence needs acks from all in-sync replicas and one request in flight per broker (kafkajs enforces both).
    this.#producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.#reconnect();
  }

  async stop(): Promise<void> {
    const producer = this.#producer;
    if (!producer) return;
    if (this.#queue.length > 0) this.#flush();
    while (this.#inFlight) await this.#inFlight;
    this.#stopping?.abort();
    this.#producer = undefined;
    this.#connected = false;
    for (const wake of this.#connectedWaiters.splice(0)) wake();
    await this.#connecting;
    await producer.disconnect().catch((err: unknown) => this.#logger.debug({ err }, 'kafka producer did not disconnect cleanly'));
  }

  ready(): boolean {
    return this.#connected;
  }

  /**
   * The common case (a constant topic, no templates, the producer connected) queues the record without an async
   * call of its own: an async function that returns a promise costs its frame and extra turns per message.
   */
  send(message: Message, ctx: SendContext): Promise<undefined> {
    if (!this.#producer) return Promise.reject(hubError('FLOW_STOPPING', 'the Kafka sink is not started'));
    if (!this.#topic.constant || this.#headers.length > 0 || this.#key || !this.#connected) return this.#renderAndSend(message, ctx);
    return this.#enqueue(this.#topic.source, this.#record(message, this.#headersOf(message)), ctx);
  }

  /** send, when the topic, key or a header is a template to render, or the producer is not connected yet. */
  async #renderAndSend(message: Message, ctx: SendContext): Promise<undefined> {
    // A constant topic was checked with the config, and needs no await (a microtask turn per message).
    const topic = this.#topic.constant ? this.#topic.source : await this.#topic.render(message);
    if (!this.#topic.constant && !TOPIC_NAME.test(topic)) {
      throw new PermanentError('DOWNSTREAM_REJECTED', `the Kafka sink's topic "${topic}" is not a valid topic name`, { details: { topic, template: this.#topic.source } });
    }
    const headers = this.#headersOf(message);
    for (const [name, template] of this.#headers) headers[name] = await template.render(message);
    const record = this.#record(message, headers);
    if (this.#key) record.key = await this.#key.render(message);
    if (!this.#connected) await this.#waitConnected(ctx.signal);
    return this.#enqueue(topic, record, ctx);
  }

  #headersOf(message: Message): IHeaders {
    const headers: IHeaders = outboundHeaders(message.headers);
    headers[MESSAGE_ID_HEADER] = message.id;
    if (message.contentType) headers['content-type'] = message.contentType;
    return headers;
  }

  #record(message: Message, headers: IHeaders): KafkaRecord {
    const record: KafkaRecord = { value: message.body, headers };
    if (this.#partition !== undefined) record.partition = this.#partition;
    return record;
  }

  /** Queues the record for the next request; settles when that request is answered. */
  #enqueue(topic: string, record: KafkaRecord, ctx: SendContext): Promise<undefined> {
    if (ctx.aborted) return Promise.reject(abortError(ctx.signal, topic));
    return new Promise<undefined>((resolve, reject) => {
      // No abort listener per record (costly at this rate): the flow settles a message it gave up on by itself, and
      // #flush drops a record whose flow gave up before it was taken into a request.
      this.#queue.push({ topic, record, ctx, resolve, reject });
      // While a request is in flight the record waits for its answer, not for the linger (see #flush).
      if (this.#queue.length >= this.#batchSize) this.#flush();
      else if (!this.#inFlight) this.#timer ??= setTimeout(() => this.#flush(), this.#lingerMs);
    });
  }

  /**
   * Sends what is queued (at most `batch_size`) as one request, unless one is on its way: then the next goes the
   * moment it is answered, with everything queued meanwhile (the linger is only for a sink that was idle).
   */
  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight) return;
    const batch: Pending[] = [];
    let taken = 0;
    for (; taken < this.#queue.length && batch.length < this.#batchSize; taken++) {
      const p = this.#queue[taken]!;
      if (p.ctx.aborted) p.reject(abortError(p.ctx.signal, p.topic));
      else batch.push(p);
    }
    this.#queue.splice(0, taken);
    if (batch.length === 0) return;
    this.#inFlight = this.#sendBatch(batch).finally(() => {
      this.#inFlight = undefined;
      this.#flush();
    });
  }

  async #sendBatch(batch: Pending[]): Promise<void> {
    const error = await this.#produce(batch);
    if (!error) {
      for (const p of batch) p.resolve(undefined);
      return;
    }
    if (error.retryable || batch.length === 1) {
      for (const p of batch) p.reject(error);
      if (error.code === 'DOWNSTREAM_UNAVAILABLE') this.#lost(error);
      return;
    }
    // One bad record (too large, a topic that does not exist) fails the whole request: send each alone, so only
    // the culprits fail and the rest are written.
    for (const p of batch) {
      const own = await this.#produce([p]);
      if (own) p.reject(own);
      else p.resolve(undefined);
    }
  }

  async #produce(batch: Pending[]): Promise<HubError | undefined> {
    const producer = this.#producer;
    if (!producer) return hubError('FLOW_STOPPING', 'the Kafka sink stopped before the record was sent');
    const byTopic = new Map<string, KafkaRecord[]>();
    for (const p of batch) {
      const records = byTopic.get(p.topic);
      if (records) records.push(p.record);
      else byTopic.set(p.topic, [p.record]);
    }
    const what = batch.length === 1 ? `producing to topic "${batch[0]!.topic}" at ${this.#where}` : `producing ${batch.length} records to ${[...byTopic.keys()].map((t) => `"${t}"`).join(', ')} at ${this.#where}`;
    try {
      await producer.sendBatch({ acks: -1, timeout: this.#timeoutMs, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      return undefined;
    } catch (err) {
      return toKafkaHubError(err, what);
    }
  }

  /** A send found the broker gone: say so through ready() and reconnect in the background. */
  #lost(error: HubError): void {
    if (!this.#connected) return;
    this.#connected = false;
    this.#logger.warn({ code: error.code, brokers: this.#where }, `lost the Kafka connection (${error.message}); reconnecting`);
    this.#reconnect();
  }

  #reconnect(): void {
    if (this.#connecting) return;
    const signal = this.#stopping!.signal;
    this.#connecting = (async () => {
      for (let attempt = 1; !signal.aborted; attempt++) {
        const producer = this.#producer;
        if (!producer) return;
        try {
          await producer.connect();
          if (signal.aborted) return;
          this.#connected = true;
          for (const wake of this.#connectedWaiters.splice(0)) wake();
          this.#logger.info({ brokers: this.#where }, `Kafka sink connected to ${this.#where}`);
          return;
        } catch (err) {
          const wait = backoffMs(attempt, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS);
          const line = `cannot reach Kafka at ${this.#where} (${(err as Error).message}); retrying in the background`;
          if (attempt === 1) this.#logger.warn({ brokers: this.#where }, line);
          else this.#logger.debug({ brokers: this.#where, attempt, waitMs: wait }, line);
          await sleep(wait, signal);
        }
      }
    })().finally(() => (this.#connecting = undefined));
  }

  /** Waits for the connection, as long as the flow's signal and the sink's timeout allow; then fails retryable. */
  async #waitConnected(signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    await new Promise<void>((resolve) => {
      this.#connectedWaiters.push(resolve);
      both.addEventListener('abort', () => resolve(), { once: true });
    });
    if (this.#connected) return;
    if (signal.aborted) throw abortError(signal, 'Kafka');
    throw new RetryableError('DOWNSTREAM_UNAVAILABLE', `the Kafka sink is not connected to ${this.#where}`, { details: { brokers: this.#where } });
  }
}

function abortError(signal: AbortSignal, target: string): HubError {
  if (signal.reason instanceof HubError) return signal.reason;
  const reason = signal.reason as { name?: string } | undefined;
  return reason?.name === 'TimeoutError' || reason === undefined
    ? hubError('TIMEOUT', `producing to ${target} was cut short: the flow ran out of time`)
    : hubError('FLOW_STOPPING', `producing to ${target} was aborted: the hub is stopping`);
}

export const sinkFactory: SinkFactory<KafkaSinkConfig> = {
  schema: sinkSchema,
  create: (config, ctx) => new KafkaSink(config, ctx),
};
