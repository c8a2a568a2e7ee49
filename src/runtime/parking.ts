import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { FlowResult } from '../core/contracts.js';
import { isoNow as now } from '../core/clock.js';
import { hubError, toHubError, type HubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Journal, RetryClaim } from '../journal/contract.js';
import { JournalError } from '../journal/errors.js';
import { MessageTrail } from '../journal/trail.js';
import { Cancellation } from './cancellation.js';
import type { DedupeKeys } from './dedupe-keys.js';
import type { FlowControl } from './flow-control.js';
import type { FlowMeter, FlowStats } from './flow-meter.js';
import { CALLER_ANSWERED, type Refusals } from './refusals.js';
import { durableDueAt, errorInfo, journalUnavailable, messageFromRecord, recordOutcome, trailSubject } from './journal.js';
import { ALWAYS_NEW, MessageContext, type Handling } from './message-context.js';
import type { FlowMetrics } from './metrics.js';
import type { SinkCalls } from './sink-calls.js';
import { failSpan, type FlowTracing } from './tracing.js';

/** Failures that are the hub's condition, not the message's: never parked; the source keeps the message. */
const NOT_PARKED = new Set(['FLOW_STOPPING', 'FLOW_OVERLOADED', 'JOURNAL_UNAVAILABLE']);

/**
 * A durable retry whose record has one of these is finished: its outcome was written before a crash kept the claim
 * from being completed, or an operator replayed or resolved it. Any other status (`failed`: a run's failure was
 * written, then the process died before it parked the message again) still needs the retry.
 */
const FINISHED: ReadonlySet<string> = new Set(['delivered', 'dead', 'resolved', 'archived']);

/** How much later a durable retry of a paused flow is due again (each postponement is a waiting-for-retry event in its timeline). */
const PAUSED_RETRY_MS = 30_000;

/** What a durable retry needs of the runner that owns the parking, which keeps the flow's limits and its count in flight. */
export interface RetryRuns {
  /** True once the runner stops: a retry that comes due then goes back to the journal. */
  stopping(): boolean;
  /** One more message in flight, until `leave`. */
  enter(): void;
  /** Runs the message's steps from the first, under the flow's bulkhead and timeout, within `span`. */
  run(message: Message, trail: MessageTrail, span: Span | undefined): Promise<Message[]>;
  leave(): void;
}

/** The runner's parts and counts that parking uses, each the runner's own instance. */
export interface ParkingParts {
  stats: FlowStats;
  meter: FlowMeter;
  metrics: FlowMetrics | undefined;
  tracing: FlowTracing;
  sinks: SinkCalls;
  control: FlowControl;
  keys: DedupeKeys;
  runs: RetryRuns;
  /** How much later a durable retry that comes due while the flow is paused is due again (default 30 s). */
  pausedRetryMs?: number;
  refusals: Refusals;
}

/**
 * What becomes of a flow's message that was not delivered: handed back to its source or caller (which keeps it, or
 * gets the error), or parked in the journal, waiting for a durable retry (the error is retryable and retries are
 * left) or dead (and sent to the flow's dead-letter sink, if it has one). Parked, the message resolves: its source
 * settles its transport, and the journal holds it. Each durable retry the retry poller claims runs here too
 * (`retry`), and ends delivered, parked again with the next backoff, or dead. One per runner; off the common path.
 */
export class Parking {
  readonly #def: FlowDefinition;
  readonly #logger: Logger;
  readonly #journal: Journal | undefined;
  readonly #stats: FlowStats;
  readonly #meter: FlowMeter;
  readonly #metrics: FlowMetrics | undefined;
  readonly #tracing: FlowTracing;
  readonly #sinks: SinkCalls;
  readonly #control: FlowControl;
  readonly #keys: DedupeKeys;
  readonly #runs: RetryRuns;
  readonly #pausedRetryMs: number;
  readonly #refusals: Refusals;

  constructor(def: FlowDefinition, logger: Logger, journal: Journal | undefined, parts: ParkingParts) {
    this.#def = def;
    this.#logger = logger;
    this.#journal = journal;
    this.#stats = parts.stats;
    this.#meter = parts.meter;
    this.#metrics = parts.metrics;
    this.#tracing = parts.tracing;
    this.#sinks = parts.sinks;
    this.#control = parts.control;
    this.#keys = parts.keys;
    this.#runs = parts.runs;
    this.#pausedRetryMs = parts.pausedRetryMs ?? PAUSED_RETRY_MS;
    this.#refusals = parts.refusals;
  }

  /**
   * The runner's failure path for one message (`how` it was handled, `trail` its record if the runner has a journal,
   * `clock` when it was taken): parked in the journal (resolves with the outcome), or handed back to the source or
   * caller (rejects with the error), as docs/architecture.md says. Apart from the runner's #handle, whose frame each
   * message in flight keeps.
   */
  async notDelivered(message: Message, err: unknown, how: Handling, trail: MessageTrail | undefined, span: Span | undefined, clock: number): Promise<FlowResult> {
    const e = this.#failed(message, err);
    const attempt = message.meta.attempt ?? 1;
    this.#metrics?.failedIn.observe((performance.now() - clock) / 1000);
    if (span) failSpan(span, e);
    if (!trail) {
      if (!how.park) e.journal = 'not kept';
      throw e;
    }
    // A replay has no source to keep it: only a journal that cannot take it makes it go back to its caller. A
    // pipelined message that failed after its write was issued goes back to its source, to keep the order.
    if ((NOT_PARKED.has(e.code) && (how.target === undefined || e.code === 'JOURNAL_UNAVAILABLE')) || (how.lane?.issued && e.retryable)) {
      if (trail.recorded) await recordOutcome(trail, { type: 'failed', at: now(), attempt, error: errorInfo(e) }, this.#logger);
      throw e;
    }
    if (!how.park) {
      // The caller gets the error. Its own bad input (a client fault) is recorded, when the message has no record
      // yet, only so many a minute (Refusals): otherwise anyone could fill the journal with malformed requests.
      if (trail.recorded || e.spec.fault !== 'client' || this.#refusals.take()) await recordOutcome(trail, { type: 'failed', at: now(), attempt, error: errorInfo(e), detail: CALLER_ANSWERED }, this.#logger);
      e.journal = trail.recorded ? 'kept' : 'not kept';
      throw e;
    }
    // Under the message's span: a dead-letter sink's call is its child, and the dead letter carries the trace.
    const parked = await this.#tracing.within(span, () => this.#park(trail, message, e, attempt), true);
    span?.setAttribute('hub.outcome', parked);
    return { replies: [], parked };
  }

  /**
   * Runs one durable retry claimed from the journal (the retry poller calls it, through FlowRunner.retry): delivered,
   * parked again with the next backoff, or dead. A journal failure leaves the claim to run out, so the retry is
   * handed out again.
   */
  async retry(claim: RetryClaim): Promise<void> {
    const journal = this.#journal;
    if (!journal) throw new Error('a flow runner without a journal has no retries');
    const record = await journal.get(claim.id);
    if (!record || FINISHED.has(record.status)) {
      // Removed, replayed or resolved by an operator meanwhile, or finished by a run whose completion was lost.
      await journal.completeRetry(claim).catch(() => {});
      return;
    }
    if (this.#runs.stopping()) return journal.releaseRetry(claim);
    // Paused: the retry waits, due again a little later, its attempt not counted.
    if (this.#control.holding) return journal.releaseRetry(claim, { dueAt: new Date(Date.now() + this.#pausedRetryMs).toISOString(), attempt: claim.attempt });
    const message = messageFromRecord(record, claim.attempt);
    const trail = MessageTrail.resume(journal, this.#def.journal, trailSubject(message));
    this.#stats.retried++;
    this.#metrics?.durableRetries.inc();
    this.#runs.enter();
    const span = this.#tracing.message(message);
    try {
      await this.#runs.run(message, trail, span);
      this.#stats.completed++;
      this.#meter.record(undefined);
      this.#metrics?.delivered.inc();
      await trail.event({ type: 'delivered', at: now(), attempt: claim.attempt });
      await journal.completeRetry(claim);
      this.#control.notify(message, 'delivered');
    } catch (err) {
      // The journal failed after the run: the claim runs out and the retry is handed out again.
      if (err instanceof JournalError) throw err;
      const e = this.#failed(message, err);
      if (span) failSpan(span, e);
      if (NOT_PARKED.has(e.code)) {
        await trail.ensureRecorded();
        return journal.releaseRetry(claim, e.code === 'FLOW_STOPPING' ? undefined : { dueAt: new Date(Date.now() + 1000).toISOString(), attempt: claim.attempt });
      }
      trail.note({ type: 'failed', at: now(), attempt: claim.attempt, error: errorInfo(e) });
      await trail.ensureRecorded();
      if (e.retryable && claim.attempt <= this.#def.durable.attempts) {
        await journal.releaseRetry(claim, { dueAt: durableDueAt(this.#def.durable, claim.attempt), attempt: claim.attempt + 1, error: errorInfo(e) });
        this.#stats.waiting++;
        this.#control.notify(message, 'waiting-for-retry');
        return;
      }
      await journal.deadLetter(message.id, { error: errorInfo(e), attempt: claim.attempt });
      await journal.completeRetry(claim);
      this.#stats.dead++;
      this.#metrics?.dead.inc();
      this.#control.notify(message, 'dead');
      await this.#tracing.within(span, () => this.#toDeadLetterSink(message, e, claim.attempt), true);
    } finally {
      span?.end();
      // Delivered, or parked again either way: the keys it passed stay its own.
      await this.#keys.settle(message, true);
      this.#runs.leave();
    }
  }

  /** Counts and logs a message's failure; the error as a HubError. */
  #failed(message: Message, err: unknown): HubError {
    const e = toHubError(err);
    this.#stats.failed++;
    this.#metrics?.failed(e.code).inc();
    this.#stats.lastError = { code: e.code, message: e.message, ...(e.step ? { step: e.step } : {}), at: now(), messageId: message.id };
    const level = e.code === 'INTERNAL' ? 'error' : 'warn';
    this.#logger[level]({ messageId: message.id, correlationId: message.headers['correlation-id'], code: e.code, step: e.step, retryable: e.retryable, attempt: message.meta.attempt, ...(e.code === 'INTERNAL' ? { err: e.cause ?? e } : {}) }, `message failed: ${e.message}`);
    return e;
  }

  /**
   * Parks a failed message: waiting for a durable retry when the error is retryable and retries are left, else
   * dead (plus the dead-letter sink, if the flow has one). Resolves once the journal holds it durably; rejects
   * JOURNAL_UNAVAILABLE (retryable) when it cannot, so that the source keeps the message.
   */
  async #park(trail: MessageTrail, message: Message, e: HubError, attempt: number): Promise<'waiting-for-retry' | 'dead'> {
    const journal = trail.journal;
    const error = errorInfo(e);
    const retry = e.retryable && attempt <= this.#def.durable.attempts;
    try {
      trail.note({ type: 'failed', at: now(), attempt, error });
      await trail.ensureRecorded();
      if (retry) await journal.scheduleRetry(message.id, { dueAt: durableDueAt(this.#def.durable, attempt), attempt: attempt + 1, error });
      else await journal.deadLetter(message.id, { error, attempt });
    } catch (err) {
      const je = journalUnavailable(err, retry ? 'park the message for a retry' : 'park the message as dead');
      this.#logger.error({ messageId: message.id, err }, je.message);
      throw je;
    }
    if (retry) {
      this.#stats.waiting++;
      this.#control.notify(message, 'waiting-for-retry');
      return 'waiting-for-retry';
    }
    this.#stats.dead++;
    this.#metrics?.dead.inc();
    this.#control.notify(message, 'dead');
    await this.#toDeadLetterSink(message, e, attempt);
    return 'dead';
  }

  /** Sends a dead message to the flow's dead-letter sink too, if it has one. The journal already holds it, so a failure here is logged. */
  async #toDeadLetterSink(message: Message, e: HubError, attempt: number): Promise<void> {
    const sinkName = this.#def.deadLetterSink;
    if (!sinkName) return;
    const headers = {
      ...message.headers,
      'x-error-code': e.code,
      'x-error-message': e.message.slice(0, 1000),
      ...(e.step ? { 'x-error-step': e.step } : {}),
      'x-flow': this.#def.name,
      'x-attempts': String(attempt),
    };
    const cancel = new Cancellation();
    const timer = setTimeout(() => cancel.cut(hubError('TIMEOUT', `the dead-letter sink did not confirm within ${this.#def.timeoutMs} ms`)), this.#def.timeoutMs);
    try {
      await this.#sinks.send(sinkName, message.with({ headers }), new MessageContext(this.#def.name, this.#logger, message, cancel, this.#sinks.sender, ALWAYS_NEW, undefined));
    } catch (err) {
      this.#logger.error({ messageId: message.id, sink: sinkName, err: toHubError(err) }, `dead-letter sink "${sinkName}" did not take the message; it stays dead in the journal`);
    } finally {
      clearTimeout(timer);
    }
  }
}
