/**
 * Replay as the admin API (and through it the CLI) does it, apart from HTTP: one message, or every message a filter
 * matches. Each replay is booked with journal.recordReplay first (the idempotency gate and the audit entry) and sent
 * only when the booking was accepted. Failures are HubErrors whose codes the routes answer with.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { hubError, toHubError, type HubError } from '../core/errors.js';
import { newId } from '../core/id.js';
import { Message } from '../core/message.js';
import type { ErrorInfo, MessageLog, MessageQuery, MessageRecord, MessageStatus, ReplayBook, ReplayRecord, ReplayRequest, RetryQueue } from '../journal/contract.js';
import { JournalError } from '../journal/errors.js';
import { bodyBytes } from '../journal/shared.js';
import { Bulkhead } from '../runtime/bulkhead.js';
import type { FlowRunner } from '../runtime/flow-runner.js';
import { errorInfo, journalInput } from '../runtime/journal.js';
import type { ReplayTarget } from '../runtime/message-context.js';
import { BULK_DEFAULT } from './api/constants.js';
import { checkEdited, inputProblems } from './input-check.js';

export interface ReplayOptions {
  to?: 'start' | 'failed-step';
  /** Replay into this flow instead of the message's own (a new version deployed beside the old): from its start. */
  flow?: string;
  sink?: string;
  /** An edited body, written as `bodyEncoding` says. */
  body?: string;
  bodyEncoding?: 'utf8' | 'base64';
  contentType?: string;
  note?: string;
}

export interface ReplayResult {
  replay: ReplayRecord;
  newId: string;
  /** The key was booked before: nothing was sent. */
  duplicate: boolean;
  outcome?: 'delivered' | 'waiting-for-retry' | 'dead';
  /** Why the replay was parked, when it was. */
  error?: ErrorInfo;
}

/** What a replay's dry run found: `ok` when the body would be sent; else `errors` says why not. */
export interface ReplayCheck {
  ok: boolean;
  /** The input schema checked, when the flow has one in reach. */
  schema?: string;
  errors: { path: string; message: string }[];
}

export interface BulkReplayRequest {
  filter: Pick<MessageQuery, 'flow' | 'from' | 'to' | 'errorCode' | 'errorStep' | 'errorText'> & { status?: MessageStatus[] };
  to?: 'start' | 'failed-step';
  /** Into this flow instead of each message's own (see ReplayOptions.flow). */
  flow?: string;
  sink?: string;
  max?: number;
  note?: string;
}

/** The messages a bulk replay takes on: their ids, and whether more matched than its `max`. */
export interface BulkSelection {
  ids: string[];
  capped: boolean;
}

export interface BulkReplayResult {
  matched: number;
  capped: boolean;
  replayed: number;
  duplicates: number;
  outcomes: { delivered: number; 'waiting-for-retry': number; dead: number };
  failed: { id: string; reason: string }[];
}

/**
 * Bulk replays running at once in this hub, however many bulk requests and jobs there are: enough to keep a flow
 * busy, few enough not to crowd out its live traffic.
 */
export const BULK_CONCURRENCY = 8;

/** Failures the runner does not park (the hub's condition, not the message's): after a booked replay, the admin parks them. */
const UNPARKED = new Set(['FLOW_STOPPING', 'FLOW_OVERLOADED', 'JOURNAL_UNAVAILABLE']);

/** A request's default idempotency key: the same request (same message, same options) gives the same key. */
export function requestHash(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** A journal failure as the admin API answers it. */
export function fromJournalError(err: unknown): HubError {
  if (!(err instanceof JournalError)) return toHubError(err);
  if (err.code === 'JOURNAL_NOT_FOUND') return hubError('NOT_FOUND', err.message, { cause: err });
  if (err.code === 'JOURNAL_INVALID_ARGUMENT') return hubError('BAD_REQUEST', err.message, { cause: err });
  return hubError('JOURNAL_UNAVAILABLE', `the journal cannot be used (${err.code}: ${err.message})`, { cause: err });
}

async function journalCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw fromJournalError(err);
  }
}

export class Replayer {
  /** The hub's runners, read at each call: a reload replaces some. */
  readonly #list: readonly FlowRunner[];
  readonly #safetyMs: number;
  /** The slots every bulk replay shares (one replay of one message each); the others wait their turn. */
  readonly #bulkSlots = new Bulkhead(BULK_CONCURRENCY, Number.POSITIVE_INFINITY);

  /**
   * `safetyMs`: how long after the flow's timeout a replay's safety-net retry comes due (default 60 s), should the
   * process running the replay die; a replay that settled by then makes it a no-op.
   */
  constructor(
    readonly journal: MessageLog & RetryQueue & ReplayBook,
    runners: readonly FlowRunner[],
    readonly logger: Logger,
    options: { safetyMs?: number } = {},
  ) {
    this.#list = runners;
    this.#safetyMs = options.safetyMs ?? 60_000;
  }

  get #runners(): Map<string, FlowRunner> {
    return new Map(this.#list.map((r) => [r.name, r]));
  }

  /**
   * Replays one message under `requestKey` on behalf of `by`. Throws NOT_FOUND (no such message), CONFLICT (a
   * truncated body without an edited one, a flow not running here, a key used for another message), BAD_REQUEST
   * (options that do not fit the flow), VALIDATION_FAILED (an edited body the flow's input schema refuses).
   */
  async replayOne(id: string, options: ReplayOptions, requestKey: string, by: string): Promise<ReplayResult> {
    const { runner, edited, target, runTarget, message } = await this.#prepare(id, options);
    if (runner.paused) throw hubError('CONFLICT', `flow "${runner.name}" is paused: it takes no messages, replays included; resume it first (POST /admin/api/flows/${runner.name}/resume)`);
    if (edited) await checkEdited(runner.def, message, runTarget, this.logger);

    const request: ReplayRequest = { requestKey, originalId: id, newId: message.id, by, target, ...(edited ? { editedBody: edited } : {}), ...(options.note ? { note: options.note } : {}) };
    // The journal holds the new message whole, with a retry due later as its safety net, before the booking
    // resolves the original: a hub that dies while the replay runs leaves a message its retry poller runs again,
    // not a resolved original with nothing behind it (an edited body would be gone: the audit keeps only its hash).
    // A crash before the booking leaves the original as it was (and at worst a replay run twice: at least once).
    await journalCall(this.journal.record(journalInput(message), [{ type: 'received', at: message.meta.receivedAt, attempt: 1 }], { maxBodyBytes: Number.MAX_SAFE_INTEGER }));
    await journalCall(this.journal.scheduleRetry(message.id, { dueAt: new Date(Date.now() + runner.def.timeoutMs + this.#safetyMs).toISOString(), attempt: 1 }));
    const booked = await journalCall(this.journal.recordReplay(request));
    if (!booked.accepted) {
      await this.journal.remove(message.id).catch((err: unknown) => this.logger.warn({ err, messageId: message.id }, 'could not remove the record of a replay that was not booked'));
      if (booked.replay.originalId !== id) throw hubError('CONFLICT', `the idempotency key "${requestKey}" was used for replay ${booked.replay.newId} of message ${booked.replay.originalId}; use a new key for each replay`);
      const earlier = await this.journal.get(booked.replay.newId).catch(() => undefined);
      const outcome = earlier ? outcomeOf(earlier.status) : undefined;
      return { replay: booked.replay, newId: booked.replay.newId, duplicate: true, ...(outcome ? { outcome } : {}) };
    }
    return { replay: booked.replay, newId: message.id, duplicate: false, ...(await this.#run(runner, message, runTarget)) };
  }

  /**
   * The dry run of a replay (POST /messages/{id}/replay/check): what replayOne would refuse the body for, without
   * booking or sending anything. The body checked is the edited one, else the stored one. Throws as replayOne does
   * for the message and the options (NOT_FOUND, CONFLICT, BAD_REQUEST); the body's problems are the answer.
   */
  async check(id: string, options: ReplayOptions): Promise<ReplayCheck> {
    const { runner, runTarget, message } = await this.#prepare(id, options);
    const { schema, problems } = await inputProblems(runner.def, message, runTarget, this.logger);
    return { ok: problems.length === 0, ...(schema ? { schema } : {}), errors: problems };
  }

  async #prepare(id: string, options: ReplayOptions): Promise<{ runner: FlowRunner; edited: Buffer | undefined; target: ReplayRequest['target']; runTarget: ReplayTarget; message: Message }> {
    const record = await journalCall(this.journal.get(id));
    if (!record) throw hubError('NOT_FOUND', `no such message: ${id} (never recorded under its flow's journal policy, or removed)`);
    const runner = this.#runners.get(options.flow ?? record.flow);
    if (!runner) {
      if (options.flow !== undefined) throw hubError('BAD_REQUEST', `flow "${options.flow}" does not run in this hub (flows here: ${[...this.#runners.keys()].join(', ') || 'none'})`);
      throw hubError('CONFLICT', `message ${id} belongs to flow "${record.flow}", which does not run in this hub (flows here: ${[...this.#runners.keys()].join(', ') || 'none'}); replay it on a hub that runs that flow`);
    }
    if (options.flow !== undefined && options.flow !== record.flow && (options.to === 'failed-step' || options.sink !== undefined)) {
      throw hubError('BAD_REQUEST', 'a replay into another flow runs from its start: give neither `to: failed-step` nor `sink` with `flow`');
    }
    const edited = options.body === undefined ? undefined : decodeBody(options.body, options.bodyEncoding ?? 'utf8');
    if (!edited && record.body.truncated) {
      throw hubError('CONFLICT', `the journal holds only the first ${Buffer.byteLength(record.body.data, record.body.encoding)} of ${record.body.size} bytes of message ${id} (its flow's journal body_bytes cut it); replay it with the whole body as an edited body`);
    }
    const { target, runTarget } = this.#target(runner, record, options);
    const message = new Message({
      id: newId(),
      body: edited ?? bodyBytes(record.body),
      headers: { ...record.headers, ...(options.contentType ? { 'content-type': options.contentType } : {}) },
      meta: { flow: runner.name, source: record.source, receivedAt: new Date().toISOString(), attempt: 1, replayOf: record.id },
    });
    return { runner, edited, target, runTarget, message };
  }

  /** True when `flow` runs in this hub (a job checks before each message: a flow removed meanwhile stops it). */
  runs(flow: string): boolean {
    return this.#runners.has(flow);
  }

  /** The bulk slots every bulk replay shares: a job takes one per message in flight. */
  slot<T>(work: () => Promise<T>): Promise<T> {
    return this.#bulkSlots.run(work);
  }

  /**
   * How many messages a bulk filter matches now (status dead unless it says), counted page by page: what the console
   * shows before a bulk replay or archive is confirmed. `exact` is false when the count stopped at `budgetMs`.
   */
  async count(filter: BulkReplayRequest['filter'], budgetMs = 5_000): Promise<{ count: number; exact: boolean }> {
    const until = Date.now() + budgetMs;
    let count = 0;
    let cursor: string | undefined;
    do {
      const page = await journalCall(this.journal.query({ ...filter, status: filter.status?.length ? filter.status : ['dead'], limit: 500, ...(cursor ? { cursor } : {}) }));
      count += page.items.length;
      cursor = page.next;
      if (cursor && Date.now() > until) return { count, exact: false };
    } while (cursor);
    return { count, exact: true };
  }

  /** Replays every message a filter matches (up to `max`), a few at a time, each under `requestKey` + its id. */
  async replayMany(request: BulkReplayRequest, requestKey: string, by: string): Promise<BulkReplayResult> {
    return this.replaySelected(request, await this.select(request), requestKey, by);
  }

  /**
   * The ids a bulk replay takes on, oldest pages first, up to `max`: collected before any replay, since each replay
   * resolves its original, which would shift the pages under the walk. Throws NOT_FOUND when nothing matches and
   * BAD_REQUEST for a flow this hub does not run or a sink without a flow.
   */
  async select(request: BulkReplayRequest): Promise<BulkSelection> {
    const { filter } = request;
    if (filter.flow !== undefined && !this.#runners.has(filter.flow)) {
      throw hubError('BAD_REQUEST', `flow "${filter.flow}" does not run in this hub (flows here: ${[...this.#runners.keys()].join(', ') || 'none'})`);
    }
    if (request.sink !== undefined && filter.flow === undefined) throw hubError('BAD_REQUEST', 'a replay to a sink needs filter.flow: sink names belong to a flow');
    const max = request.max ?? BULK_DEFAULT;
    // The ids first, then the replays: each replay resolves its original, which would shift the pages under the walk.
    const ids: string[] = [];
    let cursor: string | undefined;
    let capped = false;
    do {
      const page = await journalCall(this.journal.query({ ...filter, status: filter.status?.length ? filter.status : ['dead'], limit: 500, ...(cursor ? { cursor } : {}) }));
      for (const m of page.items) {
        if (ids.length === max) {
          capped = true;
          break;
        }
        ids.push(m.id);
      }
      cursor = page.next;
    } while (cursor && !capped);
    if (ids.length === 0) throw hubError('NOT_FOUND', 'no message matches the filter');
    return { ids, capped };
  }

  /**
   * Replays the selected ids, each under `requestKey` + its id, in the hub-wide BULK_CONCURRENCY slots. `progress` is called
   * (synchronously, so it must be cheap) after each message with the counts so far, which it must not keep: the
   * same object changes on.
   */
  async replaySelected(request: BulkReplayRequest, selection: BulkSelection, requestKey: string, by: string, progress?: (soFar: BulkReplayResult, done: number) => void): Promise<BulkReplayResult> {
    const { ids, capped } = selection;
    let done = 0;
    const result: BulkReplayResult = { matched: ids.length, capped, replayed: 0, duplicates: 0, outcomes: { delivered: 0, 'waiting-for-retry': 0, dead: 0 }, failed: [] };
    const options = bulkOptions(request);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          const r = await this.#bulkSlots.run(() => this.replayOne(id, options, `${requestKey}:${id}`, by));
          if (r.duplicate) result.duplicates++;
          else {
            result.replayed++;
            if (r.outcome) result.outcomes[r.outcome]++;
          }
        } catch (err) {
          const e = toHubError(err);
          result.failed.push({ id, reason: `${e.code}: ${e.message}` });
        }
        progress?.(result, ++done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, ids.length) }, worker));
    return result;
  }

  #target(runner: FlowRunner, record: MessageRecord, options: ReplayOptions): { target: ReplayRequest['target']; runTarget: ReplayTarget } {
    const { sink } = options;
    if (sink !== undefined) {
      if (options.to === 'failed-step') throw hubError('BAD_REQUEST', 'give either `to: failed-step` or `sink`: a replay to a sink skips the steps');
      if (!runner.def.sinks.has(sink)) throw hubError('BAD_REQUEST', `flow "${runner.name}" has no sink named "${sink}" (sinks: ${[...runner.def.sinks.keys()].join(', ')})`);
      return { target: { to: 'start', sink }, runTarget: { sink } };
    }
    if (options.to === 'failed-step') {
      const step = record.lastError?.step;
      const index = step === undefined ? undefined : /^(\d+):/.exec(step)?.[1];
      const startAt = index === undefined ? undefined : Number(index);
      // A failure outside the steps ("sink:orders" of a replay, "reply"), or none: from the start.
      if (startAt !== undefined && startAt < runner.def.steps.length) return { target: { to: 'failed-step', step: step! }, runTarget: { startAt } };
    }
    return { target: { to: 'start' }, runTarget: {} };
  }

  async #run(runner: FlowRunner, message: Message, target: ReplayTarget): Promise<Pick<ReplayResult, 'outcome' | 'error'>> {
    try {
      const result = await runner.replay(message, target, true);
      if (!result.parked) return { outcome: 'delivered' };
      const rec = await this.journal.get(message.id).catch(() => undefined);
      return { outcome: result.parked, ...(rec?.lastError ? { error: rec.lastError } : {}) };
    } catch (err) {
      const e = toHubError(err);
      if (!UNPARKED.has(e.code)) throw e;
      return this.#park(message, e);
    }
  }

  /**
   * The runner leaves a failure that is the hub's condition (stopping, journal away) to the message's source, but a
   * booked replay has no source: its original is already resolved, so the replay (recorded whole when it was booked)
   * is parked as dead here, to be replayed again. Should the journal refuse that too, its safety-net retry stays.
   */
  async #park(message: Message, e: HubError): Promise<Pick<ReplayResult, 'outcome' | 'error'>> {
    const error = errorInfo(e);
    const at = new Date().toISOString();
    try {
      await this.journal.append(message.id, [{ type: 'failed', at, attempt: 1, error }]);
      await this.journal.deadLetter(message.id, { error, attempt: 1, at });
    } catch (err) {
      this.logger.error({ err, messageId: message.id, replayOf: message.meta.replayOf }, 'a booked replay could neither run nor be parked');
      throw hubError('JOURNAL_UNAVAILABLE', `replay ${message.id} of ${message.meta.replayOf} was booked but could neither run (${e.code}: ${e.message}) nor be parked (${(err as Error).message}); it runs again from the journal once the hub is well`, { cause: err });
    }
    this.logger.warn({ messageId: message.id, replayOf: message.meta.replayOf, code: e.code }, `replay could not run (${e.message}); parked as dead`);
    return { outcome: 'dead', error };
  }
}

/** The options each message of a bulk replay is replayed with. */
export function bulkOptions(request: BulkReplayRequest): ReplayOptions {
  return { ...(request.to ? { to: request.to } : {}), ...(request.sink ? { sink: request.sink } : {}), ...(request.flow ? { flow: request.flow } : {}), ...(request.note ? { note: request.note } : {}) };
}

function outcomeOf(status: MessageStatus): ReplayResult['outcome'] {
  return status === 'delivered' || status === 'waiting-for-retry' || status === 'dead' ? status : undefined;
}

function decodeBody(body: string, encoding: 'utf8' | 'base64'): Buffer {
  if (encoding === 'utf8') return Buffer.from(body, 'utf8');
  const compact = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) throw hubError('BAD_REQUEST', '`body` is not valid base64 (bodyEncoding: base64)');
  return Buffer.from(compact, 'base64');
}
