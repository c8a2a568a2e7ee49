import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { Sink } from '../core/contracts.js';
import { isoNow } from '../core/clock.js';
import { hubError, toHubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { SinkCallRecord } from '../journal/contract.js';
import { storeBody } from '../journal/shared.js';
import type { MessageTrail } from '../journal/trail.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { MessageContext, Sender } from './message-context.js';
import type { FlowMetrics } from './metrics.js';
import { retryAfter } from './retry.js';
import { SinkHealth } from './sink-health.js';
import { egressHeaders, failSpan, type FlowTracing } from './tracing.js';

/**
 * A flow's calls of its sinks: each send under the flow's in-process retry policy, through the sink's circuit breaker
 * when the hub owns one (service.resilience.circuit_breaker), each try with its span and metrics. A send rejects
 * with the last try's HubError; what becomes of the message then (parked, handed back) is the runner's (parking.ts).
 *
 * One per runner, on the message path of every send: the common case (a first try that succeeds) makes no closure
 * of the retry loop's and no async frame; the retries are set up only from a failure's handler.
 */
export class SinkCalls {
  readonly #def: FlowDefinition;
  readonly #metrics: FlowMetrics | undefined;
  readonly #tracing: FlowTracing;
  readonly #breakers = new Map<string, CircuitBreaker>();
  /** Each sink's health from its calls (the admin's Flows page). */
  readonly health = new SinkHealth();
  /** Under the `all` policy each try of a sink call is noted on the message's trail, with the sink's reply. */
  readonly #recordCalls: boolean;

  /** How a message's context sends (MessageContext.send): through `send`, with the flow's retry policy. */
  readonly sender: Sender = (sink, message, ctx) => this.send(sink, message, ctx);
  /** How the steps before a replay's resume point send: one-way sinks already have the message. */
  readonly replaySender: Sender = (sink, message, ctx) => (this.#def.sinks.get(sink)?.requestReply ? this.send(sink, message, ctx) : Promise.resolve(undefined));

  constructor(def: FlowDefinition, logger: Logger, tracing: FlowTracing, metrics: FlowMetrics | undefined) {
    this.#def = def;
    this.#tracing = tracing;
    this.#metrics = metrics;
    this.#recordCalls = def.journal.record === 'all';
    for (const hop of def.service?.hops ?? []) {
      if (hop.kind !== 'sink' || !hop.hubBreaker) continue;
      const sink = hop.name;
      this.#breakers.set(sink, new CircuitBreaker(sink, hop.hubBreaker, { onChange: (state, failures) => logger.warn({ sink, state, failures }, `circuit of sink "${sink}" is ${state}`) }));
    }
  }

  /**
   * Sends to a sink of the flow with the flow's retry policy; `ctx` is the message's (its sink calls' SendContext).
   * The first try goes without the retry loop: most sends succeed at once, and the loop's closures would live as
   * long as the send.
   */
  send(sinkName: string, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    const sink = this.#def.sinks.get(sinkName);
    if (!sink) return Promise.reject(hubError('INTERNAL', `flow has no sink named "${sinkName}"`));
    const retries = this.#def.retry.attempts > 1;
    const breaker = this.#breakers.get(sinkName);
    // Without a breaker, the first call's own failure handler goes on to the retries: no `then` of its own for them.
    if (!breaker) return this.#call(sinkName, sink.instance, message, ctx, retries);
    return this.#sendThrough(breaker, retries, sinkName, sink.instance, message, ctx);
  }

  /** `send` through the sink's circuit breaker, which sees each try on its own. */
  #sendThrough(breaker: CircuitBreaker, retries: boolean, sinkName: string, sink: Sink, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    const first = this.#callOnce(breaker, sinkName, sink, message, ctx);
    return retries ? first.then(undefined, (err: unknown) => this.#retrySend(err, sinkName, sink, message, ctx)) : first;
  }

  #retrySend(failure: unknown, sinkName: string, sink: Sink, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    const lane = ctx.lane;
    const breaker = this.#breakers.get(sinkName);
    return retryAfter(
      failure,
      this.#def.retry,
      ctx,
      (attempt) => this.#callOnce(breaker, sinkName, sink, message.with({ meta: { attempt } }), ctx),
      (err, attempt, wait) => {
        this.#metrics?.sinkRetries.inc();
        ctx.logger.info({ sink: sinkName, code: err.code, attempt, waitMs: wait }, `sink "${sinkName}" failed (${err.message}); retrying`);
      },
      // Once a pipelined write is out, messages behind it may be written too: retrying it here would pass them.
      lane ? () => lane.issued : undefined,
    );
  }

  /** One try of a send, through the sink's circuit breaker when it has one. */
  #callOnce(breaker: CircuitBreaker | undefined, sinkName: string, sink: Sink, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    return breaker ? breaker.call(() => this.#call(sinkName, sink, message, ctx, false)) : this.#call(sinkName, sink, message, ctx, false);
  }

  /**
   * One call of a sink (one attempt): its span, whose context the message carries to the next hop, and its metrics.
   * Rejects with a HubError; or, with `retry` (a first call that no breaker watches), goes on to the retries.
   */
  #call(sinkName: string, sink: Sink, message: Message, ctx: MessageContext, retry: boolean): Promise<Message | undefined> {
    const span = this.#tracing.sink(sinkName, message.meta.attempt ?? 1);
    const metrics = this.#metrics?.sinks.get(sinkName);
    const clock = performance.now();
    let sent: Promise<Message | undefined>;
    try {
      sent = sink.send(span ? message.with({ headers: egressHeaders(message.headers, span) }) : message, ctx);
    } catch (err) {
      sent = Promise.reject(err);
    }
    if (this.#recordCalls && ctx.trail) sent = this.#noted(sent, sinkName, message, ctx.trail);
    return sent.then(
      (reply) => {
        metrics?.ok.inc();
        this.health.ok(sinkName);
        span?.end();
        metrics?.duration.observe((performance.now() - clock) / 1000);
        return reply;
      },
      (err: unknown) => {
        const e = toHubError(err);
        metrics?.failed(e.code).inc();
        this.health.failed(sinkName, e);
        if (span) {
          failSpan(span, e);
          span.end();
        }
        metrics?.duration.observe((performance.now() - clock) / 1000);
        if (retry) return this.#retrySend(e, sinkName, sink, message, ctx);
        throw e;
      },
    );
  }

  /** The try's `sink` event on the trail, with the reply (stored as a body is) or the error; `sent` as it settles. */
  #noted(sent: Promise<Message | undefined>, sink: string, message: Message, trail: MessageTrail): Promise<Message | undefined> {
    const attempt = message.meta.attempt ?? 1;
    const note = (call: SinkCallRecord): void => trail.note({ type: 'sink', at: isoNow(), step: `sink:${sink}`, call });
    return sent.then(
      (reply) => {
        if (!reply) note({ sink, try: attempt });
        else {
          const body = storeBody(reply.body, this.#def.journal.maxBodyBytes);
          const status = reply.meta.downstreamStatus;
          note({ sink, try: attempt, reply: { ...(typeof status === 'number' ? { status } : {}), headers: { ...reply.headers }, body: body.data, encoding: body.encoding, truncated: body.truncated } });
        }
        return reply;
      },
      (err: unknown) => {
        const e = toHubError(err);
        note({ sink, try: attempt, failure: { code: e.code, message: e.message } });
        throw e;
      },
    );
  }
}
