import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { isoAt, isoNow } from '../../src/core/clock.js';
import { newId } from '../../src/core/id.js';
import type { AdapterContext, DeliverOptions, Source, SourceContext, SourceFactory } from '../../src/core/contracts.js';
import { durationOption } from '../../src/core/duration.js';
import { toHubError, type HubError } from '../../src/core/errors.js';
import { Message, type MessageMeta } from '../../src/core/message.js';
import { propagated, textHeaders, upstreamId } from '../../src/kit/propagation.js';
import { backoffMs, brokerList, createKafka, kafkaOptions, sleep, TOPIC_NAME } from './client.js';
import { sourceSchema, type KafkaSourceConfig } from './config.js';
import { DeadLetterWriter } from './dead-letter.js';
import { Generation } from './generation.js';
import { OrderedWindow, type Outcome } from './window.js';

const RECONNECT_INITIAL_MS = 500;
/** The latest time a Date can hold. */
const MAX_DATE_MS = 8.64e15;
const RECONNECT_MAX_MS = 30_000;
/** How long `stop` waits for deliveries still in flight (the runner already waited for its own in-flight messages). */
const STOP_GRACE_MS = 3_000;

/**
 * A consumer group member that feeds each record to the flow as one message.
 *
 * - Order: with `ordered` (the default) a partition's records are delivered in offset order, the next once the
 *   previous settled or, when the flow pipelines (DeliverOptions.onIssued), once its sink write is out; up to
 *   `max_in_flight` records over all partitions. Without it, up to `max_in_flight` records are in the flow at once,
 *   from any partition, in any order.
 * - Commits (manual; kafkajs' autoCommit is off) go only up to the lowest offset not yet settled in each partition,
 *   as records settle (within 50 ms) and every second besides: a kill repeats what was in flight, not a backlog.
 * - Group membership: a source that stops leaves its group (kafkajs' disconnect), so its partitions go to the
 *   other members at once; a member killed with -9 is noticed after `session_timeout`, 6s by default, the broker's
 *   least. kafkajs has no static membership (group.instance.id; tulios/kafkajs#884, #1242), so a short session is
 *   what brings a restarted replica back in under 10 s.
 * - `deliver` rejects permanent: the record goes to the dead-letter topic with the reason in its headers, then it
 *   counts as settled. Rejects retryable: nothing is committed, the partition is paused, and after a bounded
 *   backoff the same record is delivered again (ordered: before any record behind it).
 * - A broker that is not there at start, or a consumer kafkajs gives up on (a CRASH event with restart: false, see
 *   tulios/kafkajs#1443 and #267), is retried in the background with bounded backoff; `ready()` is true only while
 *   the consumer is a member of its group.
 */
export class KafkaSource implements Source {
  readonly #options: ReturnType<typeof kafkaOptions>;
  readonly #logger: Logger;
  readonly #topics: string[];
  readonly #groupId: string;
  readonly #fromBeginning: boolean;
  readonly #deadLetterTopic: string | undefined;
  readonly #ordered: boolean;
  readonly #maxInFlight: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #sessionTimeoutMs: number;
  readonly #where: string;
  #ctx: SourceContext | undefined;
  #kafka: Kafka | undefined;
  #deadLetters: DeadLetterWriter | undefined;
  #generation: Generation | undefined;
  #joined = false;
  /** When kafkajs last fetched or heartbeated successfully: a member that has heard nothing for long is not ready. */
  #lastSign = 0;
  #stopping: AbortController | undefined;
  #supervisor: Promise<void> | undefined;
  /** Deliveries handed to the flow and not settled yet (unordered), and ordered batches not done yet. */
  readonly #deliveries = new Set<Promise<unknown>>();
  /** Records that failed retryably: their message id and attempt, kept across redeliveries. */
  readonly #retries = new Map<string, { id: string; attempt: number }>();
  /** Records the flow refused whose dead-lettering failed: on redelivery they go straight to the dead-letter topic. */
  readonly #dead = new Map<string, HubError>();
  readonly #deadIds = new Map<string, string>();
  /** Wakes the deliveries and batches waiting for the flow when the source stops (an abort listener each would be hundreds). */
  readonly #onStop = new Set<() => void>();
  #slotsFree: number;
  readonly #slotWaiters: (() => void)[] = [];
  readonly #keepHeaders: string[];
  readonly #sources = new Map<string, string>();

  constructor(config: KafkaSourceConfig, ctx: AdapterContext) {
    this.#options = kafkaOptions(config, ctx);
    this.#logger = ctx.logger;
    this.#where = brokerList(config.brokers).join(',');
    if (config.topic !== undefined && config.topics !== undefined) ctx.report({ path: ['topics'], message: 'give either topic or topics, not both' });
    this.#topics = config.topics ?? (config.topic === undefined ? [] : [config.topic]);
    if (this.#topics.length === 0) ctx.report({ path: [], message: 'name the topic to consume (topic: orders) or topics (topics: [a, b])' });
    this.#topics.forEach((t, i) => {
      if (!TOPIC_NAME.test(t)) ctx.report({ path: config.topics ? ['topics', i] : ['topic'], message: `"${t}" is not a valid topic name` });
    });
    this.#groupId = config.group_id;
    this.#fromBeginning = config.from_beginning ?? false;
    this.#deadLetterTopic = config.dead_letter_topic;
    if (this.#deadLetterTopic !== undefined && this.#topics.includes(this.#deadLetterTopic)) {
      ctx.report({ path: ['dead_letter_topic'], message: 'the dead-letter topic must not be a topic this source consumes' });
    }
    this.#ordered = config.ordered ?? true;
    this.#maxInFlight = config.max_in_flight ?? 16;
    this.#slotsFree = this.#maxInFlight;
    this.#retryInitialMs = durationOption(config.redelivery?.initial, '500ms', ['redelivery', 'initial'], ctx.report, 1);
    this.#retryMaxMs = durationOption(config.redelivery?.max, '30s', ['redelivery', 'max'], ctx.report, 1);
    this.#sessionTimeoutMs = durationOption(config.session_timeout, '6s', ['session_timeout'], ctx.report, 6_000);
    this.#keepHeaders = (config.headers ?? []).map((h) => h.toLowerCase());
  }

  async start(ctx: SourceContext): Promise<void> {
    if (this.#stopping) return;
    this.#ctx = ctx;
    this.#stopping = new AbortController();
    this.#kafka = createKafka(this.#options, this.#logger);
    this.#deadLetters = new DeadLetterWriter(this.#kafka, this.#deadLetterTopic, ctx.flow, this.#logger);
    this.#supervisor = this.#supervise();
  }

  ready(): boolean {
    return this.#joined && !this.#stopping?.signal.aborted && Date.now() - this.#lastSign < this.#livenessMs;
  }

  /** A member with no successful fetch or heartbeat for this long (a broker that went away) reports not ready. */
  get #livenessMs(): number {
    return Math.max(5_000, 2 * this.#heartbeatMs);
  }

  get #heartbeatMs(): number {
    return Math.max(500, Math.floor(this.#sessionTimeoutMs / 10));
  }

  async stop(): Promise<void> {
    const stopping = this.#stopping;
    if (!stopping || stopping.signal.aborted) return;
    stopping.abort();
    this.#joined = false;
    for (const wake of this.#slotWaiters.splice(0)) wake();
    for (const wake of this.#onStop) wake();
    await this.#supervisor;
    if (this.#deliveries.size > 0) await Promise.race([Promise.allSettled([...this.#deliveries]), sleep(STOP_GRACE_MS)]);
    const generation = this.#generation;
    if (generation) {
      await generation.commit();
      await this.#retire(generation);
    }
    await this.#deadLetters?.disconnect();
  }

  // -----------------------------------------------------------------------------------------------------------
  // Connecting, and reconnecting after a crash

  /** Connects a new consumer, retrying with bounded backoff until it runs or the source stops. */
  async #supervise(): Promise<void> {
    const signal = this.#stopping!.signal;
    for (let attempt = 1; !signal.aborted; attempt++) {
      const consumer = this.#kafka!.consumer({
        groupId: this.#groupId,
        sessionTimeout: this.#sessionTimeoutMs,
        heartbeatInterval: this.#heartbeatMs,
        allowAutoTopicCreation: false,
        maxWaitTimeInMs: 500,
      });
      const generation = new Generation(consumer, this.#logger, signal);
      const { GROUP_JOIN, CRASH, REBALANCING, STOP, FETCH, HEARTBEAT } = consumer.events;
      const alive = (): void => {
        if (!generation.closed) this.#lastSign = Date.now();
      };
      consumer.on(FETCH, alive);
      consumer.on(HEARTBEAT, alive);
      consumer.on(GROUP_JOIN, (event) => {
        if (generation.closed) return;
        const assigned = event.payload.memberAssignment;
        generation.keepAssigned(assigned);
        this.#joined = true;
        this.#lastSign = Date.now();
        this.#logger.info({ groupId: this.#groupId, assignment: assigned }, `Kafka source joined group "${this.#groupId}" on ${this.#topics.join(', ')}`);
      });
      consumer.on(REBALANCING, () => {
        if (!generation.closed) this.#joined = false;
      });
      consumer.on(STOP, () => {
        if (!generation.closed) this.#joined = false;
      });
      consumer.on(CRASH, (event) => {
        if (generation.closed) return;
        this.#joined = false;
        const { error, restart } = event.payload;
        if (restart) {
          this.#logger.warn({ groupId: this.#groupId, err: error }, `Kafka consumer failed (${error.message}); kafkajs restarts it`);
          return;
        }
        // kafkajs stopped this consumer for good: replace it.
        this.#logger.warn({ groupId: this.#groupId, err: error }, `Kafka consumer stopped (${error.message}); starting a new one`);
        void this.#retire(generation).then(() => {
          if (this.#generation === generation && !signal.aborted) this.#supervisor = this.#supervise();
        });
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: this.#topics, fromBeginning: this.#fromBeginning });
        if (signal.aborted) throw new Error('stopping');
        this.#generation = generation;
        generation.commitOnTimer();
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: this.#ordered ? Math.min(this.#maxInFlight, 64) : Math.min(this.#maxInFlight, 16),
          eachBatch: (payload) => (this.#ordered ? this.#tracked(this.#orderedBatch(generation, payload)) : this.#unorderedBatch(generation, payload)),
        });
        return;
      } catch (err) {
        await this.#retire(generation);
        if (signal.aborted) return;
        const wait = backoffMs(attempt, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS);
        const line = `cannot consume ${this.#topics.join(', ')} from Kafka at ${this.#where} (${(err as Error).message}); retrying in the background`;
        if (attempt === 1) this.#logger.warn({ groupId: this.#groupId, brokers: this.#where }, line);
        else this.#logger.debug({ groupId: this.#groupId, attempt, waitMs: wait }, line);
        await sleep(wait, signal);
      }
    }
  }

  /** Disconnects a consumer that is done (stopped, crashed, or never got going); its later settles commit nothing. */
  async #retire(generation: Generation): Promise<void> {
    if (generation.closed) return;
    generation.close();
    if (this.#generation === generation) this.#joined = false;
    await generation.consumer.disconnect().catch((err: unknown) => this.#logger.debug({ err }, 'kafka consumer did not disconnect cleanly'));
  }

  // -----------------------------------------------------------------------------------------------------------
  // Consuming

  /**
   * A partition's records in offset order, pipelined: the next record is handed to the flow as soon as the one
   * before it is issued (its sink write is on its way, DeliverOptions.onIssued) or settled, so their confirms are
   * awaited together; `max_in_flight` bounds them across partitions. When a record does not settle (a retryable
   * failure, the source stopping), no record behind it is taken any more, the rest of the window settles, and the
   * partition is fetched again from that record: it and everything behind it are delivered again, in order (the
   * ones that had settled meanwhile become duplicates). Commits never pass it meanwhile.
   */
  async #orderedBatch(generation: Generation, { batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const offsets = generation.offsetsOf(batch.topic, batch.partition);
    const window = new OrderedWindow();
    this.#onStop.add(window.stop);
    if (this.#stopped) window.stop();
    const beat = setInterval(() => void heartbeat().catch(() => {}), this.#heartbeatMs);
    try {
      for (const record of batch.messages) {
        if (window.broken || !isRunning() || isStale() || generation.closed || this.#stopped) break;
        if (this.#slotsFree > 0) this.#slotsFree--;
        else await this.#takeSlot(heartbeat);
        if (window.broken || generation.closed || this.#stopped) {
          this.#giveSlot();
          break;
        }
        const offset = BigInt(record.offset);
        offsets.begin(offset);
        const place = window.add(record);
        // A record given to the flow again goes alone: the flow then applies its own retries to it.
        const pipelined = this.#retries.size === 0 || !this.#retries.has(recordKey(batch.topic, batch.partition, record.offset));
        void this.#offer(batch.topic, batch.partition, record, pipelined ? window.pipelined : undefined).then((outcome) => {
          this.#giveSlot();
          // Once the batch is over, the partition is fetched again from its first record that did not settle.
          if (window.closed) return;
          window.settle(place, outcome);
          if (outcome === 'done') {
            offsets.settle(offset);
            generation.commitSoon();
          }
        });
        const issued = window.untilIssued(place);
        if (issued) await issued;
      }
      const settled = window.untilSettled();
      if (settled) await settled;
      // Stopping: what the flow settles within the grace is committed on the way out.
      if (window.unsettled > 0) await Promise.race([window.untilSettled(true), sleep(STOP_GRACE_MS)]);
      window.closed = true;
      const first = window.firstUnsettled();
      if (first === -1) {
        const last = window.records.at(-1);
        if (last) resolveOffset(last.offset);
        return;
      }
      // Not resolved from here, so kafkajs fetches this record again once the partition resumes.
      const held = window.records[first]!;
      if (first > 0) resolveOffset(window.records[first - 1]!.offset);
      offsets.rewind(BigInt(held.offset));
      if (window.outcomes[first] !== 'retry') return;
      const resume = pause();
      setTimeout(resume, this.#retryWait(batch.topic, batch.partition, held.offset)).unref();
    } finally {
      window.closed = true;
      this.#onStop.delete(window.stop);
      clearInterval(beat);
    }
  }

  /** Keeps an ordered batch among #deliveries until it ends, so that `stop` waits for it (its grace at most). */
  #tracked(batch: Promise<void>): Promise<void> {
    this.#deliveries.add(batch);
    return batch.finally(() => this.#deliveries.delete(batch));
  }

  async #unorderedBatch(generation: Generation, { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const offsets = generation.offsetsOf(batch.topic, batch.partition);
    const signal = this.#stopping!.signal;
    const tasks: Promise<boolean>[] = [];
    for (const record of batch.messages) {
      if (!isRunning() || isStale() || generation.closed || signal.aborted) break;
      await this.#takeSlot(heartbeat);
      if (generation.closed || signal.aborted) {
        this.#giveSlot();
        break;
      }
      const offset = BigInt(record.offset);
      offsets.begin(offset);
      tasks.push(
        (async () => {
          try {
            // A retryable failure holds this record (not committed) and tries it again after a bounded backoff.
            for (;;) {
              const outcome = await this.#handle(batch.topic, batch.partition, record);
              if (outcome === 'done') break;
              if (outcome === 'stopped') return false;
              await sleep(this.#retryWait(batch.topic, batch.partition, record.offset), signal);
              if (signal.aborted || generation.closed) return false;
            }
            offsets.settle(offset);
            generation.commitSoon();
            return true;
          } finally {
            this.#giveSlot();
          }
        })(),
      );
    }
    const beat = setInterval(() => void heartbeat().catch(() => {}), 1_000);
    try {
      const all = Promise.all(tasks);
      const stopped = whenAborted(signal);
      const outcome = await Promise.race([all, stopped.promise]).finally(stopped.dispose);
      if (outcome === 'stopped' || outcome.some((done) => !done)) return;
      const last = batch.messages[tasks.length - 1];
      if (last) resolveOffset(last.offset);
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Hands one record to the flow and resolves with how that ended; never rejects. A refused record goes to the
   * dead-letter topic; one refused before whose dead-lettering failed goes there straight away.
   */
  #offer(topic: string, partition: number, record: KafkaMessage, options?: DeliverOptions): Promise<Outcome> {
    // Most records were never refused nor retried: no key, no lookups then.
    const key = this.#dead.size === 0 && this.#retries.size === 0 ? undefined : recordKey(topic, partition, record.offset);
    const refused = key === undefined ? undefined : this.#dead.get(key);
    if (refused) return this.#deadLetterHeld(topic, partition, record, refused);
    const retry = key === undefined ? undefined : this.#retries.get(key);
    const message = this.#toMessage(topic, partition, record, retry?.id ?? newId(), retry?.attempt ?? 1);
    return this.#ctx!.deliver(message, options).then(
      () => {
        if (retry) this.#retries.delete(key!);
        return 'done' as const;
      },
      (err: unknown) => this.#notTaken(topic, partition, record, message.id, retry?.attempt ?? 1, err),
    );
  }

  /** The flow did not take a record: retried after a backoff, or (refused) written to the dead-letter topic. */
  #notTaken(topic: string, partition: number, record: KafkaMessage, messageId: string, attempt: number, err: unknown): Promise<Outcome> | Outcome {
    const key = recordKey(topic, partition, record.offset);
    const e = toHubError(err);
    if (e.retryable) {
      this.#retries.set(key, { id: messageId, attempt: attempt + 1 });
      const level = attempt === 1 ? 'warn' : 'info';
      this.#logger[level]({ messageId, topic, partition, offset: record.offset, code: e.code, attempt: attempt + 1 }, `the flow could not take the record at ${key} yet (${e.code}); it is delivered again after a backoff`);
      return this.#stopped ? 'stopped' : 'retry';
    }
    this.#retries.delete(key);
    this.#dead.set(key, e);
    this.#deadIds.set(key, messageId);
    return this.#deadLetterHeld(topic, partition, record, e);
  }

  /** Writes a refused record to the dead-letter topic; held (tried again later) while that fails. */
  async #deadLetterHeld(topic: string, partition: number, record: KafkaMessage, refused: HubError): Promise<Outcome> {
    const key = recordKey(topic, partition, record.offset);
    try {
      await this.#deadLetters!.write(topic, partition, record, refused, this.#deadIds.get(key));
      this.#dead.delete(key);
      this.#deadIds.delete(key);
      return 'done';
    } catch (err) {
      this.#logger.error({ topic, partition, offset: record.offset, code: refused.code, err }, `cannot write the refused record at ${key} to its dead-letter topic (${(err as Error).message}); it is held and tried again`);
      return this.#stopped ? 'stopped' : 'retry';
    }
  }

  /**
   * #offer for records delivered each on its own (unordered): resolves 'stopped' when the source stops first, after
   * a short wait for the flow, so a message it settles meanwhile is committed on the way out.
   */
  async #handle(topic: string, partition: number, record: KafkaMessage): Promise<Outcome> {
    const offered = this.#offer(topic, partition, record);
    this.#deliveries.add(offered);
    let wake: () => void = () => {};
    const stopped = new Promise<'stopped'>((resolve) => (wake = () => resolve('stopped')));
    if (this.#stopped) wake();
    else this.#onStop.add(wake);
    try {
      const outcome = await Promise.race([offered, stopped]);
      if (outcome !== 'stopped' || !this.#stopped) return outcome;
      const late = await Promise.race([offered, sleep(STOP_GRACE_MS).then(() => 'stopped' as const)]);
      return late === 'done' ? 'done' : 'stopped';
    } finally {
      this.#onStop.delete(wake);
      this.#deliveries.delete(offered);
    }
  }

  /** `kafka:<topic>`, made once per topic. */
  #sourceOf(topic: string): string {
    let label = this.#sources.get(topic);
    if (label === undefined) this.#sources.set(topic, (label = `kafka:${topic}`));
    return label;
  }

  #toMessage(topic: string, partition: number, record: KafkaMessage, id: string, attempt: number): Message {
    const raw = textHeaders(record.headers ?? {});
    // textHeaders made the names lower case and the values text already.
    const headers = propagated(raw, id);
    headers['content-type'] = raw['content-type'] || 'application/json';
    for (const name of this.#keepHeaders) if (raw[name] !== undefined) headers[name] = raw[name];
    const upstream = upstreamId(raw);
    const timestamp = Number(record.timestamp);
    const meta: MessageMeta = {
      flow: this.#ctx!.flow,
      source: this.#sourceOf(topic),
      receivedAt: isoNow(),
      // The flow's attempt is its own (durable retries count it); how often the source gave this record to the
      // flow before is a fact of the transport.
      attempt: 1,
      topic,
      partition,
      offset: record.offset,
      key: record.key === null ? null : record.key.toString('utf8'),
      timestamp: Number.isFinite(timestamp) && timestamp >= 0 && timestamp <= MAX_DATE_MS ? isoAt(timestamp) : null,
    };
    // Assigned, not spread in: this runs for every record.
    if (attempt > 1) meta.deliveries = attempt;
    if (upstream) meta.upstreamId = upstream;
    return new Message({ id, body: record.value ?? Buffer.alloc(0), headers, owned: true, meta });
  }

  // -----------------------------------------------------------------------------------------------------------
  // Bounds

  get #stopped(): boolean {
    return this.#stopping?.signal.aborted ?? true;
  }

  #retryWait(topic: string, partition: number, offset: string): number {
    const attempt = this.#retries.get(recordKey(topic, partition, offset))?.attempt ?? 2;
    return backoffMs(attempt - 1, this.#retryInitialMs, this.#retryMaxMs);
  }

  /** Waits for a free place among `max_in_flight` (the flow is saturated while none is free). */
  async #takeSlot(heartbeat: () => Promise<void>): Promise<void> {
    while (this.#slotsFree === 0 && !this.#stopped) {
      let wake: () => void = () => {};
      const woken = new Promise<void>((resolve) => this.#slotWaiters.push((wake = resolve)));
      await Promise.race([woken, sleep(1_000)]);
      const stale = this.#slotWaiters.indexOf(wake);
      if (stale !== -1) {
        this.#slotWaiters.splice(stale, 1);
        await heartbeat().catch(() => {});
      }
    }
    this.#slotsFree--;
  }

  #giveSlot(): void {
    this.#slotsFree++;
    this.#slotWaiters.shift()?.();
  }
}

/** A promise of 'stopped' once the signal aborts, and a way to drop the listener when it no longer matters. */
function whenAborted(signal: AbortSignal): { promise: Promise<'stopped'>; dispose: () => void } {
  let dispose = (): void => {};
  const promise = new Promise<'stopped'>((resolve) => {
    if (signal.aborted) return resolve('stopped');
    const on = (): void => resolve('stopped');
    signal.addEventListener('abort', on, { once: true });
    dispose = () => signal.removeEventListener('abort', on);
  });
  return { promise, dispose };
}

/** The key of a record in #retries, #dead and #deadIds. */
function recordKey(topic: string, partition: number, offset: string): string {
  return `${topic}/${partition}/${offset}`;
}

export const sourceFactory: SourceFactory<KafkaSourceConfig> = {
  schema: sourceSchema,
  create: (config, ctx) => new KafkaSource(config, ctx),
};
