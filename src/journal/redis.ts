/**
 * The Redis journal: what production and several hub replicas use, configured by a URL (REDIS_URL). Records,
 * timelines, indexes and dead-letter groups live in Redis hashes, lists and sorted sets under one key prefix
 * (README.md has the layout); writes that touch several keys are Lua scripts (redis/scripts.ts), hence atomic; a
 * query walks the narrowest index (redis/message-query.ts). Durable retries are BullMQ delayed jobs, one queue per
 * flow under the same prefix (redis/retry-queues.ts). Connections are set up as BullMQ's production guide says, and
 * open() warns when Redis may evict journal keys (redis/connections.ts).
 */
import { Redis } from 'ioredis';
import type {
  GroupAdd,
  GroupMember,
  GroupSummary,
  AuditRecord,
  DeadLetterGroup,
  DedupeReservation,
  ErrorInfo,
  FlowStatusCounts,
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
  StoredBody,
  TimelineEvent,
} from './contract.js';
import { AUDIT_KEPT, REPLAY_JOBS_KEPT } from './contract.js';
import { JournalError, notFound } from './errors.js';
import { checkJob, decodeCursor, encodeCursor, isAfter, pageLimit, replayEvents, replayRecord, storeBody, toMs, validateEvents, validateGroupArgs, validateMessageId, validateReservation, waitingEvent } from './shared.js';
import { checkEvictionPolicy, connect, redact } from './redis/connections.js';
import { queryMessages, summaryOf } from './redis/message-query.js';
import { RetryQueues } from './redis/retry-queues.js';
import { RedisGroups } from './redis/groups.js';
import { defineJournalCommands, eventArgs, RESERVED, type JournalRedis } from './redis/scripts.js';

export { checkEvictionPolicy, evictionWarning } from './redis/connections.js';

export interface RedisJournalOptions {
  /** redis://[user:password@]host:port[/db]; REDIS_URL in the hub's configuration. */
  url: string;
  /** Every key of this journal starts with it (default "hub:journal"): two hubs, or two tests, never meet. */
  prefix?: string;
  /** How long a retry claim lasts (ms), BullMQ's lockDuration; default 30 s. */
  leaseMs?: number;
  /** Told about an eviction policy that can lose data, and about retries whose claimer stalled. */
  onWarning?: (message: string) => void;
}

/** Connects, checks the eviction policy, and returns the journal. Rejects UNAVAILABLE when Redis cannot be reached. */
export async function openRedisJournal(options: RedisJournalOptions): Promise<RedisJournal> {
  const warn = options.onWarning ?? (() => {});
  const { producer, worker } = await connect(options.url);
  const warning = await checkEvictionPolicy(producer);
  if (warning) warn(warning);
  const journal = new RedisJournal(options, defineJournalCommands(producer), worker, warn);
  try {
    await journal.moveLegacyRetries();
  } catch (err) {
    await journal.close();
    throw new JournalError('UNAVAILABLE', `cannot move the waiting retries to their flows' queues in Redis at ${redact(options.url)}: ${(err as Error).message}`, { cause: err });
  }
  return journal;
}

/** The fields #write passes for an append (the record exists: nothing of it is set). */
const APPEND_ONLY = { flow: '', corr: '', at: '', ms: 0 };

export class RedisJournal implements Journal {
  readonly #p: string;
  readonly #redis: JournalRedis;
  readonly #workerConnection: Redis;
  readonly #retries: RetryQueues;
  readonly #groups: RedisGroups;
  #closed = false;

  constructor(options: RedisJournalOptions, producer: JournalRedis, workerConnection: Redis, warn: (message: string) => void) {
    this.#p = options.prefix ?? 'hub:journal';
    this.#redis = producer;
    this.#workerConnection = workerConnection;
    this.#groups = new RedisGroups(producer, this.#p);
    this.#retries = new RetryQueues(producer, workerConnection, {
      prefix: this.#p,
      leaseMs: options.leaseMs ?? 30_000,
      warn,
      hasRecord: async (id) => (await producer.exists(this.#k('m', id))) > 0,
    });
  }

  /** Moves the retries waiting in the single queue of earlier versions to their flows' queues. Called by open. */
  moveLegacyRetries(): Promise<void> {
    return this.#retries.moveLegacy();
  }

  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new JournalError('CLOSED', 'the journal is closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof JournalError) throw err;
      throw new JournalError('UNAVAILABLE', `the journal could not ${what} in Redis: ${(err as Error).message}`, { cause: err });
    }
  }

  #k(...parts: string[]): string {
    return [this.#p, ...parts].join(':');
  }

  /** Creates a record (with `meta`) unless it exists, and applies events to it; "" as meta only appends. */
  async #write(id: string, meta: string, fields: { flow: string; corr: string; at: string; ms: number }, events: TimelineEvent[]): Promise<boolean> {
    try {
      const created = await this.#redis.journalWrite(this.#p, id, meta, fields.flow, fields.corr, fields.at, fields.ms, events.length, ...eventArgs(events));
      return created === 1;
    } catch (err) {
      if (/\bNOT_FOUND\b/.test((err as Error).message)) throw notFound(id);
      throw err;
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // MessageLog

  record(message: MessageInput, events: TimelineEvent[], options: { maxBodyBytes: number }): Promise<{ created: boolean }> {
    return this.#run('record a message', async () => {
      validateMessageId(message.id);
      if (!message.flow) throw new JournalError('INVALID', 'message.flow must be set');
      validateEvents(events);
      const ms = toMs(message.receivedAt, 'message.receivedAt');
      const meta = {
        id: message.id,
        ...(message.correlationId ? { correlationId: message.correlationId } : {}),
        flow: message.flow,
        source: message.source,
        receivedAt: message.receivedAt,
        headers: { ...message.headers },
        body: storeBody(message.body, options.maxBodyBytes),
        ...(message.replayOf ? { replayOf: message.replayOf } : {}),
      };
      const created = await this.#write(message.id, JSON.stringify(meta), { flow: message.flow, corr: message.correlationId ?? '', at: message.receivedAt, ms }, events);
      return { created };
    });
  }

  append(id: string, events: TimelineEvent[]): Promise<void> {
    return this.#run('append events', async () => {
      validateEvents(events);
      await this.#write(id, '', APPEND_ONLY, events);
    });
  }

  get(id: string): Promise<MessageRecord | undefined> {
    return this.#run('read a message', async () => {
      const [[, fields], [, timeline], [, replayedAs]] = (await this.#redis.multi().hgetall(this.#k('m', id)).lrange(this.#k('t', id), 0, -1).lrange(this.#k('ra', id), 0, -1).exec()) as [[unknown, Record<string, string>], [unknown, string[]], [unknown, string[]]];
      if (!fields.m) return undefined;
      const meta = JSON.parse(fields.m) as Omit<MessageRecord, 'status'> & { body: StoredBody };
      return { ...summaryOf(fields), headers: meta.headers, body: meta.body, timeline: timeline.map((e) => JSON.parse(e) as TimelineEvent), replayedAs };
    });
  }

  query(q: MessageQuery): Promise<Page<MessageSummary>> {
    return this.#run('query messages', () => queryMessages(this.#redis, (...parts) => this.#k(...parts), q));
  }

  remove(id: string, options: { ifStatus?: MessageStatus[] } = {}): Promise<boolean> {
    return this.#run('remove a message', async () => {
      const flow = await this.#redis.hget(this.#k('m', id), 'flow');
      if (flow === null) return false;
      const removed = (await this.#redis.journalRemove(this.#p, id, options.ifStatus?.join(',') ?? '', this.#retries.jobKey(flow, id), flow)) === 1;
      if (!removed) return false;
      await this.#retries.removeWaiting(flow, id);
      return removed;
    });
  }

  deadLetter(id: string, dead: { error: ErrorInfo; attempt: number; at?: string }): Promise<void> {
    return this.append(id, [{ type: 'dead', at: dead.at ?? new Date().toISOString(), attempt: dead.attempt, error: dead.error }]);
  }

  deadLetterGroups(filter: { flow?: string } = {}): Promise<DeadLetterGroup[]> {
    return this.#run('read dead-letter groups', async () => {
      const groups = await this.#redis.hgetall(this.#k('dg'));
      const entries = Object.entries(groups)
        .map(([key, json]) => ({ key, ...(JSON.parse(json) as { flow: string; step: string; code: string }) }))
        .filter((g) => filter.flow === undefined || g.flow === filter.flow);
      const pipe = this.#redis.pipeline();
      for (const g of entries) pipe.zcard(this.#k('dg', g.key)).zrange(this.#k('dg', g.key), '0', '0', 'WITHSCORES').zrange(this.#k('dg', g.key), '-1', '-1', 'WITHSCORES');
      const res = ((await pipe.exec()) ?? []).map(([, v]) => v);
      const out: DeadLetterGroup[] = [];
      entries.forEach((g, i) => {
        const count = res[i * 3] as number;
        const first = res[i * 3 + 1] as string[];
        const last = res[i * 3 + 2] as string[];
        if (count > 0) out.push({ flow: g.flow, step: g.step, code: g.code, count, firstSeen: new Date(Number(first[1])).toISOString(), lastSeen: new Date(Number(last[1])).toISOString() });
      });
      return out.sort((a, b) => b.count - a.count || a.flow.localeCompare(b.flow) || a.step.localeCompare(b.step) || a.code.localeCompare(b.code));
    });
  }

  statusCounts(filter: { flow?: string } = {}): Promise<FlowStatusCounts[]> {
    return this.#run('read status counts', async () => {
      const byFlow = new Map<string, FlowStatusCounts['counts']>();
      for (const [field, value] of Object.entries(await this.#redis.hgetall(this.#k('sc')))) {
        const [flow = '', status] = field.split('\0');
        const n = Number(value);
        if (n <= 0 || (filter.flow !== undefined && flow !== filter.flow)) continue;
        let counts = byFlow.get(flow);
        if (!counts) byFlow.set(flow, (counts = {}));
        counts[status as MessageStatus] = n;
      }
      return [...byFlow].map(([flow, counts]) => ({ flow, counts })).sort((a, b) => a.flow.localeCompare(b.flow));
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // RetryQueue

  scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    return this.#run('schedule a retry', async () => {
      const due = toMs(retry.dueAt, 'dueAt');
      const flow = await this.#redis.hget(this.#k('m', id), 'flow');
      if (flow === null) throw notFound(id);
      // The job first, then the event: a crash between the two retries a message that looks failed, never the reverse.
      await this.#retries.schedule({ id, flow, attempt: retry.attempt, dueAt: retry.dueAt }, due);
      await this.#write(id, '', APPEND_ONLY, [waitingEvent(retry)]);
    });
  }

  claimDueRetries(limit: number, options: { flows?: readonly string[] } = {}): Promise<RetryClaim[]> {
    return this.#run('claim retries', () => this.#retries.claim(limit, options.flows));
  }

  extendRetry(claim: RetryClaim): Promise<void> {
    return this.#run('extend a retry claim', () => this.#retries.extend(claim));
  }

  completeRetry(claim: RetryClaim): Promise<void> {
    return this.#run('complete a retry', () => this.#retries.complete(claim));
  }

  releaseRetry(claim: RetryClaim, retry?: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    return this.#run('release a retry', async () => {
      await this.#retries.release(claim, retry);
      if (retry) await this.#write(claim.id, '', APPEND_ONLY, [waitingEvent(retry)]).catch(() => {});
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // ReplayBook

  recordReplay(request: ReplayRequest): Promise<ReplayOutcome> {
    return this.#run('record a replay', async () => {
      validateMessageId(request.requestKey, 'requestKey');
      validateMessageId(request.newId, 'newId');
      const earlier = await this.#redis.get(this.#k('rp', request.requestKey));
      if (earlier) return { accepted: false, replay: JSON.parse(earlier) as ReplayRecord };
      const meta = await this.#redis.hget(this.#k('m', request.originalId), 'm');
      if (meta === null) throw notFound(request.originalId);
      const original = JSON.parse(meta) as { flow: string; body: StoredBody };
      const replay = replayRecord(request, original.flow, original.body.sha256);
      let result: string;
      try {
        const events = replayEvents(replay);
        result = await this.#redis.journalReplay(this.#p, replay.requestKey, replay.originalId, JSON.stringify(replay), Date.parse(replay.at), replay.newId, events.length, ...eventArgs(events));
      } catch (err) {
        if (/\bNOT_FOUND\b/.test((err as Error).message)) throw notFound(request.originalId);
        throw err;
      }
      return result === '' ? { accepted: true, replay } : { accepted: false, replay: JSON.parse(result) as ReplayRecord };
    });
  }

  getReplay(requestKey: string): Promise<ReplayRecord | undefined> {
    return this.#run('read a replay', async () => {
      const json = await this.#redis.get(this.#k('rp', requestKey));
      return json === null ? undefined : (JSON.parse(json) as ReplayRecord);
    });
  }

  listReplays(filter: { originalId?: string; limit?: number; cursor?: string } = {}): Promise<Page<ReplayRecord>> {
    return this.#run('list replays', async () => {
      const limit = pageLimit(filter.limit);
      const cursor = decodeCursor(filter.cursor);
      const index = filter.originalId !== undefined ? this.#k('rpo', filter.originalId) : this.#k('rps');
      const count = limit + 1 + (cursor ? 1000 : 0);
      const flat = await this.#redis.zrange(index, cursor ? String(cursor.ms) : '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, count, 'WITHSCORES');
      const keys: { id: string; ms: number }[] = [];
      for (let i = 0; i < flat.length; i += 2) keys.push({ id: flat[i]!, ms: Number(flat[i + 1]) });
      const page = keys.filter((k) => isAfter(k, cursor)).slice(0, limit + 1);
      const rows = page.length === 0 ? [] : await this.#redis.mget(...page.slice(0, limit).map((k) => this.#k('rp', k.id)));
      const items = rows.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as ReplayRecord);
      return { items, ...(page.length > limit ? { next: encodeCursor(page[limit - 1]!) } : {}) };
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // DedupeKeys

  dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean> {
    return this.#run('check a dedupe key', async () => {
      validateMessageId(key, 'dedupe key');
      if (!(ttlMs > 0)) throw new JournalError('INVALID', 'the dedupe time to live must be positive');
      return (await this.#redis.journalDedupe(this.#k('d', key), owner ?? '', Math.ceil(ttlMs))) === 1;
    });
  }

  dedupeHolder(key: string): Promise<string | undefined> {
    return this.#run('read a dedupe key', async () => {
      const held = await this.#redis.get(this.#k('d', key));
      return held?.startsWith(RESERVED) ? held.slice(RESERVED.length) : (held ?? undefined);
    });
  }

  reserveDedupe(key: string, owner: string, leaseMs: number): Promise<DedupeReservation> {
    return this.#run('reserve a dedupe key', async () => {
      validateReservation(key, owner, leaseMs);
      const found = await this.#redis.journalReserve(this.#k('d', key), owner, Math.ceil(leaseMs));
      return found === 1 ? 'reserved' : found === 2 ? 'busy' : 'held';
    });
  }

  releaseDedupe(key: string, owner: string): Promise<void> {
    return this.#run('release a dedupe key', async () => {
      await this.#redis.journalRelease(this.#k('d', key), owner);
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // AggregateGroups (redis/groups.ts)

  addToGroup(scope: string, key: string, member: GroupMember, options: { newGroupId: string; maxOpen?: number; refuseClosed?: boolean }): Promise<GroupAdd> {
    return this.#run('add a member to its group', async () => {
      validateGroupArgs(scope, key, member.id);
      validateMessageId(options.newGroupId, 'group id');
      return this.#groups.add(scope, key, member, options);
    });
  }

  sealGroup(scope: string, groupId: string, seal: { reason: string; closedTtlMs?: number }): Promise<{ group: GroupSummary; members: GroupMember[]; first: boolean } | undefined> {
    return this.#run('seal a group', () => this.#groups.seal(scope, groupId, seal));
  }

  removeGroup(scope: string, groupId: string): Promise<boolean> {
    return this.#run('remove a group', () => this.#groups.remove(scope, groupId));
  }

  listGroups(scope: string): Promise<GroupSummary[]> {
    return this.#run('list the groups', () => this.#groups.list(scope));
  }

  // ------------------------------------------------------------------------------------------------------------
  // AdminAudit

  saveReplayJob(job: ReplayJobRecord): Promise<void> {
    return this.#run('save a replay job', async () => {
      checkJob(job);
      await this.#redis.multi().set(this.#k('job', job.id), JSON.stringify(job)).zadd(this.#k('jobs'), toMs(job.startedAt, 'job.startedAt'), job.id).exec();
      const old = await this.#redis.zrange(this.#k('jobs'), '0', String(-(REPLAY_JOBS_KEPT + 1)));
      if (old.length > 0) await this.#redis.multi().zrem(this.#k('jobs'), ...old).del(...old.flatMap((id) => [this.#k('job', id), this.#k('jres', id)])).exec();
    });
  }

  listReplayJobs(limit = REPLAY_JOBS_KEPT): Promise<ReplayJobRecord[]> {
    return this.#run('list replay jobs', async () => {
      const ids = await this.#redis.zrange(this.#k('jobs'), '0', String(limit - 1), 'REV');
      if (ids.length === 0) return [];
      const jsons = await this.#redis.mget(...ids.map((id) => this.#k('job', id)));
      return jsons.filter((j): j is string => j !== null).map((j) => JSON.parse(j) as ReplayJobRecord);
    });
  }

  getReplayJob(id: string): Promise<ReplayJobRecord | undefined> {
    return this.#run('read a replay job', async () => {
      const json = await this.#redis.get(this.#k('job', id));
      return json === null ? undefined : (JSON.parse(json) as ReplayJobRecord);
    });
  }

  appendReplayJobResults(id: string, results: ReplayJobResult[]): Promise<void> {
    return this.#run('append replay job results', async () => {
      if (results.length > 0) await this.#redis.rpush(this.#k('jres', id), ...results.map((r) => JSON.stringify(r)));
    });
  }

  replayJobResults(id: string, options: { offset?: number; limit?: number } = {}): Promise<{ items: ReplayJobResult[]; total: number }> {
    return this.#run('read replay job results', async () => {
      const offset = options.offset ?? 0;
      const [[, items], [, total]] = (await this.#redis.multi().lrange(this.#k('jres', id), offset, offset + (options.limit ?? 100) - 1).llen(this.#k('jres', id)).exec()) as [[unknown, string[]], [unknown, number]];
      return { items: items.map((r) => JSON.parse(r) as ReplayJobResult), total };
    });
  }

  appendAudit(entry: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    return this.#run('append to the audit', async () => {
      // INCR gives one order across replicas; the sorted set keeps the entries by it, trimmed to the newest.
      const a: AuditRecord = { seq: await this.#redis.incr(this.#k('audit', 'seq')), ...entry };
      await this.#redis.multi().zadd(this.#k('audit'), a.seq, JSON.stringify(a)).zremrangebyrank(this.#k('audit'), 0, -(AUDIT_KEPT + 1)).exec();
      return a;
    });
  }

  listAudit(filter: { action?: string; limit?: number; cursor?: string } = {}): Promise<Page<AuditRecord>> {
    return this.#run('list the audit', async () => {
      const limit = pageLimit(filter.limit);
      const items: AuditRecord[] = [];
      let max = filter.cursor === undefined ? '+inf' : `(${Number(filter.cursor)}`;
      let more = false;
      // Read in chunks, newest first, until the page is full and one more match shows there is a next page.
      for (let scanned = 0; scanned < 20_000; scanned += 500) {
        const chunk = await this.#redis.zrange(this.#k('audit'), max, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 500);
        for (const json of chunk) {
          const a = JSON.parse(json) as AuditRecord;
          if (filter.action !== undefined && a.action !== filter.action) continue;
          if (items.length === limit) {
            more = true;
            break;
          }
          items.push(a);
        }
        if (more || chunk.length < 500) break;
        max = `(${(JSON.parse(chunk.at(-1)!) as AuditRecord).seq}`;
      }
      return { items, ...(more ? { next: String(items.at(-1)!.seq) } : {}) };
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Lifecycle

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#retries.close();
    this.#redis.disconnect();
    this.#workerConnection.disconnect();
  }
}

/**
 * Deletes a whole Redis journal: every key under `prefix` (records, indexes, replays, dedupe keys and the BullMQ
 * retry queue), with SCAN, never KEYS, since the Redis may be shared. For retiring a journal, and for tests and
 * benchmarks, which give each run a fresh prefix. Resolves with the number of keys deleted.
 */
export async function deleteRedisJournal(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
