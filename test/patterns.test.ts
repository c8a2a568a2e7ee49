/**
 * The integration patterns of issue 17 (aggregate, recipient_list, scatter_gather, throttle) end to end: the example
 * flows of flows/patterns run in a real hub process against real RabbitMQ, Kafka and HTTP peers, on each journal
 * backend. The aggregator's hub is killed with -9 mid-group (members stored, groups open; then groups just
 * completed) and restarted: no member is lost, every order is invoiced, each with one id.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Broker, BROKER_URL } from '../adapters/amqp/test-support.js';
import { TestKafka, waitFor } from '../adapters/kafka/test-support.js';
import type { Journal } from '../src/journal/contract.js';
import { openEmbeddedJournal } from '../src/journal/embedded.js';
import { deleteRedisJournal, openRedisJournal } from '../src/journal/redis.js';
import { ROOT, startHub, type HubProcess } from './support/processes.js';
import { Recorder } from './support/recorder.js';

const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';
const FLOWS = join(ROOT, 'flows', 'patterns');

interface Backend {
  name: string;
  env: NodeJS.ProcessEnv;
  open(): Promise<Journal>;
  cleanup(): Promise<void>;
}

function embedded(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'patterns-'));
  return { name: 'embedded', env: { HUB_JOURNAL_DIR: dir }, open: () => openEmbeddedJournal({ dir }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

function redis(): Backend {
  const prefix = `hubtest:patterns:${randomBytes(4).toString('hex')}`;
  return { name: 'redis', env: { REDIS_URL, HUB_JOURNAL_PREFIX: prefix }, open: () => openRedisJournal({ url: REDIS_URL, prefix }), cleanup: async () => void (await deleteRedisJournal(REDIS_URL, prefix)) };
}

/** A peer of several paths whose answers the test decides: status, body and delay per request, every request counted by path and order id. */
class Peer {
  readonly tries = new Map<string, number>();
  answer: (path: string, body: Record<string, unknown>, tryNo: number) => { status?: number; body?: unknown; delayMs?: number } = () => ({});
  #server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        const path = req.url ?? '';
        const k = `${path} ${String(body.orderId ?? '')}`;
        const n = (this.tries.get(k) ?? 0) + 1;
        this.tries.set(k, n);
        const a = this.answer(path, body, n);
        setTimeout(() => res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(a.body ?? { ok: true })), a.delayMs ?? 0);
      });
    });
    this.#server.keepAliveTimeout = 1000;
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
    return this;
  }

  count(path: string, orderId: string): number {
    return this.tries.get(`${path} ${orderId}`) ?? 0;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((r) => this.#server?.close(r));
  }
}

async function publish(broker: Broker, queue: string, bodies: Record<string, unknown>[]): Promise<void> {
  const ch = await broker.channel();
  try {
    for (const b of bodies) ch.publish('', queue, Buffer.from(JSON.stringify(b)), { persistent: true, contentType: 'application/json' });
    await ch.waitForConfirms();
  } finally {
    await ch.close().catch(() => {});
  }
}

const line = (orderId: string, n: number, lineCount = 3) => ({ orderId, lineId: `${orderId}-${n}`, lineCount, sku: `S-${n}`, qty: n, price: 10 });

describe('integration patterns against the real brokers', () => {
  let broker: Broker;
  let kafka: TestKafka;
  const run = randomBytes(3).toString('hex');
  const queues = { lines: `hubtest.patterns.lines.${run}`, fanout: `hubtest.patterns.fanout.${run}` };

  beforeAll(async () => {
    const brokers = inject('kafkaBrokers');
    if (!brokers) throw new Error(`no Kafka broker for the test run: ${inject('kafkaError') ?? 'unknown reason'}`);
    kafka = new TestKafka([brokers]);
    broker = await new Broker().open();
  });
  afterAll(async () => {
    await kafka?.close();
    await broker?.close();
  });

  for (const make of [embedded, redis]) {
    describe(`${make.name} journal`, () => {
      const backend = make();
      const invoicing = new Recorder();
      const fanout = new Peer();
      const carriers = new Peer();
      const pricing = new Recorder();
      const sms = new Recorder();
      const id = `${run}-${backend.name}`;
      const q = { lines: `${queues.lines}.${backend.name}`, fanout: `${queues.fanout}.${backend.name}` };
      const topic = `hubtest.patterns.notify.${id}`;
      let hub: HubProcess | undefined;
      let env: NodeJS.ProcessEnv;
      const start = async () => (hub = await startHub(['--flows', FLOWS], { cwd: ROOT, env, readyTimeoutMs: 60_000 }));
      /** Stops the hub (the embedded journal has one process at a time), reads the journal, starts the hub again. */
      const inJournal = async <T>(read: (j: Journal) => Promise<T>): Promise<T> => {
        await hub!.stop();
        const journal = await backend.open();
        try {
          return await read(journal);
        } finally {
          await journal.close();
          await start();
        }
      };

      beforeAll(async () => {
        await Promise.all([invoicing.start(), fanout.start(), carriers.start(), pricing.start(), sms.start()]);
        broker.track({ queues: [q.lines, `${q.lines}.main`, q.fanout] });
        await kafka.createTopic(topic);
        env = {
          ...backend.env,
          AMQP_URL: BROKER_URL,
          KAFKA_BROKERS: kafka.brokers[0],
          // The main hub's aggregator reads a queue of its own: the kill test runs a hub of its own on q.lines.
          ORDER_LINES_QUEUE: `${q.lines}.main`,
          ORDER_LINES_TIMEOUT: '3s',
          INVOICING_URL: `${invoicing.url}/invoices`,
          ORDER_FANOUT_QUEUE: q.fanout,
          FANOUT_URL: fanout.url,
          CARRIERS_URL: carriers.url,
          PRICING_URL: `${pricing.url}/prices`,
          NOTIFY_TOPIC: topic,
          NOTIFY_GROUP: `hubtest-notify-${id}`,
          SMS_URL: `${sms.url}/sms`,
        };
        await start();
      });
      afterAll(async () => {
        await hub?.stop();
        await Promise.all([invoicing.close(), fanout.stop(), carriers.stop(), pricing.close(), sms.close()]);
        await backend.cleanup();
      });

      it('aggregate: kill -9 with groups open and just completed loses no member, and invoices every order once by id', { timeout: 240_000 }, async () => {
        // A hub of its own with this flow alone, on a journal of its own: it restarts in a second or two (no Kafka group to join).
        const own = make();
        const dir = mkdtempSync(join(tmpdir(), 'patterns-flows-'));
        copyFileSync(join(FLOWS, 'order-lines-aggregate.yaml'), join(dir, 'order-lines-aggregate.yaml'));
        // A timeout longer than two restarts under load: the orders complete by their lines, not by time.
        const aggEnv = { ...env, ...own.env, ORDER_LINES_QUEUE: q.lines, ORDER_LINES_TIMEOUT: '45s' };
        let hub: HubProcess | undefined;
        const start = async () => (hub = await startHub(['--flows', dir], { cwd: ROOT, env: aggEnv, readyTimeoutMs: 30_000 }));
        const inJournal = async <T>(read: (j: Journal) => Promise<T>): Promise<T> => {
          await hub!.stop();
          hub = undefined;
          const journal = await own.open();
          try {
            return await read(journal);
          } finally {
            await journal.close();
          }
        };
        try {
        await start();
        const orders = Array.from({ length: 8 }, (_, i) => `O${i}-${id}`);
        // Two lines of each order, and a line whose key expression fails: stored (acknowledged), then the hub dies.
        await publish(broker, q.lines, [...orders.flatMap((o) => [line(o, 1), line(o, 2)]), { lineId: 'no-order', qty: 1 }]);
        await waitFor('the lines delivered', async () => (await broker.count(q.lines)) === 0);
        await sleep(300 + Math.random() * 700);
        hub!.child.kill('SIGKILL');
        await hub!.stop();
        await start();
        // The third lines, and again a line of each order (a redelivery): the groups complete; a kill right after.
        await publish(broker, q.lines, orders.flatMap((o) => [line(o, 3), line(o, 3)]));
        await waitFor('the last lines delivered', async () => (await broker.count(q.lines)) === 0);
        await sleep(Math.random() * 500);
        hub!.child.kill('SIGKILL');
        await hub!.stop();
        await start();
        await waitFor('every order invoiced', () => new Set(invoicing.received.map((r) => (JSON.parse(r.body) as { orderId: string }).orderId)).size === orders.length, 30_000);
        const invoices = invoicing.received.map((r) => ({ ...(JSON.parse(r.body) as { orderId: string; complete: boolean; lines: { lineId: string }[]; total: number }), id: String(r.headers['x-message-id'] ?? ''), reason: r.headers['aggregate-reason'] }));
        for (const o of orders) {
          const mine = invoices.filter((i) => i.orderId === o);
          // At least once, with one id per order: a second emission after the kill has the same id.
          expect(new Set(mine.map((i) => i.id)).size).toBe(1);
          expect(mine[0]).toMatchObject({ complete: true, total: 60 });
          expect(mine[0]!.lines.map((l) => l.lineId).sort()).toEqual([`${o}-1`, `${o}-2`, `${o}-3`]);
        }
        // A member arriving after its group completed: dead (late: dead_letter); a group that never completes: closed by its timeout.
        await publish(broker, q.lines, [line(orders[0]!, 4, 4)]);
        // (On the main hub, whose aggregator has a timeout of 3 s.)
        await publish(broker, `${q.lines}.main`, [line(`lonely-${id}`, 1)]);
        await waitFor('the lonely order closed by its timeout', () => invoicing.received.some((r) => r.body.includes(`lonely-${id}`)), 25_000);
        const lonely = JSON.parse(invoicing.received.find((r) => r.body.includes(`lonely-${id}`))!.body) as { complete: boolean; lines: unknown[] };
        expect(lonely).toMatchObject({ complete: false, lines: [{ lineId: `lonely-${id}-1` }] });
        const duplicates = invoices.length - orders.length;
        process.stderr.write(`patterns ${backend.name}: ${orders.length} orders, ${orders.length * 3} lines (+${orders.length} redelivered), ${invoices.length} invoices, ${duplicates} duplicate(s) (same id), 0 lost\n`);

        await inJournal(async (journal) => {
          const dead = (await journal.query({ flow: 'order-lines-aggregate', status: 'dead', limit: 50 })).items;
          const reasons = dead.map((d) => d.lastError?.code).sort();
          // The line without an order id; the late fourth line of O0, and copies of third lines that came after their group completed (late: dead_letter).
          expect(reasons.filter((r) => r === 'VALIDATION_FAILED')).toHaveLength(1);
          expect(reasons.filter((r) => r === 'LATE_MEMBER').length).toBeGreaterThanOrEqual(1);
          expect(reasons.every((r) => r === 'LATE_MEMBER' || r === 'VALIDATION_FAILED')).toBe(true);
          expect(dead.find((d) => d.lastError?.code === 'VALIDATION_FAILED')!.lastError).toMatchObject({ step: '0:aggregate', message: expect.stringContaining('aggregation key `orderId`') });
          expect(await journal.listGroups('order-lines-aggregate/0:aggregate')).toEqual([]);
        });
        } finally {
          await hub?.stop();
          await own.cleanup();
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('recipient_list: every recipient at once, each retried on its own, none called again after it confirmed', { timeout: 60_000 }, async () => {
        const [flaky, stubborn, unknown] = [`F-${id}`, `S-${id}`, `U-${id}`] as const;
        // billing fails the first two tries of `flaky` (three tries allowed); the eu warehouse fails `stubborn` four times (two runs).
        fanout.answer = (path, body, n) => ({ status: (path === '/billing' && body.orderId === flaky && n <= 2) || (path === '/warehouses/eu' && body.orderId === stubborn && n <= 4) ? 503 : 200 });
        await publish(broker, q.fanout, [
          { orderId: flaky, region: 'eu', total: 20_000 },
          { orderId: stubborn, region: 'eu', total: 10 },
          { orderId: unknown, region: 'apac', total: 10 },
        ]);
        await waitFor('every recipient confirmed', () => fanout.count('/warehouses/eu', stubborn) === 5 && fanout.count('/audit', flaky) === 1, 30_000);
        await sleep(500);
        expect([fanout.count('/billing', flaky), fanout.count('/warehouses/eu', flaky), fanout.count('/audit', flaky), fanout.count('/warehouses/us', flaky)]).toEqual([3, 1, 1, 0]);
        // Billing confirmed `stubborn` in its first run: the durable retry calls only the warehouse.
        expect([fanout.count('/billing', stubborn), fanout.count('/warehouses/eu', stubborn), fanout.count('/audit', stubborn)]).toEqual([1, 5, 0]);
        // apac-warehouse is not a sink: a permanent failure, dead with its reason, nobody called.
        expect(fanout.count('/billing', unknown)).toBe(0);
        const dead = await inJournal(async (j) => (await j.query({ flow: 'order-fanout', status: 'dead', limit: 10 })).items);
        expect(dead.map((d) => d.lastError?.code)).toEqual(['UNKNOWN_RECIPIENT']);
        expect(dead[0]!.lastError!.message).toContain('"apac-warehouse", which is not a sink of this flow');
      });

      it('scatter_gather: asks the carriers at once, answers within its timeout with the replies that came', async () => {
        carriers.answer = (path) => (path === '/a/quote' ? { body: { price: 12 } } : path === '/b/quote' ? { body: { price: 9 } } : { body: { price: 1 }, delayMs: 4_000 });
        const began = Date.now();
        const res = await fetch(`${hub!.url}/api/shipping-quotes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ weightKg: 2, to: 'FR' }) });
        const took = Date.now() - began;
        expect(res.status).toBe(200);
        const body = (await res.json()) as { best: unknown; quotes: { carrier: string }[]; missing: unknown };
        expect(body.best).toEqual({ carrier: 'carrier-b', price: 9 });
        expect(body.quotes.map((q) => q.carrier).sort()).toEqual(['carrier-a', 'carrier-b']);
        expect([body.missing].flat()).toEqual(['carrier-c']);
        expect(took).toBeGreaterThanOrEqual(1_400);
        expect(took).toBeLessThan(3_500);
      });

      it('throttle: an HTTP caller waits its turn, then gets 429 with Retry-After once the queue is full', async () => {
        const send = (customerId: string) => fetch(`${hub!.url}/api/quote-requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customerId }) });
        const began = Date.now();
        const answers = await Promise.all(Array.from({ length: 10 }, () => send(`C1-${id}`)));
        const statuses = answers.map((r) => r.status).sort();
        expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
        const limited = answers.find((r) => r.status === 429)!;
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect((await limited.json()) as { code: string }).toMatchObject({ code: 'RATE_LIMITED' });
        // Six through at two a second: the last three windows later; another customer has a rate of its own.
        expect(Date.now() - began).toBeGreaterThanOrEqual(1_900);
        expect((await send(`C2-${id}`)).status).toBe(200);
      });

      it('throttle: a Kafka partition is held back to the rate, nothing dropped', { timeout: 60_000 }, async () => {
        const before = sms.received.length;
        await kafka.produce(topic, Array.from({ length: 16 }, (_, i) => ({ key: 'k', value: JSON.stringify({ n: i }) })));
        await sms.waitFor(before + 16, 30_000);
        const got = sms.received.slice(before);
        expect(got.map((r) => (JSON.parse(r.body) as { n: number }).n)).toEqual(Array.from({ length: 16 }, (_, i) => i));
        // Five a second, in windows of a second: 16 take at least three windows.
        const span = got.at(-1)!.at - got[0]!.at;
        expect(span).toBeGreaterThanOrEqual(1_900);
        const perSecond = new Map<number, number>();
        for (const r of got) perSecond.set(Math.floor((r.at - got[0]!.at) / 1000), (perSecond.get(Math.floor((r.at - got[0]!.at) / 1000)) ?? 0) + 1);
        expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(10);
      });
    });
  }
});
