/**
 * The Redis journal's Lua scripts: each write that touches several keys (record and append, replay, remove) runs as
 * one script, hence atomically, as does the dedupe check. The scripts build key names from the prefix, so the
 * journal needs a single Redis (or a primary with replicas), not a Redis Cluster.
 */
import type { Redis } from 'ioredis';
import { STATUS_OF_EVENT, type TimelineEvent } from '../contract.js';

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
local function count(P, field, by)
  if redis.call('HINCRBY', P .. ':sc', field, by) <= 0 then redis.call('HDEL', P .. ':sc', field) end
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
    count(P, flow .. '\\0' .. oldStatus, -1)
    count(P, flow .. '\\0' .. status, 1)
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
  count(P, flow .. '\\0received', 1)
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

// remove: ARGV P, id, statuses (comma-separated: remove only in one of them, and only when the retry job's key, next,
// does not exist; "" for any), the retry job's key, the record's flow. Returns 1 when it removed the record.
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
count(P, f[1] .. '\\0' .. f[3], -1)
if f[4] then redis.call('ZREM', P .. ':i:code:' .. f[4], id) end
redis.call('DEL', rk, P .. ':t:' .. id, P .. ':ra:' .. id)
return 1
`;

/**
 * Dedupe keys hold their owner's id; a reservation (a message still running) holds RESERVED then the owner, and
 * expires with its lease. One script per change, so that replicas racing for one key see one winner.
 */
export const RESERVED = '\u0001';

/** Keeps a dedupe key: taken when free; held or reserved by the same (non-empty) owner, its time to live starts again. */
const DEDUPE = `
local held = redis.call('GET', KEYS[1])
if (not held) or (ARGV[1] ~= '' and (held == ARGV[1] or held == '${RESERVED}' .. ARGV[1])) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** Reserves a dedupe key: 1 reserved (free, or the owner's already), 0 kept by another, 2 reserved by another. */
const RESERVE = `
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], '${RESERVED}' .. ARGV[1], 'PX', ARGV[2])
  return 1
end
if held == ARGV[1] or held == '${RESERVED}' .. ARGV[1] then return 1 end
if string.sub(held, 1, 1) == '${RESERVED}' then return 2 end
return 0
`;

/** Gives up a reservation of its owner's; a kept key, or another's, stays. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == '${RESERVED}' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** The producer connection with the scripts as commands. */
export interface JournalRedis extends Redis {
  journalDedupe(key: string, owner: string, ttlMs: number): Promise<number>;
  journalReserve(key: string, owner: string, leaseMs: number): Promise<number>;
  journalRelease(key: string, owner: string): Promise<number>;
  journalWrite(...args: (string | number)[]): Promise<number>;
  journalReplay(...args: (string | number)[]): Promise<string>;
  journalRemove(...args: (string | number)[]): Promise<number>;
}

/** Defines the scripts on the producer connection (ioredis sends each by its SHA, loading it when Redis lacks it). */
export function defineJournalCommands(producer: Redis): JournalRedis {
  producer.defineCommand('journalWrite', { numberOfKeys: 0, lua: WRITE });
  producer.defineCommand('journalReplay', { numberOfKeys: 0, lua: REPLAY });
  producer.defineCommand('journalRemove', { numberOfKeys: 0, lua: REMOVE });
  producer.defineCommand('journalDedupe', { numberOfKeys: 1, lua: DEDUPE });
  producer.defineCommand('journalReserve', { numberOfKeys: 1, lua: RESERVE });
  producer.defineCommand('journalRelease', { numberOfKeys: 1, lua: RELEASE });
  return producer as JournalRedis;
}

/** The ARGV that APPLY reads for `events`: six per event. */
export function eventArgs(events: TimelineEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    out.push(JSON.stringify(e), STATUS_OF_EVENT[e.type] ?? '', e.attempt === undefined ? '' : String(e.attempt), e.error ? JSON.stringify({ code: e.error.code, message: e.error.message, ...(e.error.step ? { step: e.error.step } : {}) }) : '', e.at, String(Date.parse(e.at)));
  }
  return out;
}
