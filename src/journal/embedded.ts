/**
 * The embedded journal: one directory on local disk, the default when no Redis is configured, so a hub with nothing
 * else installed loses nothing across a restart.
 *
 * Layout: `journal.log` is an append-only log of JSON lines, one operation per line; `LOCK` holds the pid of the
 * process that has the journal open. At open the log is read into memory (every record, index and retry lives in
 * memory; the log is only read at open); a torn last line (a crash mid-write) is cut off. Writes are group-committed:
 * operations that arrive while a write is in progress go out together in the next write, followed by one fdatasync,
 * and each call resolves only after the fdatasync that covers its line. When the log has grown to twice its live
 * size (and past `compactBytes`), it is rewritten as a snapshot beside it and renamed over it.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, truncate, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AuditRecord,
  DeadLetterGroup,
  ErrorInfo,
  Journal,
  MessageInput,
  MessageQuery,
  MessageRecord,
  MessageStatus,
  MessageSummary,
  Page,
  ReplayOutcome,
  ReplayRecord,
  ReplayRequest,
  RetryClaim,
  StoredBody,
  TimelineEvent,
} from './contract.js';
import { AUDIT_KEPT } from './contract.js';
import { JournalError, notFound } from './errors.js';
import { compileFilter, deadGroupKey, decodeCursor, encodeCursor, foldEvent, isAfter, pageLimit, replayEvents, replayRecord, storeBody, toMs, validateEvents, validateMessageId, waitingEvent, type FilterFields, type Position } from './shared.js';

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

interface Rec extends MessageSummary {
  headers: Record<string, string>;
  body: StoredBody;
  timeline: TimelineEvent[];
  replayedAs: string[];
  ms: number;
  /** The dead-letter group it is in, while dead. */
  deadGroup?: string;
}

/**
 * What a query tests of a record, kept apart from the record: a small object of one shape, so that a query walking
 * 100,000 of them reads a few cache lines each, where the records themselves (built by spreading, grown by events)
 * are slow to read in bulk (a walk over them measured ten times slower). Updated whenever the record's status or
 * last error change; `gone` once the record is removed.
 */
class Entry implements FilterFields {
  readonly ms: number;
  readonly id: string;
  readonly flow: string;
  readonly correlationId: string | undefined;
  status: MessageStatus;
  lastError: ErrorInfo | undefined;
  gone = false;

  constructor(readonly rec: Rec) {
    this.ms = rec.ms;
    this.id = rec.id;
    this.flow = rec.flow;
    this.correlationId = rec.correlationId;
    this.status = rec.status;
    this.lastError = rec.lastError;
  }
}

/** Oldest first by (ms, id), the reverse of paging order. */
function older(a: Position, b: Position): boolean {
  return a.ms < b.ms || (a.ms === b.ms && a.id < b.id);
}

interface RetryEntry {
  dueMs: number;
  attempt: number;
}

/** One line of the log. */
type Op =
  | { o: 'rec'; m: Omit<Rec, 'timeline' | 'replayedAs' | 'ms' | 'deadGroup' | 'status' | 'attempts' | 'updatedAt' | 'lastError'>; e: TimelineEvent[] }
  | { o: 'ev'; id: string; e: TimelineEvent[] }
  | { o: 'retry'; id: string; due: number; attempt: number }
  | { o: 'unretry'; id: string }
  | { o: 'replay'; r: ReplayRecord; e: TimelineEvent[] }
  | { o: 'rm'; id: string }
  | { o: 'dd'; k: string; x: number; w?: string }
  | { o: 'audit'; a: AuditRecord }
  // Compaction snapshots: a whole record, a replay audit entry alone.
  | { o: 'snap'; r: Rec }
  | { o: 'rps'; r: ReplayRecord };

const LOG = 'journal.log';
const LOCK = 'LOCK';

export async function openEmbeddedJournal(options: EmbeddedJournalOptions): Promise<EmbeddedJournal> {
  await mkdir(options.dir, { recursive: true });
  await takeLock(options.dir, options.onWarning);
  const journal = new EmbeddedJournal(options);
  try {
    await journal.load();
  } catch (err) {
    await unlink(join(options.dir, LOCK)).catch(() => {});
    throw err;
  }
  return journal;
}

async function takeLock(dir: string, warn: ((m: string) => void) | undefined): Promise<void> {
  const lock = join(dir, LOCK);
  const mine = join(dir, `${LOCK}.${process.pid}.${randomUUID()}`);
  await writeFile(mine, String(process.pid));
  try {
    for (let tries = 0; tries < 3; tries++) {
      try {
        await link(mine, lock); // atomic: fails when the lock exists
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new JournalError('LOCKED', `the journal in ${dir} is open in process ${holder}`);
      }
      if (holder === process.pid) throw new JournalError('LOCKED', `the journal in ${dir} is already open in this process`);
      warn?.(`taking over the lock of the journal in ${dir} from process ${holder || '?'}, which is gone`);
      await unlink(lock).catch(() => {});
    }
    throw new JournalError('LOCKED', `could not take the lock of the journal in ${dir}`);
  } finally {
    await unlink(mine).catch(() => {});
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class EmbeddedJournal implements Journal {
  readonly #dir: string;
  readonly #leaseMs: number;
  readonly #compactBytes: number;
  readonly #warn: (message: string) => void;

  readonly #records = new Map<string, Rec>();
  /**
   * Every record's entry oldest first by (ms, id), so that a query binary-searches its cursor and time range and
   * walks back from there. New entries are appended (nearly always the newest); one that is not marks the array for
   * a sort before the next query (nearly sorted: about linear). A removed record's entry stays as a tombstone until
   * tombstones are a quarter of the array: removing one by one (retention) must not copy the array each time.
   */
  #order: Entry[] = [];
  #orderDirty = false;
  #tombstones = 0;
  readonly #entries = new Map<string, Entry>();
  /** Entries by correlation id: a search by correlation id reads only these. */
  readonly #byCorrelation = new Map<string, Entry[]>();
  readonly #retries = new Map<string, RetryEntry>();
  readonly #claims = new Map<string, { token: string; until: number }>();
  readonly #replays = new Map<string, ReplayRecord>();
  /** The admin audit, oldest first (by seq). */
  readonly #audit: AuditRecord[] = [];
  readonly #deadGroups = new Map<string, { flow: string; step: string; code: string; members: Map<string, number> }>();
  readonly #dedupe = new Map<string, { until: number; owner: string | undefined }>();

  #fh: FileHandle | undefined;
  #size = 0;
  #liveSize = 0;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #broken: Error | undefined;
  #closed = false;

  constructor(options: EmbeddedJournalOptions) {
    this.#dir = options.dir;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#compactBytes = options.compactBytes ?? 64 * 1024 * 1024;
    this.#warn = options.onWarning ?? (() => {});
  }

  get #logPath(): string {
    return join(this.#dir, LOG);
  }

  /** Reads the log into memory. Called once by openEmbeddedJournal. */
  async load(): Promise<void> {
    let text: Buffer;
    try {
      text = await readFile(this.#logPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      text = Buffer.alloc(0);
    }
    let start = 0;
    let lineNo = 0;
    while (start < text.length) {
      const nl = text.indexOf(0x0a, start);
      if (nl < 0) {
        // A torn last line: the write that made it was never acknowledged. Cut it off so new lines start clean.
        this.#warn(`cutting off a torn last line (${text.length - start} bytes) from ${this.#logPath}`);
        await truncate(this.#logPath, start);
        break;
      }
      lineNo++;
      const line = text.subarray(start, nl).toString('utf8');
      start = nl + 1;
      if (line.length === 0) continue;
      let op: Op;
      try {
        op = JSON.parse(line) as Op;
      } catch {
        this.#warn(`skipping unreadable line ${lineNo} of ${this.#logPath}`);
        continue;
      }
      this.#apply(op);
    }
    this.#size = Math.min(start, text.length);
    this.#liveSize = this.#size;
    this.#fh = await open(this.#logPath, 'a');
  }

  // ------------------------------------------------------------------------------------------------------------
  // Applying operations to memory: the same code at load and at run time, so the two cannot disagree.

  #apply(op: Op): void {
    switch (op.o) {
      case 'rec': {
        if (!this.#records.has(op.m.id)) {
          const rec: Rec = { ...op.m, status: 'received', attempts: 0, updatedAt: op.m.receivedAt, timeline: [], replayedAs: [], ms: Date.parse(op.m.receivedAt) };
          this.#add(rec);
        }
        this.#events(op.m.id, op.e);
        break;
      }
      case 'ev':
        this.#events(op.id, op.e);
        break;
      case 'retry':
        this.#retries.set(op.id, { dueMs: op.due, attempt: op.attempt });
        this.#claims.delete(op.id);
        break;
      case 'unretry':
        this.#retries.delete(op.id);
        this.#claims.delete(op.id);
        break;
      case 'replay':
        this.#replays.set(op.r.requestKey, op.r);
        this.#records.get(op.r.originalId)?.replayedAs.push(op.r.newId);
        this.#events(op.r.originalId, op.e);
        break;
      case 'rps':
        this.#replays.set(op.r.requestKey, op.r);
        break;
      case 'rm': {
        const rec = this.#records.get(op.id);
        if (!rec) break;
        this.#leaveDeadGroup(rec);
        this.#records.delete(op.id);
        const entry = this.#entries.get(op.id)!;
        this.#entries.delete(op.id);
        entry.gone = true;
        this.#tombstones++;
        if (rec.correlationId !== undefined) {
          const same = this.#byCorrelation.get(rec.correlationId)?.filter((e) => e !== entry) ?? [];
          if (same.length > 0) this.#byCorrelation.set(rec.correlationId, same);
          else this.#byCorrelation.delete(rec.correlationId);
        }
        this.#retries.delete(op.id);
        this.#claims.delete(op.id);
        break;
      }
      case 'dd':
        this.#dedupe.set(op.k, { until: op.x, owner: op.w });
        break;
      case 'audit':
        this.#audit.push(op.a);
        if (this.#audit.length > AUDIT_KEPT * 1.1) this.#audit.splice(0, this.#audit.length - AUDIT_KEPT);
        break;
      case 'snap': {
        const rec = op.r;
        this.#add(rec);
        if (rec.deadGroup) this.#enterDeadGroup(rec, rec.timeline.findLast((e) => e.type === 'dead'));
        break;
      }
    }
  }

  #add(rec: Rec): void {
    this.#records.set(rec.id, rec);
    const entry = new Entry(rec);
    this.#entries.set(rec.id, entry);
    const last = this.#order[this.#order.length - 1];
    if (last !== undefined && older(entry, last)) this.#orderDirty = true;
    this.#order.push(entry);
    if (rec.correlationId !== undefined) {
      const same = this.#byCorrelation.get(rec.correlationId);
      if (same) same.push(entry);
      else this.#byCorrelation.set(rec.correlationId, [entry]);
    }
  }

  /** #order sorted and, past a quarter of tombstones, without them. */
  #sorted(): Entry[] {
    if (this.#tombstones > 0 && this.#tombstones * 4 > this.#order.length) {
      this.#order = this.#order.filter((e) => !e.gone);
      this.#tombstones = 0;
    }
    if (this.#orderDirty) {
      this.#order.sort((a, b) => a.ms - b.ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.#orderDirty = false;
    }
    return this.#order;
  }

  #events(id: string, events: TimelineEvent[]): void {
    const rec = this.#records.get(id);
    if (!rec) return;
    for (const event of events) {
      rec.timeline.push(event);
      foldEvent(rec, event);
      if (event.type === 'dead') this.#enterDeadGroup(rec, event);
      else if (rec.deadGroup && rec.status !== 'dead') this.#leaveDeadGroup(rec);
    }
    const entry = this.#entries.get(id)!;
    entry.status = rec.status;
    entry.lastError = rec.lastError;
  }

  #enterDeadGroup(rec: Rec, event: TimelineEvent | undefined): void {
    this.#leaveDeadGroup(rec);
    const g = deadGroupKey(event?.error ?? rec.lastError, rec.flow);
    let group = this.#deadGroups.get(g.key);
    if (!group) this.#deadGroups.set(g.key, (group = { flow: g.flow, step: g.step, code: g.code, members: new Map() }));
    group.members.set(rec.id, event ? Date.parse(event.at) : Date.now());
    rec.deadGroup = g.key;
  }

  #leaveDeadGroup(rec: Rec): void {
    if (!rec.deadGroup) return;
    const group = this.#deadGroups.get(rec.deadGroup);
    group?.members.delete(rec.id);
    if (group && group.members.size === 0) this.#deadGroups.delete(rec.deadGroup);
    delete rec.deadGroup;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Writing: apply in memory at once (callers see their own writes, and checks such as dedupe stay atomic), then
  // resolve after the group commit's fdatasync.

  #check(): void {
    if (this.#closed) throw new JournalError('CLOSED', 'the journal is closed');
    if (this.#broken) throw new JournalError('UNAVAILABLE', `the journal cannot write to ${this.#logPath}: ${this.#broken.message}`, { cause: this.#broken });
  }

  #write(ops: Op[]): Promise<void> {
    for (const op of ops) this.#apply(op);
    const line = ops.map((op) => JSON.stringify(op) + '\n').join('');
    const done = new Promise<void>((resolve, reject) => this.#pending.push({ line, resolve, reject }));
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = undefined));
    return done;
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        if (this.#broken) throw this.#broken;
        const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
        await this.#fh!.write(buf);
        await this.#fh!.datasync();
        this.#size += buf.length;
        for (const p of batch) p.resolve();
      } catch (err) {
        // Memory now holds what the disk may not: stop taking writes rather than acknowledge anything more.
        this.#broken ??= err as Error;
        const e = new JournalError('UNAVAILABLE', `the journal cannot write to ${this.#logPath}: ${(err as Error).message}`, { cause: err });
        for (const p of batch) p.reject(e);
        continue;
      }
      if (this.#size > this.#compactBytes && this.#size > 2 * this.#liveSize) {
        await this.#compact().catch((err: unknown) => this.#warn(`compaction of ${this.#logPath} failed (the log is kept as it is): ${(err as Error).message}`));
      }
    }
  }

  /**
   * Rewrites the log as a snapshot of what is live. Runs inside the flush loop, so no flush overlaps it. The snapshot
   * is taken in one synchronous pass: memory then holds exactly what the log and the writes pending at that moment
   * hold, so those writes are covered by it (resolved once it is durable, never appended again: they would be
   * applied twice on the next open), and writes made later go to the new log.
   */
  async #compact(): Promise<void> {
    const now = Date.now();
    const lines: string[] = [];
    for (const rec of this.#records.values()) lines.push(JSON.stringify({ o: 'snap', r: rec } satisfies Op));
    for (const [id, r] of this.#retries) lines.push(JSON.stringify({ o: 'retry', id, due: r.dueMs, attempt: r.attempt } satisfies Op));
    for (const r of this.#replays.values()) lines.push(JSON.stringify({ o: 'rps', r } satisfies Op));
    for (const [k, d] of this.#dedupe) if (d.until > now) lines.push(JSON.stringify({ o: 'dd', k, x: d.until, ...(d.owner ? { w: d.owner } : {}) } satisfies Op));
    for (const a of this.#audit.slice(-AUDIT_KEPT)) lines.push(JSON.stringify({ o: 'audit', a } satisfies Op));
    const covered = this.#pending;
    this.#pending = [];
    const tmp = `${this.#logPath}.compact`;
    let size = 0;
    try {
      const fh = await open(tmp, 'w');
      try {
        for (let i = 0; i < lines.length; i += 500) {
          const buf = Buffer.from(lines.slice(i, i + 500).join('\n') + '\n', 'utf8');
          await fh.write(buf);
          size += buf.length;
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.#logPath);
      const dirFd = openSync(this.#dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (err) {
      // The old log stands: what the snapshot covered goes to it as before.
      this.#pending = covered.concat(this.#pending);
      throw err;
    }
    await this.#fh!.close();
    this.#fh = await open(this.#logPath, 'a');
    this.#size = size;
    this.#liveSize = size;
    for (const p of covered) p.resolve();
  }

  // ------------------------------------------------------------------------------------------------------------
  // The contract

  async record(message: MessageInput, events: TimelineEvent[], options: { maxBodyBytes: number }): Promise<{ created: boolean }> {
    this.#check();
    validateMessageId(message.id);
    if (!message.flow) throw new JournalError('INVALID', 'message.flow must be set');
    validateEvents(events);
    toMs(message.receivedAt, 'message.receivedAt');
    if (this.#records.has(message.id)) {
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
    if (!this.#records.has(id)) throw notFound(id);
    await this.#write([{ o: 'ev', id, e: events }]);
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    this.#check();
    const rec = this.#records.get(id);
    if (!rec) return undefined;
    const { ms: _ms, deadGroup: _g, ...out } = structuredClone(rec);
    return out;
  }

  async query(q: MessageQuery): Promise<Page<MessageSummary>> {
    this.#check();
    const limit = pageLimit(q.limit);
    const cursor = decodeCursor(q.cursor);
    const test = compileFilter(q);
    const from = q.from === undefined ? -Infinity : toMs(q.from, 'from');
    const to = q.to === undefined ? Infinity : toMs(q.to, 'to');
    // Walk newest first from the newest record the cursor and `to` allow, down to `from`.
    let order: Entry[];
    if (q.correlationId !== undefined) {
      order = [...(this.#byCorrelation.get(q.correlationId) ?? [])].sort((a, b) => a.ms - b.ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    } else {
      order = this.#sorted();
    }
    // The first index past the records that come after the cursor and before `to` (those are a prefix, oldest first).
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const entry = order[mid]!;
      if (entry.ms < to && isAfter(entry, cursor)) lo = mid + 1;
      else hi = mid;
    }
    const items: MessageSummary[] = [];
    let last: Entry | undefined;
    for (let i = lo - 1; i >= 0; i--) {
      const entry = order[i]!;
      if (entry.ms < from) break;
      if (entry.gone || !test(entry)) continue;
      if (items.length === limit) return { items, next: encodeCursor({ ms: last!.ms, id: last!.id }) };
      items.push(summary(entry.rec));
      last = entry;
    }
    return { items };
  }

  async remove(id: string, options: { ifStatus?: MessageStatus[] } = {}): Promise<boolean> {
    this.#check();
    const rec = this.#records.get(id);
    if (!rec) return false;
    if (options.ifStatus && (!options.ifStatus.includes(rec.status) || this.#retries.has(id))) return false;
    await this.#write([{ o: 'rm', id }]);
    return true;
  }

  async scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    this.#check();
    const due = toMs(retry.dueAt, 'dueAt');
    if (!this.#records.has(id)) throw notFound(id);
    await this.#write([{ o: 'retry', id, due, attempt: retry.attempt }, { o: 'ev', id, e: [waitingEvent(retry)] }]);
  }

  async claimDueRetries(limit: number, options: { flows?: readonly string[] } = {}): Promise<RetryClaim[]> {
    this.#check();
    const now = Date.now();
    const flows = options.flows ? new Set(options.flows) : undefined;
    const due = [...this.#retries]
      .filter(([id, r]) => r.dueMs <= now && !((this.#claims.get(id)?.until ?? 0) > now) && (!flows || flows.has(this.#records.get(id)?.flow ?? '')))
      .sort((a, b) => a[1].dueMs - b[1].dueMs);
    return due.slice(0, Math.max(0, limit)).map(([id, r]) => {
      const token = randomUUID();
      this.#claims.set(id, { token, until: now + this.#leaseMs });
      return { id, flow: this.#records.get(id)?.flow ?? '', attempt: r.attempt, dueAt: new Date(r.dueMs).toISOString(), token };
    });
  }

  #holds(claim: RetryClaim): boolean {
    const c = this.#claims.get(claim.id);
    return c !== undefined && c.token === claim.token && c.until > Date.now();
  }

  async extendRetry(claim: RetryClaim): Promise<void> {
    this.#check();
    if (!this.#holds(claim)) throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held`);
    this.#claims.set(claim.id, { token: claim.token, until: Date.now() + this.#leaseMs });
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
      this.#claims.delete(claim.id);
      return;
    }
    const due = toMs(retry.dueAt, 'dueAt');
    const ops: Op[] = [{ o: 'retry', id: claim.id, due, attempt: retry.attempt }];
    if (this.#records.has(claim.id)) ops.push({ o: 'ev', id: claim.id, e: [waitingEvent(retry)] });
    await this.#write(ops);
  }

  async deadLetter(id: string, dead: { error: ErrorInfo; attempt: number; at?: string }): Promise<void> {
    await this.append(id, [{ type: 'dead', at: dead.at ?? new Date().toISOString(), attempt: dead.attempt, error: dead.error }]);
  }

  async deadLetterGroups(filter: { flow?: string } = {}): Promise<DeadLetterGroup[]> {
    this.#check();
    const out: DeadLetterGroup[] = [];
    for (const g of this.#deadGroups.values()) {
      if (filter.flow !== undefined && g.flow !== filter.flow) continue;
      // A loop, not Math.min(...times): a group of a few hundred thousand would overflow the call's arguments.
      let first = Infinity;
      let last = -Infinity;
      for (const t of g.members.values()) {
        if (t < first) first = t;
        if (t > last) last = t;
      }
      out.push({ flow: g.flow, step: g.step, code: g.code, count: g.members.size, firstSeen: new Date(first).toISOString(), lastSeen: new Date(last).toISOString() });
    }
    return out.sort((a, b) => b.count - a.count || a.flow.localeCompare(b.flow) || a.step.localeCompare(b.step) || a.code.localeCompare(b.code));
  }

  async recordReplay(request: ReplayRequest): Promise<ReplayOutcome> {
    this.#check();
    validateMessageId(request.requestKey, 'requestKey');
    validateMessageId(request.newId, 'newId');
    const earlier = this.#replays.get(request.requestKey);
    if (earlier) return { accepted: false, replay: earlier };
    const original = this.#records.get(request.originalId);
    if (!original) throw notFound(request.originalId);
    const replay = replayRecord(request, original.flow, original.body.sha256);
    await this.#write([{ o: 'replay', r: replay, e: replayEvents(replay) }]);
    return { accepted: true, replay };
  }

  async appendAudit(entry: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    this.#check();
    const a: AuditRecord = { seq: (this.#audit.at(-1)?.seq ?? 0) + 1, ...entry };
    await this.#write([{ o: 'audit', a }]);
    return { ...a };
  }

  async listAudit(filter: { action?: string; limit?: number; cursor?: string } = {}): Promise<Page<AuditRecord>> {
    this.#check();
    const limit = pageLimit(filter.limit);
    const before = filter.cursor === undefined ? Number.POSITIVE_INFINITY : Number(filter.cursor);
    const items: AuditRecord[] = [];
    // Oldest first by seq: binary search to the cursor, then walk down.
    let lo = 0;
    let hi = this.#audit.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#audit[mid]!.seq < before) lo = mid + 1;
      else hi = mid;
    }
    let i = lo - 1;
    for (; i >= 0 && items.length < limit; i--) {
      const a = this.#audit[i]!;
      if (filter.action === undefined || a.action === filter.action) items.push({ ...a });
    }
    let more = false;
    for (let j = i; j >= 0 && !more; j--) more = filter.action === undefined || this.#audit[j]!.action === filter.action;
    return { items, ...(more && items.length > 0 ? { next: String(items.at(-1)!.seq) } : {}) };
  }

  async getReplay(requestKey: string): Promise<ReplayRecord | undefined> {
    this.#check();
    const r = this.#replays.get(requestKey);
    return r && structuredClone(r);
  }

  async listReplays(filter: { originalId?: string; limit?: number; cursor?: string } = {}): Promise<Page<ReplayRecord>> {
    this.#check();
    const limit = pageLimit(filter.limit);
    const cursor = decodeCursor(filter.cursor);
    const all = [...this.#replays.values()]
      .filter((r) => filter.originalId === undefined || r.originalId === filter.originalId)
      .map((r) => ({ r, ms: Date.parse(r.at), id: r.requestKey }))
      .filter((p) => isAfter(p, cursor))
      .sort((a, b) => b.ms - a.ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const items = all.slice(0, limit);
    return { items: items.map((p) => structuredClone(p.r)), ...(all.length > limit ? { next: encodeCursor(items[items.length - 1]!) } : {}) };
  }

  async dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean> {
    this.#check();
    validateMessageId(key, 'dedupe key');
    if (!(ttlMs > 0)) throw new JournalError('INVALID', 'the dedupe time to live must be positive');
    const now = Date.now();
    const held = this.#dedupe.get(key);
    if (held !== undefined && held.until > now && (owner === undefined || held.owner !== owner)) return false;
    if (this.#dedupe.size > 10_000) for (const [k, d] of this.#dedupe) if (d.until <= now) this.#dedupe.delete(k);
    await this.#write([{ o: 'dd', k: key, x: now + ttlMs, ...(owner ? { w: owner } : {}) }]);
    return true;
  }

  async dedupeHolder(key: string): Promise<string | undefined> {
    this.#check();
    const held = this.#dedupe.get(key);
    return held !== undefined && held.until > Date.now() ? (held.owner ?? '') : undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing?.catch(() => {});
    await this.#fh?.close();
    this.#fh = undefined;
    await unlink(join(this.#dir, LOCK)).catch(() => {});
  }
}

function summary(rec: Rec): MessageSummary {
  return {
    id: rec.id,
    ...(rec.correlationId ? { correlationId: rec.correlationId } : {}),
    flow: rec.flow,
    source: rec.source,
    receivedAt: rec.receivedAt,
    updatedAt: rec.updatedAt,
    status: rec.status,
    attempts: rec.attempts,
    ...(rec.lastError ? { lastError: { ...rec.lastError } } : {}),
    ...(rec.replayOf ? { replayOf: rec.replayOf } : {}),
  };
}
