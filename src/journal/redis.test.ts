import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Journal } from './contract.js';
import { journalContractSuite } from './contract.suite.js';
import { JournalError } from './errors.js';
import { checkEvictionPolicy, openRedisJournal } from './redis.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const admin = new Redis(URL, { maxRetriesPerRequest: 1 });
afterAll(() => admin.disconnect());

/** Deletes every key under a test's prefix. */
async function dropPrefix(prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}

journalContractSuite('redis', async ({ leaseMs }) => {
  const prefix = `test:journal:${randomUUID()}`;
  const open: Journal[] = [];
  return {
    shared: true,
    async open() {
      const j = await openRedisJournal({ url: URL, prefix, ...(leaseMs ? { leaseMs } : {}) });
      open.push(j);
      return j;
    },
    async destroy() {
      await Promise.all(open.map((j) => j.close()));
      await dropPrefix(prefix);
    },
  };
});

describe('redis journal', () => {
  it('warns at start when maxmemory-policy is not noeviction, and when it cannot be read', async () => {
    expect(await checkEvictionPolicy(admin)).toBeUndefined(); // the test Redis runs noeviction
    const stub = (policy: string) => ({ config: async () => ['maxmemory-policy', policy] });
    expect(await checkEvictionPolicy(stub('allkeys-lru'))).toMatch(/"allkeys-lru", not noeviction.*Set maxmemory-policy noeviction/);
    expect(await checkEvictionPolicy(stub('noeviction'))).toBeUndefined();
    const refused = { config: async () => Promise.reject(new Error("ERR unknown command 'CONFIG'")) };
    expect(await checkEvictionPolicy(refused)).toMatch(/could not read/);

    const warnings: string[] = [];
    const prefix = `test:journal:${randomUUID()}`;
    const j = await openRedisJournal({ url: URL, prefix, onWarning: (m) => warnings.push(m) });
    await j.close();
    expect(warnings).toEqual([]);
    await dropPrefix(prefix);
  });

  it('keeps every key under its prefix and leaves none behind once removed', async () => {
    const prefix = `test:journal:${randomUUID()}`;
    const j = await openRedisJournal({ url: URL, prefix });
    const id = `m-${randomUUID()}`;
    await j.record({ id, correlationId: 'c', flow: 'f', source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('x') }, [], { maxBodyBytes: 10 });
    await j.scheduleRetry(id, { dueAt: new Date(Date.now() + 60_000).toISOString(), attempt: 2 });
    await j.deadLetter(id, { error: { code: 'INTERNAL', message: 'x' }, attempt: 2 });
    const [, keys] = await admin.scan('0', 'MATCH', `${prefix}:m:*`, 'COUNT', 1000);
    expect(keys).toEqual([`${prefix}:m:${id}`]);
    expect(await j.remove(id)).toBe(true);
    const left = (await admin.keys(`${prefix}:*`)).filter((k) => !k.startsWith(`${prefix}:retries:`));
    expect(left).toEqual([]);
    expect(await j.claimDueRetries(5)).toEqual([]);
    await j.close();
    await dropPrefix(prefix);
  });

  it('rejects UNAVAILABLE when Redis cannot be reached', async () => {
    const err = await openRedisJournal({ url: 'redis://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe('UNAVAILABLE');
  });
});
