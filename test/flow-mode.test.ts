/**
 * `hub run --flow NAME` as a service of its own, with real processes: the bad input it refuses, several flow
 * services side by side on one machine (a journal each, or one Redis journal they share, each seeing only its own
 * flow's messages), and a readiness that follows its own connections.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRedisJournal } from '../src/journal/redis.js';
import { freePort, ROOT, runHub, startHub, type HubProcess } from './support/processes.js';
import { Recorder } from './support/recorder.js';

const BROKER = new URL(process.env.AMQP_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-flow-mode-'));
  temps.push(dir);
  return dir;
}

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  try {
    const res = await request(`${url}/readyz`);
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  } catch {
    return undefined; // not listening yet
  }
}

describe('hub run --flow: bad input gets a clear message and a non-zero exit', () => {
  it('an unknown flow name: the nearest name suggested, the flows there are listed, exit 2', async () => {
    const r = await runHub(['run', '--flow', 'order-api', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`hub: FLOW_UNKNOWN: no flow named "order-api" in ${join(ROOT, 'flows')}; did you mean "orders-api"? (flows: order-status-api, orders-api, partner-quotes-api, shipping-quote-soap)`);
    const far = await runHub(['run', '--flow', 'payroll', '--port', '0']);
    expect([far.code, far.stderr]).toEqual([2, expect.not.stringContaining('did you mean')]);
    expect(far.stderr).toContain('(flows: order-status-api, orders-api, partner-quotes-api, shipping-quote-soap)');
  });

  it('--flow given twice, or empty, or without a value: exit 2', async () => {
    const twice = await runHub(['run', '--flow', 'orders-api', '--flow', 'order-status-api', '--port', '0']);
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringContaining('--flow is given 2 times ("orders-api", "order-status-api")')]);
    const empty = await runHub(['run', '--flow=', '--port', '0']);
    expect([empty.code, empty.stderr]).toEqual([2, expect.stringContaining('--flow needs the name of a flow')]);
    const bare = await runHub(['run', '--port', '0', '--flow']);
    expect(bare.code).toBe(2);
  });

  it('a port already in use: says so, and that each flow service needs its own port', async () => {
    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const r = await runHub(['run', '--flow', 'orders-api', '--port', String(port)], { env: { HUB_LOG_LEVEL: 'silent' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use; choose another with --port (each flow service needs a port of its own)`);
    } finally {
      blocker.close();
    }
  });
});

describe('a flow service stands alone', () => {
  it('starts though another flow\'s file is broken (saying so), and refuses to start a flow whose own file is', async () => {
    const dir = tempDir();
    copyFileSync(join(ROOT, 'flows', 'order-status-api.yaml'), join(dir, 'order-status-api.yaml'));
    copyFileSync(join(ROOT, 'test', 'fixtures', 'broken', 'a-orders.yaml'), join(dir, 'a-orders.yaml'));
    const hub = await startHub(['--flows', dir, '--flow', 'order-status-api'], { readyTimeoutMs: 60_000 });
    try {
      expect(hub.logs()).toContain(`flow files with errors are not loaded (hub validate ${join(dir, 'a-orders.yaml')} lists them)`);
    } finally {
      await hub.stop();
    }
    const broken = await runHub(['run', '--flows', dir, '--flow', 'a-orders', '--port', '0'], { env: { HUB_LOG_LEVEL: 'silent' } });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/a-orders\.yaml:10:9: JSONata does not compile/);
    const hubMode = await runHub(['run', '--flows', dir, '--port', '0'], { env: { HUB_LOG_LEVEL: 'silent' } });
    expect([hubMode.code, hubMode.stderr]).toEqual([1, expect.stringMatching(/a-orders\.yaml:10:9/)]);
  }, 120_000);
});

describe('flow services side by side on one machine', () => {
  it('with one hub.yaml, each has an embedded journal of its own in <journal dir>/<flow>; the same flow twice is refused', async () => {
    const dir = tempDir();
    const journal = join(dir, 'journal');
    const config = join(dir, 'hub.yaml');
    writeFileSync(config, `flows: ${join(ROOT, 'flows')}\njournal:\n  dir: ${journal}\n`);
    // HUB_JOURNAL_DIR empty: the configuration's folder is the one in use, as when nobody sets it.
    const options = { env: { HUB_JOURNAL_DIR: '' }, readyTimeoutMs: 60_000 };
    const services = await Promise.all(['orders-api', 'shipping-quote-soap'].map((f) => startHub(['--config', config, '--flow', f], options)));
    try {
      for (const [i, f] of ['orders-api', 'shipping-quote-soap'].entries()) {
        expect(existsSync(join(journal, f, 'LOCK')), f).toBe(true);
        expect(services[i]!.logs()).toContain(`"service":"${f}"`);
        expect(services[i]!.logs()).toContain(`journal: the embedded store in ${join(journal, f)}`);
      }
      const again = await runHub(['run', '--config', config, '--flow', 'orders-api', '--port', '0'], { env: { HUB_JOURNAL_DIR: '', HUB_LOG_LEVEL: 'silent' } });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`cannot open the journal (the embedded store in ${join(journal, 'orders-api')})`);
      expect(again.stderr).toContain('give this hub its own journal directory');
    } finally {
      await Promise.all(services.map((s) => s.stop()));
    }
  }, 120_000);

  it('sharing one Redis journal, each one\'s admin API shows and acts on its own flow\'s messages only', async () => {
    const prefix = `hubtest:flowmode:${randomUUID()}`;
    // The ERP is down, so an order fails downstream: the journal records it (its default policy keeps failures).
    const options = { env: { REDIS_URL, HUB_JOURNAL_PREFIX: prefix, LEGACY_ERP_URL: `http://127.0.0.1:${await freePort()}/legacy-erp` }, readyTimeoutMs: 60_000 };
    const [orders, shipping] = await Promise.all(['orders-api', 'shipping-quote-soap'].map((f) => startHub(['--flow', f], options))) as [HubProcess, HubProcess];
    try {
      const res = await request(`${orders.url}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customerId: 'C-1', lines: [{ sku: 'A', qty: 1, price: 1 }] }) });
      const problem = (await res.body.json()) as { code: string };
      expect([res.statusCode, problem.code]).toEqual([502, 'DOWNSTREAM_UNAVAILABLE']);
      const id = res.headers['x-message-id'] as string;
      const messages = async (hub: HubProcess, query = ''): Promise<string[]> => {
        const page = (await (await request(`${hub.url}/admin/api/messages${query}`, { headers: hub.adminHeaders() })).body.json()) as { items: { id: string }[] };
        return page.items.map((m) => m.id);
      };
      let own: string[] = [];
      for (let i = 0; i < 50 && !own.includes(id); i++, await sleep(100)) own = await messages(orders);
      expect(own).toContain(id);
      expect(await messages(shipping)).toEqual([]);
      expect(await messages(shipping, '?flow=orders-api')).toEqual([]);
      const other = await request(`${shipping.url}/admin/api/messages/${id}`, { headers: shipping.adminHeaders() });
      expect([other.statusCode, ((await other.body.json()) as { code: string }).code]).toEqual([404, 'NOT_FOUND']);
      const mine = await request(`${orders.url}/admin/api/messages/${id}`, { headers: orders.adminHeaders() });
      expect([mine.statusCode, await mine.body.json()]).toEqual([200, expect.objectContaining({ id, flow: 'orders-api', status: 'failed' })]);
      // Acting on it through the other service is refused as for any unknown message.
      const archive = await request(`${shipping.url}/admin/api/messages/${id}/archive`, { method: 'POST', headers: { 'content-type': 'application/json', ...shipping.adminHeaders() }, body: '{}' });
      expect(archive.statusCode).toBe(404);
      await archive.body.text();
    } finally {
      await Promise.all([orders.stop(), shipping.stop()]);
      await deleteRedisJournal(REDIS_URL, prefix);
    }
  }, 120_000);
});

describe('flow services sharing one Redis journal run their own durable retries', () => {
  it('the fulfilment service\'s parked order is retried by it when due, not held back a lease by the other service', async () => {
    const id = randomUUID().slice(0, 8);
    const prefix = `hubtest:flowmode:${id}`;
    const fulfilment = new Recorder();
    await fulfilment.start();
    // Down for the first five calls (the flow's in-process attempts), so the order is parked for a durable retry
    // (due 5 s later); then up.
    let calls = 0;
    fulfilment.status = () => (++calls <= 5 ? 503 : 202);
    const env = {
      REDIS_URL,
      HUB_JOURNAL_PREFIX: prefix,
      AMQP_URL: BROKER.href,
      FULFILMENT_QUEUE: `flowmode.retries.${id}`,
      REGION_EXCHANGE: `flowmode.retries.${id}`,
      FULFILMENT_URL: `${fulfilment.url}/fulfilments`,
    };
    // The other service polls the same journal every second too: before claims took flows, it took the fulfilment
    // retry about half the time and sat on it for the whole lease (30 s).
    const [worker, other] = await Promise.all([startHub(['--flows', 'flows/brokers', '--flow', 'fulfilment'], { env, readyTimeoutMs: 60_000 }), startHub(['--flow', 'orders-api'], { env, readyTimeoutMs: 60_000 })]);
    const conn = await amqp.connect(BROKER.href);
    try {
      const ch = await conn.createConfirmChannel();
      const sent = Date.now();
      ch.publish(env.REGION_EXCHANGE, 'orders.eu', Buffer.from(JSON.stringify({ orderId: `O-${id}`, region: 'eu', total: 1 })), { contentType: 'application/json', persistent: true });
      await ch.waitForConfirms();
      const [delivered] = await fulfilment.waitFor(1, 25_000);
      expect(JSON.parse(delivered!.body)).toMatchObject({ orderId: `O-${id}`, warehouse: 'eu-1' });
      expect(calls).toBe(6);
      expect(Date.now() - sent).toBeLessThan(20_000); // in-process attempts (~3 s) + the durable backoff (5 s) + polls
      const page = (await (await request(`${worker.url}/admin/api/messages?flow=fulfilment`, { headers: worker.adminHeaders() })).body.json()) as { items: { status: string; attempts: number }[] };
      expect(page.items).toEqual([expect.objectContaining({ status: 'delivered', attempts: 2 })]);
      expect(worker.logs()).not.toContain('could not be finished');
      await ch.deleteQueue(env.FULFILMENT_QUEUE).catch(() => {});
      await ch.deleteExchange(env.REGION_EXCHANGE).catch(() => {});
    } finally {
      await conn.close().catch(() => {});
      await Promise.all([worker.stop(), other.stop()]);
      await fulfilment.close();
      await deleteRedisJournal(REDIS_URL, prefix);
    }
  }, 150_000);
});

/** A TCP forwarder to RabbitMQ on a port of its own that starts closed: the broker "comes up" when it opens. */
class BrokerDoor {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  constructor(readonly port: number) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(BROKER.port || 5672), BROKER.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (this.#server) await new Promise((resolve) => this.#server!.close(resolve));
  }
}

describe('a flow service\'s /readyz follows its own source and sinks', () => {
  it('the fulfilment flow is 503 (source not ready) while its AMQP broker cannot be reached, and 200 once it can', async () => {
    const id = randomUUID().slice(0, 8);
    const door = new BrokerDoor(await freePort());
    const hub = await startHub(['--flows', 'flows/brokers', '--flow', 'fulfilment'], {
      env: {
        AMQP_URL: `amqp://${BROKER.username}:${BROKER.password}@127.0.0.1:${door.port}`,
        FULFILMENT_QUEUE: `flowmode.fulfilment.${id}`,
        REGION_EXCHANGE: `flowmode.by-region.${id}`,
        FULFILMENT_URL: 'http://127.0.0.1:9/fulfilments',
      },
      waitReady: false,
    });
    try {
      let probe: Awaited<ReturnType<typeof readyz>>;
      const listening = Date.now() + 60_000;
      while (!(probe = await readyz(hub.url)) && Date.now() < listening) await sleep(100);
      expect(probe).toEqual({ status: 503, body: { status: 'not ready', service: 'fulfilment', flows: { fulfilment: 'not ready' }, source: 'not ready', sinks: { 'fulfilment-api': 'ready' }, waiting: ['flow fulfilment: its source (amqp)'] } });
      await sleep(1_000);
      expect((await readyz(hub.url))?.status).toBe(503); // still: nothing to connect to
      await door.open();
      const deadline = Date.now() + 45_000;
      while ((probe = await readyz(hub.url))?.status !== 200 && Date.now() < deadline) await sleep(200);
      expect(probe).toEqual({ status: 200, body: { status: 'ready', service: 'fulfilment', flows: { fulfilment: 'ready' }, source: 'ready', sinks: { 'fulfilment-api': 'ready' } } });
    } finally {
      await hub.stop();
      await door.close();
      const conn = await amqp.connect(BROKER.href);
      const ch = await conn.createChannel();
      await ch.deleteQueue(`flowmode.fulfilment.${id}`).catch(() => {});
      await ch.deleteExchange(`flowmode.by-region.${id}`).catch(() => {});
      await conn.close().catch(() => {});
    }
  }, 150_000);
});
