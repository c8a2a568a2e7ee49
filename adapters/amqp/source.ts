/**
 * The AMQP source: consumes one queue and hands each delivery to the flow, acking it only once the flow settled it.
 *
 * Settling (see README.md, "Delivery guarantees"):
 * - `deliver` resolved: basic.ack, coalesced (acks.ts): once per tick the source acks with `multiple=true` up to the
 *   highest delivery tag below which every delivery settled successfully; a delivery that settled behind one still
 *   in the flow is acked alone after at most ACK_HOLD_MS. The due acks are flushed before the channel is closed.
 * - permanent error: the message is published (with confirms) to the dead-letter exchange with the reason in its
 *   headers, then acked; if that publish fails, basic.nack without requeue lets the broker dead-letter it itself
 *   (the queue carries x-dead-letter-exchange), with x-death saying why.
 * - retryable error: the message is published (with confirms) to the retry queue, where it waits `retry.delay` (the
 *   queue's TTL) before the broker moves it back to the source queue; then acked. The messages behind it pass in
 *   the meantime, and a prefetch slot is never held for the wait. After `retry.max_retries` it is dead-lettered.
 * - the hub is stopping: the consumer is cancelled and the delivery nacked with requeue, for another consumer.
 * - the channel died before any of this: nothing to do, the broker redelivers (a late ack is caught, never thrown).
 */
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { isoNow } from '../../src/core/clock.js';
import { newId } from '../../src/core/id.js';
import type { AdapterContext, Source, SourceContext, SourceFactory } from '../../src/core/contracts.js';
import { toHubError, type ConfigIssue, type HubError } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import { inboundHeaders, MESSAGE_ID_HEADER } from '../../src/kit/propagation.js';
import { DEFAULTS, sourceSchema, type AmqpSourceConfig } from './config.js';
import { ChannelAcks } from './acks.js';
import { acquireConnection, type ConnectionLease, type ConnectionSettings, type ManagedChannel } from './connection.js';
import { publishConfirmed } from './publish.js';
import { connectionSettings } from './settings.js';
import { declareTopology, sourcePlan, type SourcePlan } from './topology.js';

/** Headers the source writes on messages it moves to the retry queue or the dead-letter exchange. */
export const FAILURE_HEADERS = {
  code: 'x-error-code',
  message: 'x-error-message',
  step: 'x-error-step',
  flow: 'x-flow',
  hubMessageId: 'x-hub-message-id',
  retries: 'x-retry-count',
  originalExchange: 'x-original-exchange',
  originalRoutingKey: 'x-original-routing-key',
  originalQueue: 'x-original-queue',
  failedAt: 'x-failed-at',
} as const;

export interface AmqpSourceOptions {
  /** How long `stop` lets deliveries in flight finish before it closes the channel (they go back to the queue). */
  stopGraceMs?: number;
}

type AnyChannel = ConfirmChannel | Channel;

/**
 * Longest a delivery that settled successfully waits for its ack behind a lower one still in the flow (to be acked
 * with it by one `multiple` ack) before it is acked alone.
 */
export const ACK_HOLD_MS = 20;

function noop(): void {}

/** Requeues of a message the journal cannot take before it goes through the retry queue (quorum delivery limits). */
const REQUEUES_BEFORE_RETRY_QUEUE = 10;

export class AmqpSource implements Source {
  readonly #plan: SourcePlan;
  readonly #settings: ConnectionSettings;
  readonly #prefetch: number;
  readonly #contentType: string;
  readonly #keepHeaders: string[];
  readonly #stopGraceMs: number;
  /** Deliveries the flow has not settled yet, and who waits for there to be none (stop). */
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #ctx: SourceContext | undefined;
  #lease: ConnectionLease | undefined;
  #channel: ManagedChannel | undefined;
  #consumer: { ch: AnyChannel; tag: string } | undefined;
  /** The coalesced acks of each channel deliveries came on (one at a time, but a late settle may meet an old one). */
  readonly #acks = new Map<AnyChannel, ChannelAcks<ConsumeMessage>>();
  #stopping = false;

  constructor(config: AmqpSourceConfig, ctx: AdapterContext, options: AmqpSourceOptions = {}) {
    const report = (issue: ConfigIssue): void => ctx.report(issue);
    this.#settings = connectionSettings(config, 'consume', report);
    this.#plan = sourcePlan(config, report);
    this.#prefetch = config.prefetch ?? DEFAULTS.prefetch;
    this.#contentType = config.content_type ?? DEFAULTS.contentType;
    this.#keepHeaders = (config.headers ?? []).map((h) => h.toLowerCase());
    this.#stopGraceMs = options.stopGraceMs ?? 5_000;
  }

  get queue(): string {
    return this.#plan.queue;
  }

  async start(ctx: SourceContext): Promise<void> {
    if (this.#lease) return;
    this.#ctx = ctx;
    this.#lease = acquireConnection(this.#settings, ctx.flow, ctx.logger);
    this.#channel = this.#lease.connection.channel({
      confirm: true,
      label: `AMQP source on queue "${this.#plan.queue}"`,
      logger: ctx.logger,
      setup: (ch) => this.#setup(ch),
      onLost: () => {
        this.#consumer = undefined;
      },
    });
  }

  ready(): boolean {
    return !this.#stopping && this.#consumer !== undefined && this.#channel?.current === this.#consumer.ch;
  }

  async stop(): Promise<void> {
    if (this.#stopping && !this.#lease) return;
    this.#stopping = true;
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (consumer) await consumer.ch.cancel(consumer.tag).catch(noop);
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (this.#idle = resolve)), new Promise((resolve) => (timer = setTimeout(resolve, this.#stopGraceMs)))]);
      clearTimeout(timer);
      this.#idle = undefined;
      if (this.#inFlight > 0) this.#ctx?.logger.warn({ unsettled: this.#inFlight }, `AMQP source on queue "${this.#plan.queue}": ${this.#inFlight} deliveries still in the flow; closing the channel gives them back to the queue`);
    }
    // Send the acks still due before the channel closes; what is unsettled goes back to the queue with the close.
    for (const acks of this.#acks.values()) {
      acks.flush(true);
      acks.dispose();
    }
    this.#acks.clear();
    const channel = this.#channel;
    const lease = this.#lease;
    this.#channel = undefined;
    this.#lease = undefined;
    await channel?.close();
    await lease?.release();
  }

  async #setup(ch: AnyChannel): Promise<void> {
    await declareTopology(ch, this.#plan.topology);
    if (this.#stopping) return;
    await ch.prefetch(this.#prefetch);
    this.#acksFor(ch);
    const ok = await ch.consume(this.#plan.queue, (msg) => this.#onDelivery(ch, msg), { noAck: false });
    this.#consumer = { ch, tag: ok.consumerTag };
    this.#ctx?.logger.info({ queue: this.#plan.queue, prefetch: this.#prefetch }, `AMQP source consuming queue "${this.#plan.queue}"`);
  }

  #onDelivery(ch: AnyChannel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // basic.cancel from the broker: the queue was deleted (or a quorum queue lost its leader). A new channel
      // declares the queue again and consumes it.
      if (this.#consumer?.ch === ch) this.#consumer = undefined;
      if (!this.#stopping) this.#channel?.recycle(`the broker cancelled the consumer of queue "${this.#plan.queue}" (deleted?)`);
      return;
    }
    this.#acksFor(ch).track(msg);
    this.#inFlight++;
    this.#handle(ch, msg).then(this.#left, (err: unknown) => {
      this.#ctx?.logger.error({ err }, `AMQP source on queue "${this.#plan.queue}": settling a delivery failed; the broker redelivers it`);
      this.#left();
    });
  }

  readonly #left = (): void => {
    if (--this.#inFlight === 0) this.#idle?.();
  };

  async #handle(ch: AnyChannel, msg: ConsumeMessage): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx) return;
    const message = this.#toMessage(msg, ctx.flow);
    try {
      await ctx.deliver(message);
    } catch (err) {
      await this.#settleFailure(ch, msg, message, toHubError(err));
      // Settled with its own frame (or its channel is gone): it no longer holds back the coalesced acks. Should
      // #settleFailure throw, it stays open, so that no multiple ack covers it before the channel closes.
      this.#acks.get(ch)?.release(msg);
      return;
    }
    this.#acks.get(ch)?.settled(msg);
  }

  /** The ack tracker of a channel, made on first use; dropped when the channel closes (the broker redelivers). */
  #acksFor(ch: AnyChannel): ChannelAcks<ConsumeMessage> {
    let acks = this.#acks.get(ch);
    if (acks) return acks;
    acks = new ChannelAcks<ConsumeMessage>(ch, {
      // With prefetch 1 (or 2) every ack leaves at once, as without coalescing.
      threshold: Math.ceil(this.#prefetch / 2),
      holdMs: ACK_HOLD_MS,
      onDead: () => this.#ctx?.logger.debug(`AMQP source on queue "${this.#plan.queue}": the channel closed before the acks were sent; the broker redelivers those messages`),
    });
    const tracker = acks;
    this.#acks.set(ch, tracker);
    ch.once('close', () => {
      tracker.dispose();
      if (this.#acks.get(ch) === tracker) this.#acks.delete(ch);
    });
    return tracker;
  }

  #toMessage(msg: ConsumeMessage, flow: string): Message {
    const props = msg.properties;
    const amqpHeaders: Record<string, unknown> = props.headers ?? {};
    const id = newId();
    const headers = inboundHeaders(amqpHeaders, id);
    if (headers['correlation-id'] === id && typeof props.correlationId === 'string' && props.correlationId !== '') headers['correlation-id'] = props.correlationId;
    headers['content-type'] = typeof props.contentType === 'string' && props.contentType !== '' ? props.contentType : typeof amqpHeaders['content-type'] === 'string' ? amqpHeaders['content-type'] : this.#contentType;
    for (const name of this.#keepHeaders) {
      const v = amqpHeaders[name] ?? Object.entries(amqpHeaders).find(([k]) => k.toLowerCase() === name)?.[1];
      if (v !== undefined && v !== null) headers[name] = headerText(v);
    }
    const upstream = amqpHeaders[MESSAGE_ID_HEADER] ?? props.messageId;
    return new Message({
      id,
      body: msg.content,
      headers,
      owned: true,
      meta: {
        flow,
        source: `amqp:${this.#plan.queue}`,
        receivedAt: isoNow(),
        attempt: 1,
        queue: this.#plan.queue,
        exchange: stringHeader(amqpHeaders[FAILURE_HEADERS.originalExchange]) ?? msg.fields.exchange,
        routingKey: stringHeader(amqpHeaders[FAILURE_HEADERS.originalRoutingKey]) ?? msg.fields.routingKey,
        redelivered: msg.fields.redelivered,
        retries: retryCount(msg),
        ...(upstream === undefined || upstream === null || upstream === '' ? {} : { upstreamId: headerText(upstream) }),
      },
    });
  }

  async #settleFailure(ch: AnyChannel, msg: ConsumeMessage, message: Message, err: HubError): Promise<void> {
    const logger = this.#ctx!.logger;
    if (!err.retryable) {
      await this.#deadLetter(ch, msg, message, err, 'rejected by the flow');
      return;
    }
    if (err.code === 'FLOW_STOPPING') {
      // Give it back for another consumer; cancel first so that the broker does not hand it straight back to us.
      const consumer = this.#consumer;
      if (consumer && consumer.ch === ch) {
        this.#stopping = true;
        this.#consumer = undefined;
        await ch.cancel(consumer.tag).catch(noop);
      }
      this.#nack(ch, msg, true);
      return;
    }
    // Quorum queues count deliveries (x-delivery-count) and RabbitMQ 4 dead-letters or drops a message past their
    // delivery limit (20 by default): before that, it goes through the retry queue instead, which resets nothing but
    // is a new message to the queue.
    const deliveries = Number(msg.properties.headers?.['x-delivery-count'] ?? 0);
    if (err.code === 'JOURNAL_UNAVAILABLE' && deliveries < REQUEUES_BEFORE_RETRY_QUEUE) {
      // The journal could not park it: not acknowledged at all while the journal is away. Held for the retry delay
      // (so it never loops hot, and the prefetch window slows the consumer), then given back to the queue.
      logger.warn({ messageId: message.id, delayMs: this.#plan.retry.delayMs }, `AMQP source: the journal cannot take the message now; it is not acknowledged and goes back to queue "${this.#plan.queue}" in ${this.#plan.retry.delayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.#plan.retry.delayMs, 60_000)));
      this.#nack(ch, msg, true);
      return;
    }
    const retries = retryCount(msg);
    const max = this.#plan.retry.maxRetries;
    if (max !== undefined && retries >= max) {
      await this.#deadLetter(ch, msg, message, err, `still failing after ${retries} retries`);
      return;
    }
    const outcome = await publishConfirmed(ch as ConfirmChannel, '', this.#plan.retry.queue, msg.content, {
      ...republishProperties(msg),
      mandatory: true,
      headers: this.#failureHeaders(msg, message, err, { [FAILURE_HEADERS.retries]: retries + 1 }),
    });
    if (outcome.ok) {
      this.#ack(ch, msg);
      logger.info({ messageId: message.id, code: err.code, retries: retries + 1, delayMs: this.#plan.retry.delayMs }, `AMQP source: message retried in ${this.#plan.retry.delayMs} ms through queue "${this.#plan.retry.queue}" (${err.code})`);
    } else if (outcome.reason !== 'closed') {
      // The retry queue is missing or refused it: wait the delay here, then requeue, so it never loops hot.
      logger.error({ messageId: message.id, reason: outcome.reason }, `AMQP source: retry queue "${this.#plan.retry.queue}" did not take the message (${outcome.reason}); requeueing it after ${this.#plan.retry.delayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.#plan.retry.delayMs, 60_000)));
      this.#nack(ch, msg, true);
    }
    // 'closed': the channel is gone with the delivery; the broker redelivers it.
  }

  async #deadLetter(ch: AnyChannel, msg: ConsumeMessage, message: Message, err: HubError, why: string): Promise<void> {
    const logger = this.#ctx!.logger;
    const dl = this.#plan.deadLetter;
    const facts = { messageId: message.id, code: err.code, step: err.step, upstreamId: message.meta.upstreamId };
    if (!dl) {
      logger.error(facts, `AMQP source: message ${why} (${err.code}: ${err.message}); no dead_letter is configured, so the broker drops it`);
      this.#nack(ch, msg, false);
      return;
    }
    const outcome = await publishConfirmed(ch as ConfirmChannel, dl.exchange, dl.routingKey, msg.content, {
      ...republishProperties(msg),
      mandatory: true,
      headers: this.#failureHeaders(msg, message, err, { [FAILURE_HEADERS.retries]: retryCount(msg) }),
    });
    if (outcome.ok) {
      this.#ack(ch, msg);
      logger.warn(facts, `AMQP source: message ${why} (${err.code}: ${err.message}); dead-lettered to exchange "${dl.exchange}"`);
    } else if (outcome.reason !== 'closed') {
      // Let the broker dead-letter it through the queue's x-dead-letter-exchange (x-death says why, not our reason).
      logger.error({ ...facts, reason: outcome.reason }, `AMQP source: message ${why} (${err.code}); publishing it to dead-letter exchange "${dl.exchange}" failed (${outcome.reason}), so it is rejected for the broker to dead-letter`);
      this.#nack(ch, msg, false);
    }
  }

  #failureHeaders(msg: ConsumeMessage, message: Message, err: HubError, extra: Record<string, string | number>): Record<string, unknown> {
    // The broker's own delivery bookkeeping stays behind: the republished message is a new one to the queue.
    const { 'x-delivery-count': _count, 'x-death': _death, 'x-first-death-exchange': _fe, 'x-first-death-queue': _fq, 'x-first-death-reason': _fr, ...original } = (msg.properties.headers ?? {}) as Record<string, unknown>;
    return {
      ...original,
      [FAILURE_HEADERS.code]: err.code,
      [FAILURE_HEADERS.message]: err.message.length > 1000 ? `${err.message.slice(0, 997)}...` : err.message,
      ...(err.step ? { [FAILURE_HEADERS.step]: err.step } : {}),
      [FAILURE_HEADERS.flow]: this.#ctx!.flow,
      [FAILURE_HEADERS.hubMessageId]: message.id,
      [FAILURE_HEADERS.originalExchange]: stringHeader(original[FAILURE_HEADERS.originalExchange]) ?? msg.fields.exchange,
      [FAILURE_HEADERS.originalRoutingKey]: stringHeader(original[FAILURE_HEADERS.originalRoutingKey]) ?? msg.fields.routingKey,
      [FAILURE_HEADERS.originalQueue]: this.#plan.queue,
      [FAILURE_HEADERS.failedAt]: new Date().toISOString(),
      ...extra,
    };
  }

  /**
   * Acks alone (never `multiple`), on the channel the delivery came on, a delivery that settled by failure; if that
   * channel is gone the broker redelivers, so nothing is thrown.
   */
  #ack(ch: AnyChannel, msg: ConsumeMessage): void {
    try {
      ch.ack(msg);
    } catch {
      this.#ctx?.logger.debug({ deliveryTag: msg.fields.deliveryTag }, 'AMQP source: the channel closed before the ack; the broker redelivers the message');
    }
  }

  #nack(ch: AnyChannel, msg: ConsumeMessage, requeue: boolean): void {
    try {
      ch.nack(msg, false, requeue);
    } catch {
      this.#ctx?.logger.debug({ deliveryTag: msg.fields.deliveryTag }, 'AMQP source: the channel closed before the nack; the broker redelivers the message');
    }
  }
}

/**
 * The properties a message keeps when the source moves it: all but a per-message TTL (it would expire in the retry
 * queue) and user-id (the broker refuses one that is not the publishing connection's user); always persistent.
 */
function republishProperties(msg: ConsumeMessage): Options.Publish {
  const p = msg.properties;
  const out: Options.Publish = { persistent: true };
  if (p.contentType) out.contentType = p.contentType as string;
  if (p.contentEncoding) out.contentEncoding = p.contentEncoding as string;
  if (p.correlationId) out.correlationId = p.correlationId as string;
  if (p.replyTo) out.replyTo = p.replyTo as string;
  if (p.messageId) out.messageId = p.messageId as string;
  if (p.timestamp) out.timestamp = p.timestamp as number;
  if (p.type) out.type = p.type as string;
  if (p.appId) out.appId = p.appId as string;
  if (p.priority !== undefined) out.priority = p.priority as number;
  return out;
}

function retryCount(msg: ConsumeMessage): number {
  const n = Number(msg.properties.headers?.[FAILURE_HEADERS.retries] ?? 0);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function stringHeader(v: unknown): string | undefined {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

function headerText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export const sourceFactory: SourceFactory<AmqpSourceConfig> = {
  schema: sourceSchema,
  create: (config, ctx) => new AmqpSource(config, ctx),
};
