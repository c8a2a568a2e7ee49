import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Journal } from './contract.js';
import { journalContractSuite } from './contract.suite.js';
import { JournalError } from './errors.js';
import { checkEvictionPolicy, deleteRedisJournal, openRedisJournal } from './redis.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const admin = new Redis(URL, { maxRetriesPerRequest: 1 });
afterAll(() => admin.disconnect());


/** A TCP proxy in front of the test Redis that a test can cut (Redis away) and restore on the same port. */
class CuttableProxy {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  async listen(): Promise<this> {
    const target = new globalThis.URL(URL);
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
    return this;
  }

  /** Refuses new connections and drops the open ones. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    // Stop listening first, so that no reconnect slips in between and keeps close() waiting.
    const closed = server && new Promise((resolve) => server.close(resolve));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
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
      await deleteRedisJournal(URL, prefix);
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
    await deleteRedisJournal(URL, prefix);
  });

  it('keeps every key under its prefix and leaves none behind once removed', async () => {
    const prefix = `test:journal:${randomUUID()}`;
    const j = await openRedisJournal({ url: URL, prefix });
    const id = `m-${randomUUID()}`;
    await j.record({ id, correlationId: 'c', flow: 'f', source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('x') }, [], { maxBodyBytes: 10 });
    await j.scheduleRetry(id, { dueAt: new Date(Date.now() + 60_000).toISOString(), attempt: 2 });
    await j.deadLetter(id, { error: { code: 'INTERNAL', message: 'x' }, attempt: 2 });
    // A full SCAN: one call looks at about COUNT keys only, and the shared Redis may hold many more.
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await admin.scan(cursor, 'MATCH', `${prefix}:m:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    expect(keys).toEqual([`${prefix}:m:${id}`]);
    expect(await j.remove(id)).toBe(true);
    // BullMQ keeps its queues' own bookkeeping keys; the list of flows with retry queues stays too.
    const left = (await admin.keys(`${prefix}:*`)).filter((k) => !k.startsWith(`${prefix}:retries`) && k !== `${prefix}:retry-flows`);
    expect(left).toEqual([]);
    expect(await j.claimDueRetries(5)).toEqual([]);
    await j.close();
    await deleteRedisJournal(URL, prefix);
  });

  it('rejects claims UNAVAILABLE at once while Redis is away (rather than waiting on the worker connection), and claims again once it is back', async () => {
    const proxy = await new CuttableProxy().listen();
    const printed = vi.spyOn(console, 'error');
    const prefix = `test:journal:${randomUUID()}`;
    const j = await openRedisJournal({ url: `redis://127.0.0.1:${proxy.port}`, prefix });
    try {
      const id = `m-${randomUUID()}`;
      await j.record({ id, flow: 'f', source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('x') }, [], { maxBodyBytes: 10 });
      await j.scheduleRetry(id, { dueAt: new Date().toISOString(), attempt: 2 });
      await proxy.cut();
      await sleep(100);
      const outcome = await Promise.race([j.claimDueRetries(5).catch((e: unknown) => e), sleep(3_000).then(() => 'still waiting after 3 s')]);
      expect(outcome).toMatchObject({ name: 'JournalError', code: 'JOURNAL_STORE_UNAVAILABLE' });
      await sleep(1_000); // reconnect attempts meet a closed port meanwhile
      await proxy.listen();
      let claims: Awaited<ReturnType<Journal['claimDueRetries']>> = [];
      const deadline = Date.now() + 10_000;
      while (claims.length === 0 && Date.now() < deadline) {
        claims = await j.claimDueRetries(5).catch(() => []);
        if (claims.length === 0) await sleep(100);
      }
      expect(claims.map((c) => c.id)).toEqual([id]);
      // Nothing printed past the hub's logger (BullMQ prints connection errors of an emitter nobody listens to).
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      await j.close();
      await proxy.cut();
      await deleteRedisJournal(URL, prefix);
    }
  });

  it('closes while Redis is away (a hub stopped during an outage exits)', async () => {
    const proxy = await new CuttableProxy().listen();
    const prefix = `test:journal:${randomUUID()}`;
    const j = await openRedisJournal({ url: `redis://127.0.0.1:${proxy.port}`, prefix });
    try {
      await proxy.cut();
      await sleep(500);
      const t = Date.now();
      expect(await Promise.race([j.close().then(() => 'closed'), sleep(5_000).then(() => 'still closing after 5 s')])).toBe('closed');
      expect(Date.now() - t).toBeLessThan(3_000);
    } finally {
      await proxy.cut();
      await deleteRedisJournal(URL, prefix);
    }
  });

  it('moves the retries waiting in the one queue of earlier versions to their flows\' queues at open, due as they were', async () => {
    const prefix = `test:journal:${randomUUID()}`;
    const j = await openRedisJournal({ url: URL, prefix });
    const connection = new Redis(URL, { maxRetriesPerRequest: null });
    const legacy = new Queue('retries', { connection, prefix });
    try {
      const ids = [`m-${randomUUID()}`, `m-${randomUUID()}`];
      const flows = ['orders', 'quotes'];
      for (const [i, id] of ids.entries()) await j.record({ id, flow: flows[i]!, source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('x') }, [], { maxBodyBytes: 10 });
      await j.close();
      // What an earlier version left: one job per message in the queue "retries", one due now, one in a minute.
      await legacy.add('retry', { id: ids[0], flow: 'orders', attempt: 2, dueAt: new Date().toISOString() }, { jobId: `r-${ids[0]}` });
      await legacy.add('retry', { id: ids[1], flow: 'quotes', attempt: 3, dueAt: new Date(Date.now() + 60_000).toISOString() }, { jobId: `r-${ids[1]}`, delay: 60_000 });
      const k = await openRedisJournal({ url: URL, prefix });
      try {
        expect(await legacy.count()).toBe(0);
        const [claim, ...rest] = await k.claimDueRetries(5, { flows: ['orders'] });
        expect(rest).toEqual([]);
        expect(claim).toMatchObject({ id: ids[0], flow: 'orders', attempt: 2 });
        expect(await k.claimDueRetries(5)).toEqual([]); // the other is not due yet
        await k.completeRetry(claim!);
      } finally {
        await k.close();
      }
    } finally {
      await legacy.close();
      connection.disconnect();
      await deleteRedisJournal(URL, prefix);
    }
  });

  it('rejects UNAVAILABLE when Redis cannot be reached', async () => {
    const err = await openRedisJournal({ url: 'redis://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe('JOURNAL_STORE_UNAVAILABLE');
  });
});
