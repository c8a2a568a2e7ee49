import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../../adapters/amqp/test-support.js';
import { Downstream } from '../../test/support/downstream.js';
import { builtinRegistry } from '../builtins.js';
import { defaultHubConfig } from '../config/hub-config.js';
import { PROJECT_ROOT } from '../config/paths.js';
import type { MessageSummary, Page } from '../journal/contract.js';
import { docChecker } from '../../test/support/openapi.js';
import { Hub } from '../hub.js';
import { ADMIN_PREFIX } from './api/constants.js';
import type { AuditEntry } from './audit.js';

// The console's operations on a real hub (Hub.build, app.inject; the live feed over a real socket) with a real
// embedded journal and the admin test flow (RabbitMQ in, an HTTP service out): the replay's dry run, pause and
// resume, archive, the flows' rate and latency, and the live feed.

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'admin');
const TOKEN = 'operations-test-token-0123456789abcdef';

describe('admin API: check, pause, archive, rates, live feed', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('admin-ops');
  const auditQueue = unique('admin-ops-audit');
  const journalDir = mkdtempSync(join(tmpdir(), 'admin-ops-'));
  let hub: Hub;
  const dead: string[] = [];

  const check = docChecker();
  /** Every answer is checked against /admin/docs (the live feed is read elsewhere). */
  async function request(method: InjectOptions['method'], path: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await hub.app.inject({ method, url: ADMIN_PREFIX + path, headers: { authorization: `Bearer ${TOKEN}`, 'x-hub-actor': 'ops-test', ...headers }, ...(body === undefined ? {} : { payload: body as object }) });
    check(String(method), path, res);
    return res;
  }
  async function deadIds(): Promise<string[]> {
    return ((await request('GET', '/messages?status=dead&limit=100')).json() as Page<MessageSummary>).items.map((m) => m.id);
  }
  async function publish(n: number, prefix: string): Promise<void> {
    for (let i = 1; i <= n; i++) await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: `${prefix}-${i}`, qty: i })), { contentType: 'application/json', correlationId: `${prefix}-${i}` });
  }

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir: join(FIXTURES, 'flows'), schemasDir: join(FIXTURES, 'schemas'), logLevel: 'silent', shutdownGraceMs: 2000, journal: { dir: journalDir, keep: { archived: 3 * 86_400_000 } }, admin: { token: TOKEN } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
    });
    await waitFor(() => hub.runners.every((r) => r.ready()), 15_000, 'the flow to be ready');
    await publish(4, 'ops');
    await waitFor(async () => (await deadIds()).length === 4, 15_000, 'four dead messages');
    dead.push(...(await deadIds()));
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  it('checks an edited body against the flow\'s schema without booking or sending anything', async () => {
    const id = dead[0]!;
    const sent = downstream.received.length;
    const bad = await request('POST', `/messages/${id}/replay/check`, { body: '{"orderId": "", "qty": 0}' });
    expect(bad.statusCode, bad.body).toBe(200);
    const answer = bad.json() as { ok: boolean; schema: string; errors: { path: string; message: string }[] };
    expect(answer).toMatchObject({ ok: false, schema: 'admin-order.v1' });
    expect(answer.errors.length).toBeGreaterThanOrEqual(2);
    expect(answer.errors.map((e) => e.path).join(' ')).toContain('qty');
    expect((await request('POST', `/messages/${id}/replay/check`, { body: '{"orderId": "x-1", "qty": 1}' })).json()).toEqual({ ok: true, schema: 'admin-order.v1', errors: [] });
    // The stored body, and a body for a sink, which need only be well-formed.
    expect((await request('POST', `/messages/${id}/replay/check`, {})).json()).toMatchObject({ ok: true });
    expect((await request('POST', `/messages/${id}/replay/check`, { sink: 'archive', body: '{"no": ' })).json()).toMatchObject({ ok: false, errors: [{ path: '/', message: expect.stringContaining('BAD_JSON') }] });
    expect((await request('POST', '/messages/01NOSUCHMESSAGE0000000000/replay/check', {})).statusCode).toBe(404);
    expect((await request('POST', `/messages/${id}/replay/check`, { sink: 'nope' })).statusCode).toBe(400);
    const record = await hub.journal.get(id);
    expect([record?.status, record?.replayedAs, downstream.received.length]).toEqual(['dead', [], sent]);
    expect((await hub.journal.listReplays({ originalId: id })).items).toEqual([]);
  });

  it('pauses and resumes a flow: GET /flows shows it, a broker delivery is held, a replay is refused; both are audited', async () => {
    const flows = async (): Promise<{ name: string; state: string; paused?: { by: string; held: number } }[]> => ((await request('GET', '/flows')).json() as { flows: { name: string; state: string; paused?: { by: string; held: number } }[] }).flows;
    expect((await flows())[0]).toMatchObject({ name: 'admin-orders', state: 'running' });
    const paused = await request('POST', '/flows/admin-orders/pause');
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json()).toMatchObject({ name: 'admin-orders', state: 'paused', changed: true, paused: { by: 'token:ops-test', held: 0 } });
    expect((await request('POST', '/flows/admin-orders/pause')).json()).toMatchObject({ state: 'paused', changed: false });
    expect((await request('POST', '/flows/no-such-flow/pause')).statusCode).toBe(404);

    downstream.failing = false;
    const sent = downstream.received.length;
    await publish(1, 'held');
    await waitFor(async () => (await flows())[0]?.paused?.held === 1, 5_000, 'the delivery to be held');
    expect((await flows())[0]).toMatchObject({ state: 'paused', paused: { by: 'token:ops-test', held: 1 } });
    expect((await request('GET', '/messages?correlationId=held-1')).json()).toEqual({ items: [] });
    const replay = await request('POST', `/messages/${dead[1]}/replay`, {});
    expect(replay.statusCode).toBe(409);
    expect(replay.json()).toMatchObject({ code: 'CONFLICT', detail: expect.stringContaining('paused') });
    expect(downstream.received.length).toBe(sent);

    const resumed = await request('POST', '/flows/admin-orders/resume');
    expect(resumed.json()).toEqual({ name: 'admin-orders', state: 'running', changed: true });
    await waitFor(async () => ((await request('GET', '/messages?correlationId=held-1')).json() as Page<MessageSummary>).items[0]?.status === 'delivered', 5_000, 'the held message to be delivered');
    expect((await request('POST', '/flows/admin-orders/resume')).json()).toMatchObject({ changed: false });
    // The delivery counts in the flow's rate and latency.
    const [info] = ((await request('GET', '/flows')).json() as { flows: { rate: { perSecond: number; p99Ms?: number; samples: number; windowSeconds: number } }[] }).flows;
    expect(info!.rate).toMatchObject({ perSecond: expect.any(Number), p99Ms: expect.any(Number), samples: 1, windowSeconds: 60 });
    expect(info!.rate.perSecond).toBeGreaterThan(0);
    downstream.failing = true;

    const audit = ((await request('GET', '/audit?limit=50')).json() as { items: AuditEntry[] }).items;
    expect(audit).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'pause', outcome: 'ok', actor: 'token:ops-test', target: 'flow admin-orders', detail: 'paused' }),
      expect.objectContaining({ action: 'pause', outcome: 'ok', detail: 'was paused already' }),
      expect.objectContaining({ action: 'pause', outcome: 'failed', target: 'flow no-such-flow', status: 404 }),
      expect.objectContaining({ action: 'resume', outcome: 'ok', detail: 'resumed (1 held deliveries go on)' }),
    ]));
  });

  it('archives one dead message and a whole group with who and why; they leave the dead letters, and retention removes them after journal.keep.archived', async () => {
    const one = await request('POST', `/messages/${dead[2]}/archive`, { reason: 'customer cancelled' });
    expect(one.statusCode, one.body).toBe(200);
    const record = await hub.journal.get(dead[2]!);
    // Retention counts from the archiving, not from receipt.
    expect(one.json()).toEqual({ id: dead[2], status: 'archived', removableFrom: new Date(Date.parse(record!.timeline.at(-1)!.at) + 3 * 86_400_000).toISOString() });
    expect(record?.status).toBe('archived');
    expect(record?.timeline.at(-1)).toMatchObject({ type: 'archived', detail: 'archived by token:ops-test: customer cancelled' });
    expect((await request('POST', `/messages/${dead[2]}/archive`, {})).statusCode).toBe(409);
    expect((await request('POST', '/messages/01NOSUCHMESSAGE0000000000/archive', {})).statusCode).toBe(404);

    const [group] = (await request('GET', '/dead-letters')).json().groups as { flow: string; step: string; code: string; count: number }[];
    expect(group).toMatchObject({ flow: 'admin-orders', step: '2:to', code: 'DOWNSTREAM_UNAVAILABLE', count: 3 });
    const all = await request('POST', '/dead-letters/archive', { flow: group!.flow, step: group!.step, code: group!.code, reason: 'outage of 3 May, handled by phone' });
    expect(all.statusCode, all.body).toBe(200);
    expect(all.json()).toEqual({ matched: 3, capped: false, archived: 3, failed: [], keepMs: 3 * 86_400_000 });
    expect((await request('GET', '/dead-letters')).json()).toEqual({ groups: [] });
    expect((await request('POST', '/dead-letters/archive', { flow: group!.flow, step: group!.step, code: group!.code })).statusCode).toBe(404);
    const archived = ((await request('GET', '/messages?status=archived')).json() as Page<MessageSummary>).items.map((m) => m.id).sort();
    expect(archived).toEqual([...dead].sort());

    const audit = ((await request('GET', '/audit?limit=50')).json() as { items: AuditEntry[] }).items;
    expect(audit).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'archive', outcome: 'ok', actor: 'token:ops-test', target: dead[2], detail: expect.stringMatching(/^archived \(reason: customer cancelled\); removable from /) }),
      expect.objectContaining({ action: 'archive', outcome: 'failed', target: dead[2], status: 409 }),
      expect.objectContaining({ action: 'bulk-archive', outcome: 'ok', target: expect.stringContaining('DOWNSTREAM_UNAVAILABLE'), detail: 'matched 3, archived 3, failed 0 (reason: outage of 3 May, handled by phone)' }),
    ]));
    // Not yet past their retention, then past it.
    expect(await hub.retention.sweep(Date.now())).toBe(0);
    expect(await hub.retention.sweep(Date.now() + 3 * 86_400_000 + 60_000)).toBe(4);
    expect(await hub.journal.get(dead[0]!)).toBeUndefined();
  });

  it('streams the flows every second and a notice when a message dies, over server-sent events; a viewer\'s role suffices, no credentials do not', async () => {
    const base = (await hub.listen()).replace('localhost', '127.0.0.1');
    expect((await hub.app.inject({ method: 'GET', url: `${ADMIN_PREFIX}/events` })).statusCode).toBe(401);
    const controller = new AbortController();
    const res = await fetch(`${base}${ADMIN_PREFIX}/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal });
    expect([res.status, res.headers.get('content-type'), res.headers.get('content-security-policy')]).toEqual([200, 'text/event-stream; charset=utf-8', expect.stringContaining("default-src 'self'")]);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const events: { event: string; data: { flows?: { name: string }[]; id?: string; status?: string; flow?: string } }[] = [];
    let buffer = '';
    const next = async (want: (e: (typeof events)[number]) => boolean): Promise<(typeof events)[number]> => {
      for (;;) {
        const found = events.find(want);
        if (found) return found;
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) as (typeof events)[number]['data'] });
        }
      }
    };
    try {
      expect((await next((e) => e.event === 'flows')).data.flows?.[0]).toMatchObject({ name: 'admin-orders', state: 'running', rate: expect.any(Object) });
      const started = Date.now();
      await next((e) => e.event === 'flows' && events.filter((x) => x.event === 'flows').length >= 2);
      expect(Date.now() - started).toBeLessThan(2_500);
      await publish(1, 'live');
      const notice = await next((e) => e.event === 'message' && e.data.status === 'dead');
      expect(notice.data).toMatchObject({ flow: 'admin-orders', status: 'dead', id: expect.any(String) });
      expect((await hub.journal.get(notice.data.id!))?.correlationId).toBe('live-1');
      // Archiving it is a notice too.
      await request('POST', `/messages/${notice.data.id}/archive`, {});
      await next((e) => e.event === 'message' && e.data.status === 'archived' && e.data.id === notice.data.id);
    } finally {
      controller.abort();
    }
  });
});
