/**
 * The Redis journal's aggregate groups (the AggregateGroups role). Under `B` = `P:ag:<scope>`:
 * `B:open` (hash: key → open group id), `B:all` (zset: group ids by when they opened), `B:g:<id>` (hash: key,
 * openedAt, lastAt, size, sealedAt, reason), `B:m:<id>` (list: members as JSON, in the order they joined), `B:ids:<id>`
 * (set: member ids), `B:closed:<key>` (string with PX: the key counts as closed). Each write is one Lua script, so
 * replicas adding to, sealing and removing one group at once see it change atomically.
 */
import type { Redis } from 'ioredis';
import type { GroupAdd, GroupMember, GroupSummary } from '../contract.js';

/** Adds a member: ARGV base, key, member id, member JSON, at, new group id, maxOpen (0: none), refuseClosed (1/0), at (ms). */
const ADD = `
local b = ARGV[1]
local key = ARGV[2]
local gid = redis.call('HGET', b .. ':open', key)
if not gid then
  if ARGV[8] == '1' and redis.call('EXISTS', b .. ':closed:' .. key) == 1 then return {'closed'} end
  local maxOpen = tonumber(ARGV[7])
  if maxOpen > 0 and redis.call('HLEN', b .. ':open') >= maxOpen then return {'full'} end
  gid = ARGV[6]
  redis.call('HSET', b .. ':open', key, gid)
  redis.call('HSET', b .. ':g:' .. gid, 'key', key, 'openedAt', ARGV[5], 'lastAt', ARGV[5], 'size', 0)
  redis.call('ZADD', b .. ':all', tonumber(ARGV[9]), gid)
end
local g = b .. ':g:' .. gid
if redis.call('SADD', b .. ':ids:' .. gid, ARGV[3]) == 0 then return {'duplicate', redis.call('HGETALL', g), gid} end
redis.call('RPUSH', b .. ':m:' .. gid, ARGV[4])
redis.call('HSET', g, 'lastAt', ARGV[5])
redis.call('HINCRBY', g, 'size', 1)
return {'added', redis.call('HGETALL', g), gid}
`;

/** Seals a group: ARGV base, group id, reason, at, closed time to live (ms, 0: none). */
const SEAL = `
local b = ARGV[1]
local g = b .. ':g:' .. ARGV[2]
if redis.call('EXISTS', g) == 0 then return false end
local first = 0
if not redis.call('HGET', g, 'sealedAt') then
  first = 1
  local key = redis.call('HGET', g, 'key')
  redis.call('HSET', g, 'sealedAt', ARGV[4], 'reason', ARGV[3])
  if redis.call('HGET', b .. ':open', key) == ARGV[2] then redis.call('HDEL', b .. ':open', key) end
  local ttl = tonumber(ARGV[5])
  if ttl > 0 then redis.call('SET', b .. ':closed:' .. key, '1', 'PX', ttl) end
end
return {first, redis.call('HGETALL', g), redis.call('LRANGE', b .. ':m:' .. ARGV[2], 0, -1)}
`;

/** Removes a group: ARGV base, group id. */
const REMOVE = `
local b = ARGV[1]
local g = b .. ':g:' .. ARGV[2]
local key = redis.call('HGET', g, 'key')
if not key then return 0 end
if redis.call('HGET', b .. ':open', key) == ARGV[2] then redis.call('HDEL', b .. ':open', key) end
redis.call('ZREM', b .. ':all', ARGV[2])
redis.call('DEL', g, b .. ':m:' .. ARGV[2], b .. ':ids:' .. ARGV[2])
return 1
`;

interface GroupsRedis extends Redis {
  journalGroupAdd(...args: (string | number)[]): Promise<[string, string[]?, string?]>;
  journalGroupSeal(...args: (string | number)[]): Promise<[number, string[], string[]] | null>;
  journalGroupRemove(...args: (string | number)[]): Promise<number>;
}

function summary(id: string, flat: string[]): GroupSummary {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  return { id, key: f.key ?? '', openedAt: f.openedAt ?? '', lastAt: f.lastAt ?? '', size: Number(f.size ?? 0), ...(f.sealedAt ? { sealed: { at: f.sealedAt, reason: f.reason ?? '' } } : {}) };
}

export class RedisGroups {
  readonly #redis: GroupsRedis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('journalGroupAdd', { numberOfKeys: 0, lua: ADD });
    redis.defineCommand('journalGroupSeal', { numberOfKeys: 0, lua: SEAL });
    redis.defineCommand('journalGroupRemove', { numberOfKeys: 0, lua: REMOVE });
    this.#redis = redis as GroupsRedis;
    this.#prefix = prefix;
  }

  #base(scope: string): string {
    return `${this.#prefix}:ag:${scope}`;
  }

  async add(scope: string, key: string, member: GroupMember, options: { newGroupId: string; maxOpen?: number; refuseClosed?: boolean }): Promise<GroupAdd> {
    const json = JSON.stringify({ id: member.id, at: member.at, h: member.headers, b: member.body.toString('base64') });
    const [outcome, flat, id] = await this.#redis.journalGroupAdd(this.#base(scope), key, member.id, json, member.at, options.newGroupId, options.maxOpen ?? 0, options.refuseClosed ? 1 : 0, Date.parse(member.at));
    if (outcome === 'closed' || outcome === 'full') return { outcome };
    return { outcome: outcome as 'added' | 'duplicate', group: summary(id!, flat!) };
  }

  async seal(scope: string, groupId: string, seal: { reason: string; closedTtlMs?: number }): Promise<{ group: GroupSummary; members: GroupMember[]; first: boolean } | undefined> {
    const got = await this.#redis.journalGroupSeal(this.#base(scope), groupId, seal.reason, new Date().toISOString(), Math.ceil(seal.closedTtlMs ?? 0));
    if (!got) return undefined;
    const [first, flat, members] = got;
    return {
      first: first === 1,
      group: summary(groupId, flat),
      members: members.map((json) => {
        const m = JSON.parse(json) as { id: string; at: string; h: Record<string, string>; b: string };
        return { id: m.id, at: m.at, headers: m.h, body: Buffer.from(m.b, 'base64') };
      }),
    };
  }

  async remove(scope: string, groupId: string): Promise<boolean> {
    return (await this.#redis.journalGroupRemove(this.#base(scope), groupId)) === 1;
  }

  async list(scope: string): Promise<GroupSummary[]> {
    const base = this.#base(scope);
    const ids = await this.#redis.zrange(`${base}:all`, '0', '-1');
    if (ids.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.hgetall(`${base}:g:${id}`);
    const rows = (await pipe.exec()) ?? [];
    const out: GroupSummary[] = [];
    ids.forEach((id, i) => {
      const fields = rows[i]?.[1] as Record<string, string> | undefined;
      if (fields?.key) out.push(summary(id, Object.entries(fields).flat()));
    });
    return out;
  }
}
