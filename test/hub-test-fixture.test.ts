/**
 * `hub messages fixture ID`: a message that died in a real hub (real RabbitMQ in front, a real HTTP service behind,
 * the embedded journal) becomes a test case that `hub test` runs, and the case reproduces the failure. A message of a
 * flow that journals only failures is refused with what is missing.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Broker, BROKER_URL, unique, waitFor } from '../adapters/amqp/test-support.js';
import { builtinRegistry } from '../src/builtins.js';
import { main } from '../src/cli/main.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { Hub } from '../src/hub.js';
import type { MessageStatus } from '../src/journal/contract.js';

const TOKEN = 'hub-test-fixture-token-0123456789abcdef';
// The broker's password by reference, as a flow must give it (the hub and `hub test` read it from the environment).
process.env.FIXTURE_TEST_AMQP_URL = BROKER_URL;

async function hub(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (s) => out.push(s), (s) => err.push(s), { env: { ...process.env, HUB_ADMIN_TOKEN: TOKEN } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function flow(name: string, queue: string, peer: string, journal: string): string {
  return `name: ${name}
source:
  amqp: { url: "\${env:FIXTURE_TEST_AMQP_URL}", queue: "${queue}" }
steps:
  - to: pricing
  - transform: { jsonata: '$merge([$, { "priced": true }])' }
  - to: orders
sinks:
  pricing:
    rest: { url: "${peer}/pricing", expect: json, timeout: 2s }
  orders:
    rest: { url: "${peer}/orders", timeout: 2s }
errors:
  retry: { attempts: 2, backoff: fixed, initial: 10ms }
  durable: { attempts: 0 }
journal: ${journal}
`;
}

describe('hub messages fixture: a dead message as a test case', () => {
  const broker = new Broker();
  const queue = unique('fixture-in');
  const partQueue = unique('fixture-part');
  const work = mkdtempSync(join(tmpdir(), 'hub-test-fixture-'));
  const flows = join(work, 'flows');
  /** The peer behind the flow: pricing answers, orders is down (503). */
  const peer: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/pricing') res.writeHead(200, { 'content-type': 'application/json' }).end('{"price":42,"currency":"EUR"}');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
    });
  });
  let running: Hub;
  let url: string;

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, partQueue, `${partQueue}.retry`, `${partQueue}.dead`] });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const peerUrl = `http://127.0.0.1:${(peer.address() as { port: number }).port}`;
    mkdirSync(flows);
    writeFileSync(join(flows, 'fixture-orders.yaml'), flow('fixture-orders', queue, peerUrl, 'all'));
    writeFileSync(join(flows, 'fixture-partial.yaml'), flow('fixture-partial', partQueue, peerUrl, 'failures'));
    const config = defaultHubConfig({ port: 0, host: '127.0.0.1', flowsDir: flows, logLevel: 'silent', journal: { dir: join(work, 'journal') } });
    running = await Hub.build({ config: { ...config, admin: { ...config.admin, token: TOKEN } }, registry: builtinRegistry(), logger: pino({ level: 'silent' }) });
    url = await running.listen();
    await waitFor(() => running.runners.every((r) => r.ready()), 15_000, 'the flows to be ready');
  });
  afterAll(async () => {
    await running?.stop();
    await new Promise((resolve) => peer.close(resolve));
    await broker.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function deadMessage(flowName: string, q: string, body: unknown): Promise<string> {
    await broker.publish('', q, Buffer.from(JSON.stringify(body)), { contentType: 'application/json' });
    let id: string | undefined;
    await waitFor(
      async () => {
        const { out } = await hub(['messages', '--url', url, '--flow', flowName, '--status', 'dead' satisfies MessageStatus, '--json']);
        id = (JSON.parse(out) as { items: { id: string }[] }).items[0]?.id;
        return id !== undefined;
      },
      15_000,
      `a dead message of ${flowName}`,
    );
    return id!;
  }

  it('writes the case from the journal, and hub test reproduces the failure with it', async () => {
    const id = await deadMessage('fixture-orders', queue, { orderId: 'F-1', qty: 3 });
    const file = join(flows, 'fixture-orders.test.yaml');
    const written = await hub(['messages', 'fixture', id, '--url', url, '--out', file, '--name', 'the order that died in production']);
    expect(written.code, written.err).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=.*schemas\/flow-test\.schema\.json$/);
    const { cases } = parse(text) as { cases: { input: unknown; sinks: Record<string, unknown>; expect: unknown }[] };
    expect(cases[0]!.input).toEqual({ routing_key: queue, body: { orderId: 'F-1', qty: 3 } });
    // The replies the sinks gave, as the journal recorded them (policy all): pricing's answer, orders' two failures.
    expect(cases[0]!.sinks.pricing).toEqual({ reply: { headers: { 'content-type': 'application/json' }, body: { price: 42, currency: 'EUR' } } });
    expect(cases[0]!.sinks.orders).toEqual([{ fail: expect.objectContaining({ code: 'DOWNSTREAM_UNAVAILABLE' }) }, { fail: expect.objectContaining({ code: 'DOWNSTREAM_UNAVAILABLE' }) }]);
    expect(cases[0]!.expect).toEqual({ error: { code: 'DOWNSTREAM_UNAVAILABLE', step: '2:to' }, sinks: { pricing: { calls: 1 }, orders: { calls: 2 } } });

    const run = await hub(['test', file]);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toMatch(/ok {3}the order that died in production/);

    // The case holds the flow's behaviour: a flow changed to try the orders service three times fails it, at the line.
    const changed = readFileSync(join(flows, 'fixture-orders.yaml'), 'utf8').replace('attempts: 2,', 'attempts: 3,');
    writeFileSync(join(flows, 'fixture-orders.yaml'), changed);
    const broken = await hub(['test', file]);
    expect(broken.code, broken.err).toBe(1);
    const at = readFileSync(file, 'utf8').split('\n').findLastIndex((l) => /calls: 2/.test(l)) + 1;
    expect(broken.err).toMatch(new RegExp(`fixture-orders\\.test\\.yaml:${at}:\\d+: sink orders: expected 2 call\\(s\\), got 3`));
  });

  it('refuses a message journalled under `failures`, saying what is missing', async () => {
    const id = await deadMessage('fixture-partial', partQueue, { orderId: 'F-2' });
    const { code, err } = await hub(['messages', 'fixture', id, '--url', url]);
    expect(code).toBe(1);
    expect(err).toContain(`hub: FIXTURE_INCOMPLETE: message ${id} cannot become a test case: it was not journalled in full`);
    expect(err).toContain('flow "fixture-partial" records only under `journal: all`');
  });
});
