import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, sleep, unique, waitFor } from '../adapters/amqp/test-support.js';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { Hub } from '../src/hub.js';
import type { ReloadReport } from '../src/runtime/flow-reload.js';
import { Downstream } from './support/downstream.js';

// Reloading flows while they serve, over real HTTP and a real RabbitMQ: a REST flow publishes each order to a queue,
// a second flow consumes the queue and calls a real HTTP service. Both are edited and reloaded (the admin API's
// POST /flows/reload, as SIGHUP and hub dev do) while requests keep coming: no request fails, and the service gets
// every order exactly once.

const PORT = 22101;
const TOKEN = 'reload-test-token-'.padEnd(40, 'x');

describe('reloading flows under load (real HTTP, real RabbitMQ)', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('h15-reload');
  const work = mkdtempSync(join(tmpdir(), 'h15-reload-'));
  const flows = join(work, 'flows');
  const base = `http://127.0.0.1:${PORT}`;
  let serviceUrl: string;
  let hub: Hub;

  const inFlow = (version: string, path = '/h15/orders'): string => `name: orders-in
source:
  rest: { method: POST, path: ${path}, status: 202 }
steps:
  - transform: { jsonata: '$merge([$, { "version": "${version}" }])' }
  - to: queue
sinks:
  queue: { amqp: { url: "\${env:RELOAD_TEST_AMQP_URL}", exchange: "", routing_key: "${queue}" } }
`;
  const outFlow = (version: string): string => `name: orders-out
source:
  amqp: { url: "\${env:RELOAD_TEST_AMQP_URL}", queue: "${queue}", prefetch: 20 }
steps:
  - transform: { jsonata: '$merge([$, { "outVersion": "${version}" }])' }
  - to: service
sinks:
  service: { rest: { url: "${serviceUrl}/orders", timeout: 5s } }
`;
  const reload = async (): Promise<{ status: number; body: ReloadReport & { code?: string } }> => {
    const res = await request(`${base}/admin/api/flows/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'x-hub-actor': 'reload-test' } });
    return { status: res.statusCode, body: (await res.body.json()) as ReloadReport & { code?: string } };
  };

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`] });
    serviceUrl = await downstream.start(PORT + 1);
    downstream.failing = false;
    mkdirSync(flows);
    writeFileSync(join(flows, 'orders-in.yaml'), inFlow('v1'));
    writeFileSync(join(flows, 'orders-out.yaml'), outFlow('v1'));
    hub = await Hub.build({
      config: defaultHubConfig({ port: PORT, flowsDir: flows, schemasDir: join(work, 'schemas'), logLevel: 'silent', journal: { dir: join(work, 'journal') }, admin: { token: TOKEN } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      // The broker's password by reference, as a flow must give it.
      env: { ...process.env, RELOAD_TEST_AMQP_URL: BROKER_URL },
    });
    await hub.listen();
    await waitFor(() => hub.runners.every((r) => r.ready()), 15_000, 'the flows to be ready');
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('no request fails and every message reaches the service exactly once while both flows are reloaded', async () => {
    let n = 0;
    let loading = true;
    const failures: string[] = [];
    const versions = new Set<string>();
    const worker = async (): Promise<void> => {
      while (loading) {
        const id = ++n;
        try {
          const res = await request(`${base}/h15/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
          const text = await res.body.text();
          if (res.statusCode !== 202) failures.push(`${id}: ${res.statusCode} ${text}`);
          else versions.add((JSON.parse(text) as { version: string }).version);
        } catch (err) {
          failures.push(`${id}: ${(err as Error).message}`);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, worker));
    const reports: ReloadReport[] = [];
    await sleep(700);
    writeFileSync(join(flows, 'orders-in.yaml'), inFlow('v2'));
    writeFileSync(join(flows, 'orders-out.yaml'), outFlow('v2'));
    const first = await reload();
    expect(first.status).toBe(200);
    reports.push(first.body);
    await sleep(700);
    writeFileSync(join(flows, 'orders-in.yaml'), inFlow('v3'));
    writeFileSync(join(flows, 'orders-out.yaml'), outFlow('v3'));
    reports.push((await reload()).body);
    await sleep(700);
    loading = false;
    await load;

    expect(failures).toEqual([]);
    for (const r of reports) expect(r).toMatchObject({ changed: ['orders-in', 'orders-out'], added: [], removed: [], problems: [] });
    expect([...versions].sort()).toEqual(['v1', 'v2', 'v3']);
    await waitFor(() => downstream.received.length >= n, 15_000, `all ${n} orders at the service`);
    await sleep(300);
    const ids = downstream.bodies('/orders').map((b) => (b as { id: number }).id);
    expect(ids.length).toBe(n);
    expect(new Set(ids).size).toBe(n);
    expect(new Set(downstream.bodies('/orders').map((b) => (b as { outVersion: string }).outVersion))).toContain('v3');
    expect(hub.runners.map((r) => r.name).sort()).toEqual(['orders-in', 'orders-out']);
  });

  it('a flow file with errors keeps its running version; the problems are at file:line:col', async () => {
    const file = join(flows, 'orders-in.yaml');
    writeFileSync(file, inFlow('v4').replace('- transform:', '- transfrom:'));
    const { status, body } = await reload();
    expect(status).toBe(200);
    expect(body.kept).toEqual(['orders-in']);
    expect(body.problems[0]).toMatchObject({ file, line: 5, col: expect.any(Number), message: expect.stringContaining('transfrom') });
    const res = await request(`${base}/h15/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"kept"}' });
    expect(res.statusCode).toBe(202);
    expect(await res.body.json()).toMatchObject({ version: 'v3' });
    writeFileSync(file, inFlow('v3'));
  });

  it('a route added appears at once, a route removed answers 404 at once', async () => {
    writeFileSync(join(flows, 'orders-in.yaml'), inFlow('v5', '/h15/orders/v5'));
    const { body } = await reload();
    expect(body.changed).toEqual(['orders-in']);
    const added = await request(`${base}/h15/orders/v5`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"moved"}' });
    expect(added.statusCode).toBe(202);
    expect(await added.body.json()).toMatchObject({ version: 'v5' });
    const gone = await request(`${base}/h15/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"gone"}' });
    expect(gone.statusCode).toBe(404);
    expect(await gone.body.json()).toMatchObject({ code: 'NOT_FOUND' });

    unlinkSync(join(flows, 'orders-in.yaml'));
    expect((await reload()).body).toMatchObject({ removed: ['orders-in'] });
    expect((await request(`${base}/h15/orders/v5`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).statusCode).toBe(404);
    writeFileSync(join(flows, 'orders-in.yaml'), inFlow('v6'));
    expect((await reload()).body).toMatchObject({ added: ['orders-in'] });
    const back = await request(`${base}/h15/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"back"}' });
    expect(back.statusCode).toBe(202);
    expect(await back.body.json()).toMatchObject({ version: 'v6' });
  });

  it('one reload at a time: a second one while the first waits for a message in flight gets 409; both are audited', async () => {
    downstream.delayMs = 800;
    const slow = request(`${base}/h15/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"slow"}' });
    writeFileSync(join(flows, 'orders-out.yaml'), outFlow('v7'));
    await waitFor(() => downstream.inFlight > 0, 5_000, 'a message in flight at the service');
    const first = reload();
    await sleep(100);
    const second = await reload();
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ code: 'CONFLICT' });
    expect((await first).status).toBe(200);
    expect((await slow).statusCode).toBe(202);
    downstream.delayMs = 0;
    const audit = await request(`${base}/admin/api/audit?action=reload`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const entries = ((await audit.body.json()) as { items: { outcome: string; detail?: string }[] }).items;
    expect(entries.map((e) => e.outcome)).toEqual(expect.arrayContaining(['ok', 'failed']));
    expect(entries.find((e) => e.outcome === 'ok')?.detail).toMatch(/changed orders-out/);
  });

  it('a viewer may not reload (admin role)', async () => {
    const res = await request(`${base}/admin/api/flows/reload`, { method: 'POST' });
    expect(res.statusCode).toBe(401);
  });
});

describe('reloading a SOAP flow', () => {
  const work = mkdtempSync(join(tmpdir(), 'h15-reload-soap-'));
  const file = join(work, 'flows', 'soap-echo.yaml');
  const base = `http://127.0.0.1:${PORT + 5}`;
  const flow = (version: string): string => `name: soap-echo
source:
  soap: { path: /h15/soap, operation: Echo, namespace: "urn:h15:echo" }
steps:
  - xml_to_json: {}
  - transform: { jsonata: '{ "EchoResponse": { "Text": "${version} " & $.*.Text } }' }
`;
  const echo = async (): Promise<{ status: number; text: string }> => {
    const res = await request(`${base}/h15/soap`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '"Echo"' },
      body: '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:e="urn:h15:echo"><soap:Body><e:Echo><e:Text>hi</e:Text></e:Echo></soap:Body></soap:Envelope>',
    });
    return { status: res.statusCode, text: await res.body.text() };
  };
  let hub: Hub;

  beforeAll(async () => {
    mkdirSync(join(work, 'flows'));
    writeFileSync(file, flow('v1'));
    hub = await Hub.build({ config: defaultHubConfig({ port: PORT + 5, flowsDir: join(work, 'flows'), logLevel: 'silent', journal: { dir: join(work, 'journal') } }), registry: builtinRegistry(), logger: pino({ level: 'silent' }) });
    await hub.listen();
  });
  afterAll(async () => {
    await hub?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('the new version takes the operation over on the same endpoint; removed, the endpoint answers 404', async () => {
    expect((await echo()).text).toContain('<Text>v1 hi</Text>');
    writeFileSync(file, flow('v2'));
    expect((await hub.reload()).changed).toEqual(['soap-echo']);
    const after = await echo();
    expect(after.status).toBe(200);
    expect(after.text).toContain('<Text>v2 hi</Text>');
    unlinkSync(file);
    expect((await hub.reload()).removed).toEqual(['soap-echo']);
    expect((await echo()).status).toBe(404);
  });
});
