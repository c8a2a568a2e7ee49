import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../adapters/amqp/test-support.js';
import { builtinRegistry } from '../src/builtins.js';
import { main } from '../src/cli/main.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { Hub } from '../src/hub.js';
import { hashPassword } from '../src/kit/password.js';
import type { TracedMessage } from '../src/runtime/flow-trace.js';
import { Downstream } from './support/downstream.js';

// `hub trace` and GET /admin/api/flows/{name}/trace on a real hub over real HTTP: a REST flow that validates nothing,
// transforms, routes by content to one of two real HTTP services and answers with the reply.

const PORT = 22111;
const TOKEN = 'flow-trace-test-token-'.padEnd(40, 'x');
const FLOW = `name: traced-orders
source:
  rest: { method: POST, path: /h15/traced }
steps:
  - transform: { jsonata: '{ "id": id, "total": qty * price }' }
  - route:
      - when: 'total > 100'
        to: big
      - otherwise: small
sinks:
  big: { rest: { url: "\${env:SERVICE_URL}/big", timeout: 2s } }
  small: { rest: { url: "\${env:SERVICE_URL}/small", timeout: 2s } }
`;

describe('tracing a flow step by step', () => {
  const downstream = new Downstream();
  const work = mkdtempSync(join(tmpdir(), 'h15-trace-'));
  const base = `http://127.0.0.1:${PORT}`;
  let hub: Hub;
  const env = (): NodeJS.ProcessEnv => ({ HUB_URL: base, HUB_ADMIN_TOKEN: TOKEN });
  const order = (id: string, qty: number, price = 10): Promise<number> =>
    request(`${base}/h15/traced`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, qty, price }) }).then(async (r) => {
      await r.body.text();
      return r.statusCode;
    });

  beforeAll(async () => {
    const service = await downstream.start(PORT + 1);
    downstream.failing = false;
    mkdirSync(join(work, 'flows'));
    writeFileSync(join(work, 'flows', 'traced-orders.yaml'), FLOW);
    hub = await Hub.build({
      config: defaultHubConfig({
        port: PORT,
        flowsDir: join(work, 'flows'),
        logLevel: 'silent',
        journal: { dir: join(work, 'journal') },
        admin: { token: TOKEN, users: [{ name: 'vera', role: 'viewer', passwordHash: await hashPassword('vera-password-1', { N: 1 << 14, r: 8, p: 1 }) }] },
      }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, SERVICE_URL: service },
    });
    await hub.listen();
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('hub trace prints each message step by step: outputs, the route, the sink call and its reply, timings; then ends at its limit', async () => {
    const out: string[] = [];
    const traced = main(['trace', 'traced-orders', '--limit', '2'], (s) => out.push(s), (s) => out.push(s), { env: env() });
    await waitFor(() => hub.runners[0]!.traces === 1, 5_000, 'the trace to be open');
    expect(await order('A-1', 20)).toBe(200);
    expect(await order('A-2', 1)).toBe(200);
    expect(await traced).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('tracing traced-orders: the next 2 message(s)');
    expect(text).toMatch(/ 0:transform {2}[\d.]+ ms/);
    expect(text).toContain('out   [application/json] {"id":"A-1","total":200}');
    expect(text).toMatch(/ 1:route {2}[\d.]+ ms {2}→ big/);
    expect(text).toMatch(/sink {2}big {2}[\d.]+ ms {2}sent \[application\/json\] \{"id":"A-1","total":200\}/);
    expect(text).toContain('reply [application/json] {"ok":true}');
    expect(text).toMatch(/→ small/);
    expect(text).toContain('trace ended (limit): 2 message(s)');
    // Off again: nobody traces, nothing is wrapped.
    expect(hub.runners[0]!.traces).toBe(0);
  });

  it('the stream gives each message as JSON with its error and step; bodies are cut at bodyBytes', async () => {
    const events: { event: string; data: unknown }[] = [];
    const traced = main(['trace', 'traced-orders', '--limit', '1', '--body-bytes', '5', '--json'], (s) => events.push(JSON.parse(s) as { event: string; data: unknown }), () => {}, { env: env() });
    await waitFor(() => hub.runners[0]!.traces === 1, 5_000, 'the trace to be open');
    downstream.status = 400;
    const status = await order('B-1', 1);
    downstream.status = undefined;
    expect(status).toBe(502);
    expect(await traced).toBe(0);
    const m = events.find((e) => e.event === 'message')!.data as TracedMessage;
    expect(m).toMatchObject({ flow: 'traced-orders', outcome: 'failed', error: { code: 'DOWNSTREAM_REJECTED', step: '1:route' } });
    expect(m.input).toMatchObject({ body: '{"id"', truncated: true });
    expect(m.steps.map((s) => s.kind)).toEqual(['transform', 'route']);
    expect(m.steps[1]!.error).toMatchObject({ code: 'DOWNSTREAM_REJECTED' });
    expect(m.sinks[0]).toMatchObject({ sink: 'small', step: '1:route', error: { code: 'DOWNSTREAM_REJECTED' } });
    expect(events.at(-1)).toEqual({ event: 'end', data: { reason: 'limit', traced: 1 } });
  });

  it('a viewer sees no body, no header value and no error text; the path, route, timings and error codes stay', async () => {
    const out: string[] = [];
    const traced = main(['trace', 'traced-orders', '--limit', '2', '--user', 'vera', '--json'], (s) => out.push(s), (s) => out.push(s), { env: { HUB_URL: base, HUB_ADMIN_PASSWORD: 'vera-password-1' } });
    await waitFor(() => hub.runners[0]!.traces === 1, 5_000, 'the trace to be open');
    expect(await order('C-1', 50)).toBe(200);
    downstream.status = 400;
    const status = await order('C-2', 1);
    downstream.status = undefined;
    expect(status).toBe(502);
    expect(await traced).toBe(0);
    const [m, failed] = out.map((s) => JSON.parse(s) as { event: string; data: TracedMessage }).filter((e) => e.event === 'message').map((e) => e.data);
    expect(JSON.stringify(m)).not.toContain('C-1');
    expect(m!.input).toMatchObject({ body: '', masked: true });
    expect(Object.values(m!.input.headers).every((v) => v === '***')).toBe(true);
    expect(m!.steps[1]).toMatchObject({ route: 'big' });
    expect(m!.sinks[0]!.reply).toMatchObject({ masked: true });
    // An error's text may quote a body: its code only, as in the admin API's messages.
    const masked = { code: 'DOWNSTREAM_REJECTED', message: '*** (masked for viewers)' };
    expect(failed).toMatchObject({ outcome: 'failed', error: { ...masked, step: '1:route' }, sinks: [{ sink: 'small', error: masked }] });
    expect(failed!.steps[1]!.error).toEqual(masked);
  });

  it('ends when its time is up, and refuses what it cannot do', async () => {
    const events: string[] = [];
    const started = Date.now();
    expect(await main(['trace', 'traced-orders', '--seconds', '1', '--json'], (s) => events.push(s), () => {}, { env: env() })).toBe(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(JSON.parse(events.at(-1)!)).toEqual({ event: 'end', data: { reason: 'time', traced: 0 } });

    const err: string[] = [];
    expect(await main(['trace', 'no-such-flow'], () => {}, (s) => err.push(s), { env: env() })).toBe(1);
    expect(err.join('\n')).toMatch(/404 NOT_FOUND.*no flow named "no-such-flow" runs in this hub \(flows here: traced-orders\)/);
    const tooMany = await request(`${base}/admin/api/flows/traced-orders/trace?limit=1000`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(tooMany.statusCode).toBe(400);
    expect(await tooMany.body.json()).toMatchObject({ code: 'BAD_REQUEST', detail: expect.stringContaining('limit') });
    expect(await main(['trace', 'traced-orders', '--limit', '0'], () => {}, () => {}, { env: env() })).toBe(2);
  });

  it('a trace that closes early stops following; a reload keeps an open trace on the new version', async () => {
    const events: string[] = [];
    const abort = new AbortController();
    const res = await fetch(`${base}/admin/api/flows/traced-orders/trace?limit=5`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
    const reader = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) events.push(decoder.decode(chunk));
      } catch {
        // aborted
      }
    })();
    await waitFor(() => hub.runners[0]!.traces === 1, 5_000, 'the trace to be open');
    writeFileSync(join(work, 'flows', 'traced-orders.yaml'), FLOW.replace('"total": qty * price', '"total": qty * price, "v": 2'));
    expect((await hub.reload()).changed).toEqual(['traced-orders']);
    expect(hub.runners[0]!.traces).toBe(1);
    expect(await order('D-1', 1)).toBe(200);
    await waitFor(() => events.join('').includes('\\"v\\":2'), 5_000, 'the new version traced');
    abort.abort();
    await reader;
    await waitFor(() => hub.runners[0]!.traces === 0, 5_000, 'the trace to end');
    await sleep(50);
    expect(await order('D-2', 1)).toBe(200);
  });
});
