/**
 * The embedded journal: one directory on local disk, the default when no Redis is configured, so a hub with nothing
 * else installed loses nothing across a restart. One process at a time has it open (embedded/lock.ts).
 *
 * Everything lives in memory (embedded/state.ts, embedded/records.ts), rebuilt at open from `journal.log`, an
 * append-only log of one operation per line (embedded/log-file.ts). A write applies its operations in memory at
 * once, so that callers see their own writes and checks such as dedupe and recordReplay stay atomic, and resolves
 * once the group commit that carries its line has been fdatasync'd.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type {
  AuditRecord,
  DeadLetterGroup,
  DedupeReservation,
  ErrorInfo,
  FlowStatusCounts,
  GroupAdd,
  GroupMember,
  GroupSummary,
  Journal,
  MessageInput,
  MessageQuery,
  MessageRecord,
  MessageStatus,
  MessageSummary,
  Page,
  ReplayJobRecord,
  ReplayJobResult,
  ReplayOutcome,
  ReplayRecord,
  ReplayRequest,
  RetryClaim,
  TimelineEvent,
} from './contract.js';
import { JournalError, notFound } from './errors.js';
import { REPLAY_JOBS_KEPT } from './contract.js';
import { checkJob, decodeCursor, encodeCursor, isAfter, pageLimit, replayEvents, replayRecord, storeBody, toMs, validateEvents, validateGroupArgs, validateMessageId, validateReservation, waitingEvent } from './shared.js';
import { releaseLock, takeLock } from './embedded/lock.js';
import { LogFile } from './embedded/log-file.js';
import { EmbeddedState, type Op } from './embedded/state.js';
import { toLine } from './embedded/groups.js';

export interface EmbeddedJournalOptions {
  /** The journal's directory (created if missing). One process at a time: a second open rejects LOCKED. */
  dir: string;
  /** How long a retry claim lasts (ms); default 30 s. */
  leaseMs?: number;
  /** The log is compacted only past this size (bytes); default 64 MiB. */
  compactBytes?: number;
  /** Told about a log line that could not be read (skipped) and about a stale lock taken over. */
  onWarning?: (message: string) => void;
}

export async function openEmbeddedJournal(options: EmbeddedJournalOptions): Promise<EmbeddedJournal> {
  await mkdir(options.dir, { recursive: true });
  await takeLock(options.dir, options.onWarning);
  const journal = new EmbeddedJournal(options);
  try {
    await journal.load();
  } catch (err) {
    await releaseLock(options.dir);
    throw err;
  }
  return journal;
}

export class EmbeddedJournal implements Journal {
  readonly #dir: string;
  readonly #leaseMs: number;
  readonly #state = new EmbeddedState();
  /**
   * Dedupe keys reserved by messages still running: in memory only, since the store's lock admits one process, and
   * a process that died took its running messages with it.
   */
  readonly #reserved = new Map<string, { until: number; owner: string }>();
  readonly #log: LogFile<Op>;
  #closed = false;

  constructor(options: EmbeddedJournalOptions) {
    this.#dir = options.dir;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#log = new LogFile<Op>(options.dir, {
      compactBytes: options.compactBytes ?? 64 * 1024 * 1024,
      warn: options.onWarning ?? (() => {}),
      snapshot: () => this.#state.snapshot(),
    });
  }

  /** Reads the log into memory. Called once by openEmbeddedJournal. */
  load(): Promise<void> {
    return this.#log.load((op) => this.#state.apply(op));
  }

  #check(): void {
    if (this.#closed) throw new JournalError('CLOSED', 'the journal is closed');
    const broken = this.#log.broken;
    if (broken) throw new JournalError('UNAVAILABLE', `the journal cannot write to ${this.#log.path}: ${broken.message}`, { cause: broken });
  }

  /** Applies the operations in memory at once, and resolves once the log holds them durably. */
  #write(ops: Op[]): Promise<void> {
    for (const op of ops) this.#state.apply(op);
    return this.#log.append(ops);
  }

  // ------------------------------------------------------------------------------------------------------------
  // MessageLog

  async record(message: MessageInput, events: TimelineEvent[], options: { maxBodyBytes: number }): Promise<{ created: boolean }> {
    this.#check();
    validateMessageId(message.id);
    if (!message.flow) throw new JournalError('INVALID', 'message.flow must be set');
    validateEvents(events);
    toMs(message.receivedAt, 'message.receivedAt');
    if (this.#state.records.has(message.id)) {
      if (events.length > 0) await this.#write([{ o: 'ev', id: message.id, e: events }]);
      return { created: false };
    }
    const m = {
      id: message.id,
      ...(message.correlationId ? { correlationId: message.correlationId } : {}),
      flow: message.flow,
      source: message.source,
      receivedAt: message.receivedAt,
      headers: { ...message.headers },
      body: storeBody(message.body, options.maxBodyBytes),
      ...(message.replayOf ? { replayOf: message.replayOf } : {}),
    };
    await this.#write([{ o: 'rec', m, e: events }]);
    return { created: true };
  }

  async append(id: string, events: TimelineEvent[]): Promise<void> {
    this.#check();
    validateEvents(events);
    if (!this.#state.records.has(id)) throw notFound(id);
    await this.#write([{ o: 'ev', id, e: events }]);
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    this.#check();
    const rec = this.#state.records.get(id);
    if (!rec) return undefined;
    const { ms: _ms, deadGroup: _g, ...out } = structuredClone(rec);
    return out;
  }

  async query(q: MessageQuery): Promise<Page<MessageSummary>> {
    this.#check();
    return this.#state.records.query(q);
  }

  async remove(id: string, options: { ifStatus?: MessageStatus[] } = {}): Promise<boolean> {
    this.#check();
    const rec = this.#state.records.get(id);
    if (!rec) return false;
    if (options.ifStatus && (!options.ifStatus.includes(rec.status) || this.#state.retries.has(id))) return false;
    await this.#write([{ o: 'rm', id }]);
    return true;
  }

  async deadLetter(id: string, dead: { error: ErrorInfo; attempt: number; at?: string }): Promise<void> {
    await this.append(id, [{ type: 'dead', at: dead.at ?? new Date().toISOString(), attempt: dead.attempt, error: dead.error }]);
  }

  async deadLetterGroups(filter: { flow?: string } = {}): Promise<DeadLetterGroup[]> {
    this.#check();
    return this.#state.records.deadLetterGroups(filter);
  }

  async statusCounts(filter: { flow?: string } = {}): Promise<FlowStatusCounts[]> {
    this.#check();
    return this.#state.records.statusCounts(filter);
  }

  // ------------------------------------------------------------------------------------------------------------
  // RetryQueue

  async scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    this.#check();
    const due = toMs(retry.dueAt, 'dueAt');
    if (!this.#state.records.has(id)) throw notFound(id);
    await this.#write([{ o: 'retry', id, due, attempt: retry.attempt }, { o: 'ev', id, e: [waitingEvent(retry)] }]);
  }

  async claimDueRetries(limit: number, options: { flows?: readonly string[] } = {}): Promise<RetryClaim[]> {
    this.#check();
    const { records, retries, claims } = this.#state;
    const now = Date.now();
    const flows = options.flows ? new Set(options.flows) : undefined;
    const due = [...retries]
      .filter(([id, r]) => r.dueMs <= now && !((claims.get(id)?.until ?? 0) > now) && (!flows || flows.has(records.get(id)?.flow ?? '')))
      .sort((a, b) => a[1].dueMs - b[1].dueMs);
    return due.slice(0, Math.max(0, limit)).map(([id, r]) => {
      const token = randomUUID();
      claims.set(id, { token, until: now + this.#leaseMs });
      return { id, flow: records.get(id)?.flow ?? '', attempt: r.attempt, dueAt: new Date(r.dueMs).toISOString(), token };
    });
  }

  #holds(claim: RetryClaim): boolean {
    const c = this.#state.claims.get(claim.id);
    return c !== undefined && c.token === claim.token && c.until > Date.now();
  }

  async extendRetry(claim: RetryClaim): Promise<void> {
    this.#check();
    if (!this.#holds(claim)) throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held`);
    this.#state.claims.set(claim.id, { token: claim.token, until: Date.now() + this.#leaseMs });
  }

  async completeRetry(claim: RetryClaim): Promise<void> {
    this.#check();
    if (!this.#holds(claim)) throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held`);
    await this.#write([{ o: 'unretry', id: claim.id }]);
  }

  async releaseRetry(claim: RetryClaim, retry?: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    this.#check();
    if (!this.#holds(claim)) throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held`);
    if (!retry) {
      this.#state.claims.delete(claim.id);
      return;
    }
    const due = toMs(retry.dueAt, 'dueAt');
    const ops: Op[] = [{ o: 'retry', id: claim.id, due, attempt: retry.attempt }];
    if (this.#state.records.has(claim.id)) ops.push({ o: 'ev', id: claim.id, e: [waitingEvent(retry)] });
    await this.#write(ops);
  }

  // ------------------------------------------------------------------------------------------------------------
  // ReplayBook

  async recordReplay(request: ReplayRequest): Promise<ReplayOutcome> {
    this.#check();
    validateMessageId(request.requestKey, 'requestKey');
    validateMessageId(request.newId, 'newId');
    const earlier = this.#state.replays.get(request.requestKey);
    if (earlier) return { accepted: false, replay: earlier };
    const original = this.#state.records.get(request.originalId);
    if (!original) throw notFound(request.originalId);
    const replay = replayRecord(request, original.flow, original.body.sha256);
    await this.#write([{ o: 'replay', r: replay, e: replayEvents(replay) }]);
    return { accepted: true, replay };
  }

  async getReplay(requestKey: string): Promise<ReplayRecord | undefined> {
    this.#check();
    const r = this.#state.replays.get(requestKey);
    return r && structuredClone(r);
  }

  async listReplays(filter: { originalId?: string; limit?: number; cursor?: string } = {}): Promise<Page<ReplayRecord>> {
    this.#check();
    const limit = pageLimit(filter.limit);
    const cursor = decodeCursor(filter.cursor);
    const all = [...this.#state.replays.values()]
      .filter((r) => filter.originalId === undefined || r.originalId === filter.originalId)
      .map((r) => ({ r, ms: Date.parse(r.at), id: r.requestKey }))
      .filter((p) => isAfter(p, cursor))
      .sort((a, b) => b.ms - a.ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const items = all.slice(0, limit);
    return { items: items.map((p) => structuredClone(p.r)), ...(all.length > limit ? { next: encodeCursor(items[items.length - 1]!) } : {}) };
  }

  // ------------------------------------------------------------------------------------------------------------
  // DedupeKeys

  async dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean> {
    this.#check();
    validateMessageId(key, 'dedupe key');
    if (!(ttlMs > 0)) throw new JournalError('INVALID', 'the dedupe time to live must be positive');
    const keys = this.#state.dedupe;
    const now = Date.now();
    const held = keys.get(key);
    if (held !== undefined && held.until > now && (owner === undefined || held.owner !== owner)) return false;
    const reserved = this.#reservation(key, now);
    if (reserved !== undefined && reserved.owner !== owner) return false;
    if (keys.size > 10_000) for (const [k, d] of keys) if (d.until <= now) keys.delete(k);
    await this.#write([{ o: 'dd', k: key, x: now + ttlMs, ...(owner ? { w: owner } : {}) }]);
    if (this.#reserved.get(key)?.owner === owner) this.#reserved.delete(key);
    return true;
  }

  async dedupeHolder(key: string): Promise<string | undefined> {
    this.#check();
    const now = Date.now();
    const held = this.#state.dedupe.get(key);
    if (held !== undefined && held.until > now) return held.owner ?? '';
    return this.#reservation(key, now)?.owner;
  }

  async reserveDedupe(key: string, owner: string, leaseMs: number): Promise<DedupeReservation> {
    this.#check();
    validateReservation(key, owner, leaseMs);
    const now = Date.now();
    const held = this.#state.dedupe.get(key);
    if (held !== undefined && held.until > now) return held.owner === owner ? 'reserved' : 'held';
    const reserved = this.#reservation(key, now);
    if (reserved !== undefined) return reserved.owner === owner ? 'reserved' : 'busy';
    if (this.#reserved.size > 10_000) for (const [k, r] of this.#reserved) if (r.until <= now) this.#reserved.delete(k);
    this.#reserved.set(key, { until: now + leaseMs, owner });
    return 'reserved';
  }

  async releaseDedupe(key: string, owner: string): Promise<void> {
    this.#check();
    if (this.#reserved.get(key)?.owner === owner) this.#reserved.delete(key);
  }

  /** The live reservation of a key, if any. */
  #reservation(key: string, now: number): { until: number; owner: string } | undefined {
    const r = this.#reserved.get(key);
    return r !== undefined && r.until > now ? r : undefined;
  }

  // ------------------------------------------------------------------------------------------------------------
  // ReplayJobStore

  async saveReplayJob(job: ReplayJobRecord): Promise<void> {
    this.#check();
    checkJob(job);
    await this.#write([{ o: 'job', j: structuredClone(job) }]);
  }

  async listReplayJobs(limit = REPLAY_JOBS_KEPT): Promise<ReplayJobRecord[]> {
    this.#check();
    return [...this.#state.jobs.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, limit).map((j) => structuredClone(j));
  }

  async getReplayJob(id: string): Promise<ReplayJobRecord | undefined> {
    this.#check();
    const job = this.#state.jobs.get(id);
    return job && structuredClone(job);
  }

  async appendReplayJobResults(id: string, results: ReplayJobResult[]): Promise<void> {
    this.#check();
    if (results.length > 0) await this.#write([{ o: 'jres', id, r: results.map((r) => ({ ...r })) }]);
  }

  async replayJobResults(id: string, options: { offset?: number; limit?: number } = {}): Promise<{ items: ReplayJobResult[]; total: number }> {
    this.#check();
    const all = this.#state.jobResults.get(id) ?? [];
    const offset = options.offset ?? 0;
    return { items: all.slice(offset, offset + (options.limit ?? 100)).map((r) => ({ ...r })), total: all.length };
  }

  // ------------------------------------------------------------------------------------------------------------
  // AdminAudit

  async appendAudit(entry: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    this.#check();
    const a: AuditRecord = { seq: (this.#state.audit.at(-1)?.seq ?? 0) + 1, ...entry };
    await this.#write([{ o: 'audit', a }]);
    return { ...a };
  }

  async listAudit(filter: { action?: string; limit?: number; cursor?: string } = {}): Promise<Page<AuditRecord>> {
    this.#check();
    const audit = this.#state.audit;
    const limit = pageLimit(filter.limit);
    const before = filter.cursor === undefined ? Number.POSITIVE_INFINITY : Number(filter.cursor);
    const items: AuditRecord[] = [];
    // Oldest first by seq: binary search to the cursor, then walk down.
    let lo = 0;
    let hi = audit.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (audit[mid]!.seq < before) lo = mid + 1;
      else hi = mid;
    }
    let i = lo - 1;
    for (; i >= 0 && items.length < limit; i--) {
      const a = audit[i]!;
      if (filter.action === undefined || a.action === filter.action) items.push({ ...a });
    }
    let more = false;
    for (let j = i; j >= 0 && !more; j--) more = filter.action === undefined || audit[j]!.action === filter.action;
    return { items, ...(more && items.length > 0 ? { next: String(items.at(-1)!.seq) } : {}) };
  }

  // ------------------------------------------------------------------------------------------------------------
  // AggregateGroups

  async addToGroup(scope: string, key: string, member: GroupMember, options: { newGroupId: string; maxOpen?: number; refuseClosed?: boolean }): Promise<GroupAdd> {
    this.#check();
    validateGroupArgs(scope, key, member.id);
    const groups = this.#state.groups;
    const admitted = groups.admit(scope, key, member.id, options, Date.now());
    if (admitted.outcome !== 'add') return admitted;
    validateMessageId(admitted.groupId, 'group id');
    await this.#write([{ o: 'ga', s: scope, k: key, g: admitted.groupId, m: toLine(member) }]);
    const group = groups.get(scope, admitted.groupId);
    return { outcome: 'added', group: group ? { ...group.summary } : { id: admitted.groupId, key, openedAt: member.at, lastAt: member.at, size: 1 } };
  }

  async sealGroup(scope: string, groupId: string, seal: { reason: string; closedTtlMs?: number }): Promise<{ group: GroupSummary; members: GroupMember[]; first: boolean } | undefined> {
    this.#check();
    const g = this.#state.groups.get(scope, groupId);
    if (!g) return undefined;
    const first = !g.summary.sealed;
    if (first) {
      const x = seal.closedTtlMs ? Date.now() + seal.closedTtlMs : undefined;
      await this.#write([{ o: 'gs', s: scope, g: groupId, r: seal.reason, at: new Date().toISOString(), ...(x === undefined ? {} : { x }) }]);
    }
    return { group: { ...g.summary, sealed: { ...g.summary.sealed! } }, members: g.members.map((m) => ({ ...m, headers: { ...m.headers } })), first };
  }

  async removeGroup(scope: string, groupId: string): Promise<boolean> {
    this.#check();
    if (!this.#state.groups.get(scope, groupId)) return false;
    await this.#write([{ o: 'gr', s: scope, g: groupId }]);
    return true;
  }

  async listGroups(scope: string): Promise<GroupSummary[]> {
    this.#check();
    return this.#state.groups.list(scope);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Lifecycle

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#log.close();
    await releaseLock(this.#dir);
  }
}
