/**
 * The Redis journal: what production and several hub replicas use, configured by a URL (REDIS_URL). Records,
 * timelines, indexes and dead-letter groups live in Redis hashes, lists and sorted sets under one key prefix;
 * durable retries are BullMQ delayed jobs in one queue per flow under the same prefix, split by role as BullMQ
 * intends: a Queue produces them, a Worker (fetching manually) claims them and notices stalls. A queue per flow,
 * because BullMQ hands out a queue's next job whatever it is: flow services sharing this journal each claim from
 * their own flow's queue, and never hold back another flow's retry (a claim taken and dropped lasts a lease).
 *
 * Set up as BullMQ's production guide says: the worker's connections have maxRetriesPerRequest null (a worker
 * waits out a Redis restart instead of failing), the producer's connection has no offline queue (a write while
 * Redis is away fails at once, so no transport is acknowledged on the strength of a write Redis never saw), and
 * open() warns when maxmemory-policy is not noeviction (Redis would otherwise be free to evict journal keys).
 *
 * Multi-key writes run as Lua scripts, so each is atomic; the scripts build key names from the prefix, so the
 * journal needs a single Redis (or a primary with replicas), not a Redis Cluster.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
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
import { AUDIT_KEPT, STATUS_OF_EVENT } from './contract.js';
import { JournalError, notFound } from './errors.js';
import { compileFilter, decodeCursor, encodeCursor, isAfter, pageLimit, replayEvents, replayRecord, storeBody, toMs, validateEvents, validateMessageId, waitingEvent, type FilterFields } from './shared.js';

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

/** The retry queue of one flow (BullMQ queue names may not contain ":"). */
function queueName(flow: string): string {
  return `retries.${flow.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}
/** Where retries waited before they had a queue per flow; open() moves any it finds to their flow's queue. */
const LEGACY_QUEUE = 'retries';
/** Longest close() waits for BullMQ's queues and workers to close before it drops the connections. */
const CLOSE_WAIT_MS = 2_000;

/** What the warning says when Redis may evict journal keys; undefined when the policy is safe. */
export function evictionWarning(policy: string | undefined): string | undefined {
  if (policy === 'noeviction') return undefined;
  if (policy === undefined) return 'could not read Redis\'s maxmemory-policy (CONFIG GET is not allowed?): make sure it is noeviction, or Redis may evict journal records and waiting retries under memory pressure';
  return `Redis's maxmemory-policy is "${policy}", not noeviction: under memory pressure Redis may evict journal records and waiting retries, and the hub would lose messages. Set maxmemory-policy noeviction.`;
}

/** Reads maxmemory-policy through CONFIG GET and returns the warning to give, if any. */
export async function checkEvictionPolicy(client: { config(op: 'GET', name: string): Promise<unknown> }): Promise<string | undefined> {
  let policy: string | undefined;
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1];
  } catch {
    policy = undefined;
  }
  return evictionWarning(policy);
}

// Applies events to one record: timeline, status, attempts, last error, updatedAt, status and error-code indexes,
// dead-letter groups. Shared by the scripts below. ARGV from `first`: six per event (raw JSON, status or "",
// attempt or "", error JSON or "", at ISO, at ms).
const APPLY = `
local function leaveGroup(P, id, rk)
  local g = redis.call('HGET', rk, 'dg')
  if not g then return end
  local gk = P .. ':dg:' .. g
  redis.call('ZREM', gk, id)
  if redis.call('ZCARD', gk) == 0 then redis.call('DEL', gk); redis.call('HDEL', P .. ':dg', g) end
  redis.call('HDEL', rk, 'dg')
end
local function apply(P, id, first, n)
  local rk = P .. ':m:' .. id
  local f = redis.call('HMGET', rk, 'status', 'attempts', 'lastError', 'updatedAt', 'ms', 'flow', 'code')
  local status, attempts, lastError, updatedAt, ms, flow, code = f[1], tonumber(f[2]), f[3], f[4], f[5], f[6], f[7]
  local oldStatus, oldCode = status, code
  for i = 0, n - 1 do
    local b = first + i * 6
    local raw, st, att, errj, at, atMs = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
    redis.call('RPUSH', P .. ':t:' .. id, raw)
    if st ~= '' then status = st end
    if att ~= '' and tonumber(att) > attempts then attempts = tonumber(att) end
    if errj ~= '' then lastError = errj; code = cjson.decode(errj).code end
    if at > updatedAt then updatedAt = at end
    if st == 'dead' then
      leaveGroup(P, id, rk)
      local e = cjson.decode(lastError or '{}')
      local step = e.step or ''
      local c = e.code or 'UNKNOWN'
      local g = flow .. '\\0' .. step .. '\\0' .. c
      redis.call('HSET', P .. ':dg', g, cjson.encode({ flow = flow, step = step, code = c }))
      redis.call('ZADD', P .. ':dg:' .. g, atMs, id)
      redis.call('HSET', rk, 'dg', g)
    elseif st ~= '' then
      leaveGroup(P, id, rk)
    end
  end
  if status ~= oldStatus then
    redis.call('ZREM', P .. ':i:status:' .. oldStatus, id)
    redis.call('ZADD', P .. ':i:status:' .. status, ms, id)
  end
  if code and code ~= oldCode then
    if oldCode then redis.call('ZREM', P .. ':i:code:' .. oldCode, id) end
    redis.call('ZADD', P .. ':i:code:' .. code, ms, id)
    redis.call('HSET', rk, 'code', code)
  end
  redis.call('HSET', rk, 'status', status, 'attempts', attempts, 'updatedAt', updatedAt)
  if lastError then redis.call('HSET', rk, 'lastError', lastError) end
end
`;

// record: ARGV P, id, meta JSON or "" (append only), flow, correlation id, receivedAt, ms, n, events...
const WRITE = `${APPLY}
local P, id, meta = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. ':m:' .. id
local created = 0
if redis.call('EXISTS', rk) == 0 then
  if meta == '' then return redis.error_reply('NOT_FOUND') end
  local flow, corr, at, ms = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  redis.call('HSET', rk, 'm', meta, 'status', 'received', 'attempts', 0, 'updatedAt', at, 'ms', ms, 'flow', flow)
  redis.call('ZADD', P .. ':i:all', ms, id)
  redis.call('ZADD', P .. ':i:flow:' .. flow, ms, id)
  redis.call('ZADD', P .. ':i:status:received', ms, id)
  if corr ~= '' then redis.call('ZADD', P .. ':i:corr:' .. corr, ms, id); redis.call('HSET', rk, 'corr', corr) end
  created = 1
end
apply(P, id, 9, tonumber(ARGV[8]))
return created
`;

// replay: ARGV P, requestKey, originalId, replay JSON, at ms, newId, n, events... Returns the earlier replay's JSON
// when the key was accepted before, else "" (accepted now).
const REPLAY = `${APPLY}
local P, key, orig, replay, atMs, newId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local earlier = redis.call('GET', P .. ':rp:' .. key)
if earlier then return earlier end
if redis.call('EXISTS', P .. ':m:' .. orig) == 0 then return redis.error_reply('NOT_FOUND') end
redis.call('SET', P .. ':rp:' .. key, replay)
redis.call('ZADD', P .. ':rps', atMs, key)
redis.call('ZADD', P .. ':rpo:' .. orig, atMs, key)
redis.call('RPUSH', P .. ':ra:' .. orig, newId)
apply(P, orig, 8, tonumber(ARGV[7]))
return ''
`;

// remove: ARGV P, id. Returns 1 when there was a record.
const REMOVE = `${APPLY}
local P, id, only, job, flow = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rk = P .. ':m:' .. id
if redis.call('EXISTS', rk) == 0 then return 0 end
local f = redis.call('HMGET', rk, 'flow', 'corr', 'status', 'code')
if only ~= '' then
  if not string.find(',' .. only .. ',', ',' .. f[3] .. ',', 1, true) then return 0 end
  if f[1] ~= flow or redis.call('EXISTS', job) == 1 then return 0 end
end
leaveGroup(P, id, rk)
redis.call('ZREM', P .. ':i:all', id)
redis.call('ZREM', P .. ':i:flow:' .. f[1], id)
if f[2] then redis.call('ZREM', P .. ':i:corr:' .. f[2], id) end
redis.call('ZREM', P .. ':i:status:' .. f[3], id)
if f[4] then redis.call('ZREM', P .. ':i:code:' .. f[4], id) end
redis.call('DEL', rk, P .. ':t:' .. id, P .. ':ra:' .. id)
return 1
`;

/** A dedupe key: taken when free; held by the same (non-empty) owner, its time to live starts again. */
const DEDUPE = `
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if ARGV[1] ~= '' and held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

interface JournalRedis extends Redis {
  journalDedupe(key: string, owner: string, ttlMs: number): Promise<number>;
  journalWrite(...args: (string | number)[]): Promise<number>;
  journalReplay(...args: (string | number)[]): Promise<string>;
  journalRemove(...args: (string | number)[]): Promise<number>;
}

interface RetryData {
  id: string;
  flow: string;
  attempt: number;
  dueAt: string;
}

/** BullMQ job ids may not contain ":" nor be integers. */
function jobIdOf(id: string): string {
  return `r-${id.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

function eventArgs(events: TimelineEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    out.push(JSON.stringify(e), STATUS_OF_EVENT[e.type] ?? '', e.attempt === undefined ? '' : String(e.attempt), e.error ? JSON.stringify({ code: e.error.code, message: e.error.message, ...(e.error.step ? { step: e.error.step } : {}) }) : '', e.at, String(Date.parse(e.at)));
  }
  return out;
}

/** Connects, checks the eviction policy, and returns the journal. Rejects UNAVAILABLE when Redis cannot be reached. */
export async function openRedisJournal(options: RedisJournalOptions): Promise<RedisJournal> {
  const warn = options.onWarning ?? (() => {});
  // The producer side: records and enqueued retries. No offline queue: a write while Redis is away fails at once.
  const producer = new Redis(options.url, { enableOfflineQueue: false }) as JournalRedis;
  // The worker side: waits out a Redis restart (BullMQ requires maxRetriesPerRequest null for workers); each flow's
  // Worker adds a blocking connection of its own, made from it.
  const worker = new Redis(options.url, { maxRetriesPerRequest: null });
  const all = [producer, worker];
  try {
    await Promise.all(all.map(ready));
  } catch (err) {
    for (const c of all) c.disconnect();
    throw new JournalError('UNAVAILABLE', `cannot connect to Redis at ${redact(options.url)}: ${(err as Error).message}`, { cause: err });
  }
  for (const c of all) c.on('error', () => {}); // each command reports its own failure; reconnecting is ioredis's job
  const warning = await checkEvictionPolicy(producer);
  if (warning) warn(warning);
  producer.defineCommand('journalWrite', { numberOfKeys: 0, lua: WRITE });
  producer.defineCommand('journalReplay', { numberOfKeys: 0, lua: REPLAY });
  producer.defineCommand('journalRemove', { numberOfKeys: 0, lua: REMOVE });
  producer.defineCommand('journalDedupe', { numberOfKeys: 1, lua: DEDUPE });
  const journal = new RedisJournal(options, producer, worker, warn);
  try {
    await journal.moveLegacyRetries();
  } catch (err) {
    await journal.close();
    throw new JournalError('UNAVAILABLE', `cannot move the waiting retries to their flows' queues in Redis at ${redact(options.url)}: ${(err as Error).message}`, { cause: err });
  }
  return journal;
}

function ready(client: Redis): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.status === 'ready') return resolve();
    client.once('ready', () => resolve());
    client.once('error', reject);
  });
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export class RedisJournal implements Journal {
  readonly #p: string;
  readonly #redis: JournalRedis;
  readonly #workerConnection: Redis;
  readonly #leaseMs: number;
  readonly #warn: (message: string) => void;
  /** Each flow's retry queue (producing shares the producer connection), made when first needed. */
  readonly #queues = new Map<string, Queue<RetryData>>();
  /**
   * Each flow's claimer, made at the first claim of a flow that has retries: each holds a connection of its own
   * for BullMQ, and finds the stalled claims of its flow (a replica that died holding them), so only processes
   * that run the flow recover its retries, and flows without durable retries cost nothing.
   */
  readonly #workers = new Map<string, Worker<RetryData>>();
  /** Where claims of several flows start, so that one busy flow does not keep the others waiting. */
  #nextFlow = 0;
  #closed = false;

  constructor(options: RedisJournalOptions, producer: JournalRedis, workerConnection: Redis, warn: (message: string) => void) {
    this.#p = options.prefix ?? 'hub:journal';
    this.#redis = producer;
    this.#workerConnection = workerConnection;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#warn = warn;
  }

  #queue(flow: string): Queue<RetryData> {
    const name = queueName(flow);
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue<RetryData>(name, { connection: this.#redis, prefix: this.#p, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
      // Without a listener BullMQ prints each connection error to stderr while Redis is away; each call reports its own.
      queue.on('error', () => {});
      this.#queues.set(name, queue);
    }
    return queue;
  }

  #worker(flow: string): Worker<RetryData> {
    let worker = this.#workers.get(flow);
    if (!worker) {
      worker = new Worker<RetryData>(queueName(flow), null, {
        connection: this.#workerConnection,
        prefix: this.#p,
        autorun: false,
        lockDuration: this.#leaseMs,
        // Stalls are found within two intervals of the lease running out.
        stalledInterval: Math.max(250, Math.min(this.#leaseMs / 2, 30_000)),
        // A retry whose claimer died goes back to wait however often that happens: failing it would lose the message.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      worker.on('error', () => {});
      worker.on('stalled', (jobId: string) => this.#warn(`retry ${jobId} of flow "${flow}": the replica that claimed it stopped before finishing; it is due again`));
      void worker.startStalledCheckTimer();
      this.#workers.set(flow, worker);
    }
    return worker;
  }

  /**
   * Moves the retries still waiting in the single queue of earlier versions to their flow's queue, same job id and
   * due time (adding is idempotent by job id, so two processes opening at once move each once). One claimed by a
   * process of an earlier version is left to it.
   */
  async moveLegacyRetries(): Promise<void> {
    const legacy = new Queue<RetryData>(LEGACY_QUEUE, { connection: this.#redis, prefix: this.#p });
    legacy.on('error', () => {});
    try {
      if ((await legacy.count()) === 0) return;
      for (const job of await legacy.getJobs(['delayed', 'wait', 'prioritized'])) {
        if (!job?.id) continue;
        const due = Date.parse(job.data.dueAt);
        await this.#retryFlows([job.data.flow]);
        await this.#queue(job.data.flow).add('retry', job.data, { jobId: job.id, delay: Math.max(0, (Number.isNaN(due) ? Date.now() : due) - Date.now()) });
        await job.remove();
      }
    } finally {
      await legacy.close(); // the shared connection stays open
    }
  }

  /** Remembers which flows have retry queues, so that a claim for every flow knows where to look. */
  async #retryFlows(flows: string[]): Promise<void> {
    await this.#redis.sadd(this.#k('retry-flows'), ...flows);
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

  async #write(id: string, meta: string, fields: { flow: string; corr: string; at: string; ms: number }, events: TimelineEvent[]): Promise<boolean> {
    try {
      const created = await this.#redis.journalWrite(this.#p, id, meta, fields.flow, fields.corr, fields.at, fields.ms, events.length, ...eventArgs(events));
      return created === 1;
    } catch (err) {
      if (/\bNOT_FOUND\b/.test((err as Error).message)) throw notFound(id);
      throw err;
    }
  }

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
      await this.#write(id, '', { flow: '', corr: '', at: '', ms: 0 }, events);
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
    return this.#run('query messages', async () => {
      const limit = pageLimit(q.limit);
      const cursor = decodeCursor(q.cursor);
      const statuses = q.status === undefined ? undefined : Array.isArray(q.status) ? q.status : [q.status];
      // Walk the narrowest index; every criterion is checked again on the record itself.
      const index =
        q.correlationId !== undefined ? this.#k('i', 'corr', q.correlationId)
        : q.errorCode !== undefined ? this.#k('i', 'code', q.errorCode)
        : statuses?.length === 1 ? this.#k('i', 'status', statuses[0]!)
        : q.flow !== undefined ? this.#k('i', 'flow', q.flow)
        : this.#k('i', 'all');
      const max = cursor ? String(cursor.ms) : q.to !== undefined ? `(${toMs(q.to, 'to')}` : '+inf';
      const min = q.from !== undefined ? String(toMs(q.from, 'from')) : '-inf';
      const test = compileFilter(q);
      const needsError = q.errorCode !== undefined || q.errorStep !== undefined || q.errorText !== undefined;
      const items: MessageSummary[] = [];
      let last: { ms: number; id: string } | undefined;
      // Bounded: a page scans at most 5,000 candidates, then hands back a cursor to go on from. Each batch reads only
      // the fields the criteria need (not the stored message with its body), then the whole summary of the hits.
      let batch = Math.max(limit + 1, 100);
      for (let offset = 0; offset < 5_000; offset += batch, batch = Math.min(batch * 2, 1_000, 5_000 - offset)) {
        const flat = await this.#redis.zrange(index, max, min, 'BYSCORE', 'REV', 'LIMIT', offset, batch, 'WITHSCORES');
        if (flat.length === 0) return { items };
        const candidates: { id: string; ms: number }[] = [];
        for (let i = 0; i < flat.length; i += 2) candidates.push({ id: flat[i]!, ms: Number(flat[i + 1]) });
        // Members with one score come back in reverse lexical order, as newest-first paging wants.
        const after = candidates.filter((c) => isAfter(c, cursor));
        const pipe = this.#redis.pipeline();
        for (const c of after) pipe.hmget(this.#k('m', c.id), 'flow', 'corr', 'status', 'lastError');
        const rows = ((await pipe.exec()) ?? []).map(([, v]) => v as (string | null)[]);
        const hits: { id: string; ms: number }[] = [];
        let full = false;
        let more = false;
        for (let i = 0; i < after.length; i++) {
          const [flow, corr, status, lastError] = rows[i]!;
          if (flow === null || flow === undefined) continue; // removed since the index was read
          last = after[i]!;
          const fields: FilterFields = { flow, status: status as MessageStatus, ms: after[i]!.ms, ...(corr ? { correlationId: corr } : {}), ...(needsError && lastError ? { lastError: JSON.parse(lastError) as ErrorInfo } : {}) };
          if (!test(fields)) continue;
          hits.push(after[i]!);
          if (items.length + hits.length === limit) {
            full = true;
            more = i < after.length - 1 || flat.length === batch * 2;
            break;
          }
        }
        if (hits.length > 0) {
          const read = this.#redis.pipeline();
          for (const h of hits) read.hmget(this.#k('m', h.id), ...SUMMARY_FIELDS);
          const summaries = ((await read.exec()) ?? []).map(([, v]) => v as (string | null)[]);
          for (let i = 0; i < hits.length; i++) {
            const values = summaries[i]!;
            if (values[0] === null) continue; // removed between the two reads
            const s = summaryOf(Object.fromEntries(SUMMARY_FIELDS.map((f, j) => [f, values[j] ?? undefined])) as Record<string, string>);
            // Checked again: it may have changed between the two reads.
            if (test({ ...s, ms: hits[i]!.ms })) items.push(s);
          }
        }
        if (full) return { items, ...(more ? { next: encodeCursor(last!) } : {}) };
        if (flat.length < batch * 2) return { items };
      }
      return { items, ...(last ? { next: encodeCursor(last) } : {}) };
    });
  }

  remove(id: string, options: { ifStatus?: MessageStatus[] } = {}): Promise<boolean> {
    return this.#run('remove a message', async () => {
      const flow = await this.#redis.hget(this.#k('m', id), 'flow');
      if (flow === null) return false;
      const removed = (await this.#redis.journalRemove(this.#p, id, options.ifStatus?.join(',') ?? '', `${this.#p}:${queueName(flow)}:${jobIdOf(id)}`, flow)) === 1;
      if (!removed) return false;
      await this.#queue(flow).remove(jobIdOf(id)).catch(() => 0); // a claimed one is skipped when it comes due (no record)
      return removed;
    });
  }

  scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    return this.#run('schedule a retry', async () => {
      const due = toMs(retry.dueAt, 'dueAt');
      const flow = await this.#redis.hget(this.#k('m', id), 'flow');
      if (flow === null) throw notFound(id);
      const jobId = jobIdOf(id);
      // The job first, then the event: a crash between the two retries a message that looks failed, never the reverse.
      const queue = this.#queue(flow);
      await this.#retryFlows([flow]);
      await queue.remove(jobId);
      await queue.add('retry', { id, flow, attempt: retry.attempt, dueAt: retry.dueAt }, { jobId, delay: Math.max(0, due - Date.now()) });
      await this.#write(id, '', { flow: '', corr: '', at: '', ms: 0 }, [waitingEvent(retry)]);
    });
  }

  /** Oldest due first within each flow; several flows take turns, one job each, so that each gets its share. */
  claimDueRetries(limit: number, options: { flows?: readonly string[] } = {}): Promise<RetryClaim[]> {
    return this.#run('claim retries', async () => {
      // The worker's connection waits out a Redis restart (maxRetriesPerRequest null): a claim sent while Redis is
      // away would hang until it is back, and the retry poller would never hear that the journal is unavailable.
      const down = [this.#redis, this.#workerConnection].find((c) => c.status !== 'ready');
      if (down) throw new JournalError('UNAVAILABLE', `the journal could not claim retries in Redis: not connected (${down.status})`);
      if (options.flows?.length === 0) return [];
      const known = await this.#redis.smembers(this.#k('retry-flows'));
      const wanted = options.flows ? new Set(options.flows) : undefined;
      const flows = known.filter((f) => !wanted || wanted.has(f)).sort();
      const claims: RetryClaim[] = [];
      const start = this.#nextFlow++;
      let open = flows.map((_, i) => flows[(start + i) % flows.length]!);
      while (claims.length < limit && open.length > 0) {
        const still: string[] = [];
        for (const flow of open) {
          if (claims.length >= limit) break;
          const token = randomUUID();
          const job = (await this.#worker(flow).getNextJob(token, { block: false })) as Job<RetryData> | undefined;
          if (!job) continue;
          still.push(flow);
          if (!(await this.#redis.exists(this.#k('m', job.data.id)))) {
            await job.moveToCompleted(null, token, false).catch(() => {}); // removed while it waited
            continue;
          }
          claims.push({ id: job.data.id, flow: job.data.flow, attempt: job.data.attempt, dueAt: job.data.dueAt, token });
        }
        open = still;
      }
      return claims;
    });
  }

  async #claimed(claim: RetryClaim): Promise<Job<RetryData>> {
    const job = await this.#queue(claim.flow).getJob(jobIdOf(claim.id));
    const lock = await this.#redis.get(`${this.#p}:${queueName(claim.flow)}:${jobIdOf(claim.id)}:lock`);
    if (!job || lock !== claim.token) throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held`);
    return job;
  }

  extendRetry(claim: RetryClaim): Promise<void> {
    return this.#run('extend a retry claim', async () => {
      const job = await this.#claimed(claim);
      await job.extendLock(claim.token, this.#leaseMs).catch((err: unknown) => {
        throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held: ${(err as Error).message}`);
      });
    });
  }

  completeRetry(claim: RetryClaim): Promise<void> {
    return this.#run('complete a retry', async () => {
      const job = await this.#claimed(claim);
      await job.moveToCompleted(null, claim.token, false).catch((err: unknown) => {
        throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held: ${(err as Error).message}`);
      });
    });
  }

  releaseRetry(claim: RetryClaim, retry?: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    return this.#run('release a retry', async () => {
      const job = await this.#claimed(claim);
      const due = retry ? toMs(retry.dueAt, 'dueAt') : Date.now();
      if (retry) await job.updateData({ ...job.data, attempt: retry.attempt, dueAt: retry.dueAt });
      await job.moveToDelayed(due, claim.token).catch((err: unknown) => {
        throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held: ${(err as Error).message}`);
      });
      if (retry) await this.#write(claim.id, '', { flow: '', corr: '', at: '', ms: 0 }, [waitingEvent(retry)]).catch(() => {});
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

  dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean> {
    return this.#run('check a dedupe key', async () => {
      validateMessageId(key, 'dedupe key');
      if (!(ttlMs > 0)) throw new JournalError('INVALID', 'the dedupe time to live must be positive');
      return (await this.#redis.journalDedupe(this.#k('d', key), owner ?? '', Math.ceil(ttlMs))) === 1;
    });
  }

  dedupeHolder(key: string): Promise<string | undefined> {
    return this.#run('read a dedupe key', async () => (await this.#redis.get(this.#k('d', key))) ?? undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A BullMQ close() waits for its connection's 'end', which never comes when that connection is between two
    // reconnect attempts (Redis away, or just back), so a hub stopped then would never exit: the wait is bounded.
    // Nothing is lost by not waiting: every journal write has resolved or failed already.
    let timer: NodeJS.Timeout | undefined;
    const closing = [...this.#workers.values(), ...this.#queues.values()].map((c) => c.close());
    await Promise.race([Promise.allSettled(closing), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    this.#redis.disconnect();
    this.#workerConnection.disconnect();
  }
}

/** The hash fields summaryOf reads, `m` first. */
const SUMMARY_FIELDS = ['m', 'status', 'attempts', 'lastError', 'updatedAt'] as const;

function summaryOf(fields: Record<string, string>): MessageSummary {
  const meta = JSON.parse(fields.m!) as MessageSummary;
  return {
    id: meta.id,
    ...(meta.correlationId ? { correlationId: meta.correlationId } : {}),
    flow: meta.flow,
    source: meta.source,
    receivedAt: meta.receivedAt,
    updatedAt: fields.updatedAt!,
    status: fields.status as MessageStatus,
    attempts: Number(fields.attempts),
    ...(fields.lastError ? { lastError: JSON.parse(fields.lastError) as ErrorInfo } : {}),
    ...(meta.replayOf ? { replayOf: meta.replayOf } : {}),
  };
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
