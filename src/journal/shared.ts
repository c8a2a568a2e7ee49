/** Pieces both backends share, so that they agree byte for byte on what is stored and how pages are cut. */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { JournalError } from './errors.js';
import { STATUS_OF_EVENT, type ErrorInfo, type MessageQuery, type MessageStatus, type MessageSummary, type ReplayRecord, type ReplayRequest, type StoredBody, type TimelineEvent } from './contract.js';

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Stores at most `maxBytes` of `body`. Valid UTF-8 is kept as text, cut back to a character boundary when truncated;
 * anything else is kept as base64 of the raw bytes. Size and hash always describe the whole body.
 */
export function storeBody(body: Buffer, maxBytes: number): StoredBody {
  const cap = Math.max(0, Math.floor(maxBytes));
  const truncated = body.length > cap;
  let kept = truncated ? body.subarray(0, cap) : body;
  if (isUtf8(body)) {
    if (truncated) kept = trimToCharBoundary(kept);
    return { encoding: 'utf8', data: kept.toString('utf8'), size: body.length, truncated, sha256: sha256(body) };
  }
  return { encoding: 'base64', data: kept.toString('base64'), size: body.length, truncated, sha256: sha256(body) };
}

/** Drops a UTF-8 sequence cut in half at the end. */
function trimToCharBoundary(bytes: Buffer): Buffer {
  let end = bytes.length;
  let back = 0;
  while (end - back - 1 >= 0 && back < 4 && (bytes[end - back - 1]! & 0xc0) === 0x80) back++;
  const lead = end - back - 1;
  if (lead < 0) return bytes.subarray(0, end - back);
  const b = bytes[lead]!;
  const need = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  if (need > back + 1) end = lead;
  return bytes.subarray(0, end);
}

/** The stored bytes back (only the stored part when truncated). */
export function bodyBytes(body: StoredBody): Buffer {
  return Buffer.from(body.data, body.encoding === 'utf8' ? 'utf8' : 'base64');
}

export function toMs(iso: string, what: string): number {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new JournalError('INVALID', `${what} is not an ISO time: "${iso}"`);
  return ms;
}

/** The summary fields an event changes. Both backends fold events with this. */
export function foldEvent(state: { status: MessageStatus; attempts: number; lastError?: ErrorInfo; updatedAt: string }, event: TimelineEvent): void {
  const status = STATUS_OF_EVENT[event.type];
  if (status) state.status = status;
  if (event.attempt !== undefined && event.attempt > state.attempts) state.attempts = event.attempt;
  if (event.error) state.lastError = { code: event.error.code, message: event.error.message, ...(event.error.step ? { step: event.error.step } : {}) };
  if (event.at > state.updatedAt) state.updatedAt = event.at;
}

export function validateEvents(events: TimelineEvent[]): void {
  if (!Array.isArray(events)) throw new JournalError('INVALID', 'events must be an array');
  for (const e of events) {
    if (!(e.type in STATUS_OF_EVENT)) throw new JournalError('INVALID', `unknown timeline event type "${String(e.type)}"`);
    toMs(e.at, 'event.at');
  }
}

export function deadGroupKey(error: ErrorInfo | undefined, flow: string): { key: string; flow: string; step: string; code: string } {
  const step = error?.step ?? '';
  const code = error?.code ?? 'UNKNOWN';
  return { key: JSON.stringify([flow, step, code]), flow, step, code };
}

// Paging: newest first by (receivedAt ms, id); a cursor is the last item's position, opaque to callers.
export interface Position {
  ms: number;
  id: string;
}

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.ms, p.id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Position | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof ms === 'number' && typeof id === 'string') return { ms, id };
  } catch {
    // falls through to the error below
  }
  throw new JournalError('INVALID', 'the cursor is not one this journal gave out');
}

/** True when `p` comes after the cursor in newest-first order. */
export function isAfter(p: Position, cursor: Position | undefined): boolean {
  if (!cursor) return true;
  return p.ms < cursor.ms || (p.ms === cursor.ms && p.id < cursor.id);
}

export function pageLimit(limit: number | undefined, max = 500): number {
  const n = limit ?? 50;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new JournalError('INVALID', `limit must be an integer from 1 to ${max}`);
  return n;
}

/** What a query's criteria look at: a summary's fields, with receivedAt as its millisecond value. */
export interface FilterFields {
  flow: string;
  correlationId?: string;
  status: MessageStatus;
  ms: number;
  lastError?: ErrorInfo;
}

/**
 * A query's criteria (all but paging) as one test, made once per query: times parsed, the error text lower-cased
 * and the statuses put in a set once, not once per record (a query may test 100,000 records). Rejects INVALID for
 * a bad from/to.
 */
export function compileFilter(q: MessageQuery): (s: FilterFields) => boolean {
  const statuses = q.status === undefined ? undefined : new Set(Array.isArray(q.status) ? q.status : [q.status]);
  const from = q.from === undefined ? undefined : toMs(q.from, 'from');
  const to = q.to === undefined ? undefined : toMs(q.to, 'to');
  const needle = q.errorText?.toLowerCase();
  const { flow, correlationId, errorCode, errorStep } = q;
  const onError = errorCode !== undefined || errorStep !== undefined || needle !== undefined;
  return (s) => {
    if (flow !== undefined && s.flow !== flow) return false;
    if (correlationId !== undefined && s.correlationId !== correlationId) return false;
    if (statuses !== undefined && !statuses.has(s.status)) return false;
    if (from !== undefined && s.ms < from) return false;
    if (to !== undefined && s.ms >= to) return false;
    if (onError) {
      if (errorCode !== undefined && s.lastError?.code !== errorCode) return false;
      if (errorStep !== undefined && (s.lastError?.step ?? '') !== errorStep) return false;
      if (needle !== undefined && !(s.lastError?.message ?? '').toLowerCase().includes(needle)) return false;
    }
    return true;
  };
}

/** Whether a summary matches a query's criteria (all but paging). For many summaries, compile the query once with compileFilter. */
export function matches(s: MessageSummary, q: MessageQuery): boolean {
  return compileFilter(q)({ ...s, ms: Date.parse(s.receivedAt) });
}

export function validateMessageId(id: unknown, what = 'message id'): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512) throw new JournalError('INVALID', `${what} must be a non-empty string of at most 512 characters`);
}

/** Checks reserveDedupe's arguments (both backends). */
export function validateReservation(key: unknown, owner: unknown, leaseMs: number): void {
  validateMessageId(key, 'dedupe key');
  validateMessageId(owner, 'dedupe key owner');
  if (!(leaseMs > 0)) throw new JournalError('INVALID', 'the dedupe reservation lease must be positive');
}

export function waitingEvent(retry: { dueAt: string; attempt: number; error?: ErrorInfo }): TimelineEvent {
  return { type: 'waiting-for-retry', at: new Date().toISOString(), attempt: retry.attempt, dueAt: retry.dueAt, ...(retry.error ? { error: retry.error } : {}) };
}

export function replayRecord(request: ReplayRequest, flow: string, bodyHashBefore: string): ReplayRecord {
  return {
    requestKey: request.requestKey,
    originalId: request.originalId,
    newId: request.newId,
    flow,
    by: request.by,
    at: request.at ?? new Date().toISOString(),
    target: { ...request.target },
    edited: request.editedBody !== undefined,
    bodyHashBefore,
    bodyHashAfter: request.editedBody !== undefined ? sha256(request.editedBody) : bodyHashBefore,
    ...(request.note ? { note: request.note } : {}),
  };
}

export function replayEvents(replay: ReplayRecord): TimelineEvent[] {
  return [
    { type: 'replayed', at: replay.at, detail: replay.newId },
    { type: 'resolved', at: replay.at, detail: `replayed as ${replay.newId} by ${replay.by}` },
  ];
}

/** A replay job a backend is asked to store: an id and an ISO startedAt (ReplayJobStore.saveReplayJob). */
export function checkJob(job: { id: string; startedAt: string }): void {
  if (typeof job.id !== 'string' || job.id === '' || job.id.length > 200) throw new JournalError('INVALID', 'a replay job needs an id (1 to 200 characters)');
  toMs(job.startedAt, 'job.startedAt');
}

/** Checks the names an aggregate group call is given (AggregateGroups): a scope, a key and a member id, each 1 to 512 characters. */
export function validateGroupArgs(scope: unknown, key: unknown, memberId: unknown): void {
  validateMessageId(scope, 'group scope');
  validateMessageId(key, 'group key');
  validateMessageId(memberId, 'member id');
}
