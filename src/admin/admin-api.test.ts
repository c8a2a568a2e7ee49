import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse, type RouteOptions } from 'fastify';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../../adapters/amqp/test-support.js';
import { Downstream } from '../../test/support/downstream.js';
import { builtinRegistry } from '../builtins.js';
import { defaultHubConfig, type HubConfig } from '../config/hub-config.js';
import { PROJECT_ROOT } from '../config/paths.js';
import type { MessageRecord, MessageSummary, Page, ReplayRecord } from '../journal/contract.js';
import { deleteRedisJournal } from '../journal/redis.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { Hub } from '../hub.js';
import { docChecker } from '../../test/support/openapi.js';
import { ADMIN_PREFIX } from './api/constants.js';
import { registerAdminApi } from './routes.js';

// The admin API of a real hub (Hub.build, app.inject) with a real embedded journal, the real RabbitMQ feeding the
// flow, and a real HTTP server downstream that fails (503) or works as the test says.

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'admin');
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'admin-api-test-token-0123456789abcdef';


function config(dir: string, flowsDir: string, token?: string, redisPrefix?: string): HubConfig {
  return defaultHubConfig({
    port: 0,
    flowsDir,
    schemasDir: join(FIXTURES, 'schemas'),
    logLevel: 'silent',
    shutdownGraceMs: 2000,
    journal: { dir, ...(redisPrefix ? { redisUrl: REDIS_URL, prefix: redisPrefix } : {}) },
    admin: { token },
  });
}

/** A logger that keeps warnings and worse, to check what an operator reads at start. */
function keepingLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  return { logger: pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) }), lines };
}

describe.each(['embedded', 'redis'] as const)('admin API (%s journal)', (backend) => {
  const redisPrefix = backend === 'redis' ? `test:admin:${randomUUID()}` : undefined;
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('admin');
  const auditQueue = unique('admin-audit');
  const journalDir = mkdtempSync(join(tmpdir(), 'admin-api-'));
  const { logger } = keepingLogger();
  const check = docChecker();
  let hub: Hub;

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await Hub.build({
      config: config(journalDir, join(FIXTURES, 'flows'), TOKEN, redisPrefix),
      registry: builtinRegistry(),
      logger,
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
    });
    await waitFor(() => hub.runners.every((r) => r.ready()), 15_000, 'the flow to be ready');
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(journalDir, { recursive: true, force: true });
    if (redisPrefix) await deleteRedisJournal(REDIS_URL, redisPrefix);
  });

  async function api(method: InjectOptions['method'], path: string, options: { body?: unknown; headers?: Record<string, string>; remoteAddress?: string; documented?: string | false } = {}): Promise<LightMyRequestResponse> {
    const headers = { authorization: `Bearer ${TOKEN}`, ...options.headers };
    const res = await hub.app.inject({
      method,
      url: ADMIN_PREFIX + path,
      ...(options.body === undefined ? { headers } : { payload: JSON.stringify(options.body), headers: { 'content-type': 'application/json', ...headers } }),
      ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
    });
    // Every answer is checked against /admin/docs.
    if (options.documented !== false) check(String(method), options.documented ?? path, res);
    return res;
  }

  const publish = (body: unknown, correlationId: string, contentType = 'application/json'): Promise<void> =>
    broker.publish('', queue, Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)), { contentType, correlationId });

  /** The original (not a replay) with this correlation id, once it has the status. */
  async function settled(correlationId: string, status: string): Promise<MessageSummary> {
    let found: MessageSummary | undefined;
    await waitFor(async () => {
      const page = (await api('GET', `/messages?correlationId=${correlationId}`)).json() as Page<MessageSummary>;
      found = page.items.find((m) => !m.replayOf && m.status === status);
      return found !== undefined;
    }, 15_000, `message ${correlationId} to be ${status}`);
    return found!;
  }

  const auditCount = async (): Promise<number> => (await broker.count(auditQueue)) ?? -1;

  const ids: Record<string, string> = {};

  it('records what the flow did: three orders dead while the service is down, bad input dead, two delivered (one truncated)', async () => {
    for (const n of [1, 2, 3]) await publish({ orderId: `o-${n}`, qty: n }, `down-${n}`);
    await publish({ orderId: 'o-bad', qty: 'many' }, 'invalid');
    await publish(Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x41]), 'binary', 'application/octet-stream');
    for (const n of [1, 2, 3]) ids[`down-${n}`] = (await settled(`down-${n}`, 'dead')).id;
    ids.invalid = (await settled('invalid', 'dead')).id;
    ids.binary = (await settled('binary', 'dead')).id;
    downstream.failing = false;
    await publish({ orderId: 'o-ok', qty: 1 }, 'ok');
    await publish({ orderId: 'o-big', qty: 1, note: 'x'.repeat(2000) }, 'big');
    ids.ok = (await settled('ok', 'delivered')).id;
    ids.big = (await settled('big', 'delivered')).id;
    // The tap copied each valid order to the audit queue before the service was called.
    await waitFor(async () => (await auditCount()) === 5, 5000, 'five audit copies');
  });

  it('GET /flows: each flow with its source, sinks, journal policy, readiness and counters', async () => {
    const res = await api('GET', '/flows', { documented: '/flows' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      flows: [
        {
          name: 'admin-orders',
          source: { adapter: 'amqp', requestReply: false },
          sinks: [{ name: 'orders', adapter: 'rest' }, { name: 'archive', adapter: 'rest' }, { name: 'audit', adapter: 'amqp', requestReply: false }],
          steps: ['0:validate', '1:tap', '2:to'],
          journal: { record: 'all', bodyBytes: 512 },
          ready: true,
          stats: { received: 7, completed: 2, dead: 5 },
        },
      ],
    });
  });

  it('GET /messages: searches by flow, status (repeated or comma-separated), error code, step and text, pages with a cursor', async () => {
    const search = async (query: string): Promise<string[]> => {
      const res = await api('GET', `/messages?${query}`, { documented: '/messages' });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json() as Page<MessageSummary>).items.map((m) => m.id);
    };
    expect(await search('flow=admin-orders&status=dead')).toHaveLength(5);
    expect(await search('flow=admin-orders&status=dead,delivered')).toHaveLength(7);
    expect(await search('status=dead&status=delivered')).toHaveLength(7);
    expect((await search('errorCode=DOWNSTREAM_UNAVAILABLE')).sort()).toEqual([ids['down-1'], ids['down-2'], ids['down-3']].sort());
    expect(await search('errorStep=0:validate&errorCode=VALIDATION_FAILED')).toEqual([ids.invalid]);
    expect(await search('errorText=does%20not%20match')).toEqual([ids.invalid]);
    expect(await search(`from=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([]);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await api('GET', `/messages?flow=admin-orders&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { documented: '/messages' });
      const page = res.json() as Page<MessageSummary>;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((m) => m.id));
      cursor = page.next;
    } while (cursor);
    expect(new Set(seen).size).toBe(7);
  });

  it('GET /messages: a bad parameter is a 400 problem that says which and why', async () => {
    for (const [query, reason] of [
      ['status=bogus', /unknown status "bogus"/],
      ['limit=0', /query\.limit: must be >= 1/],
      ['limit=many', /query\.limit: must be integer/],
      ['from=yesterday', /query\.from: must match format "date-time"/],
      ['colour=red', /unknown parameter "colour"/],
      ['cursor=not-a-cursor', /cursor/],
    ] as const) {
      const res = await api('GET', `/messages?${query}`, { documented: '/messages' });
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.json()).toMatchObject({ status: 400, code: 'BAD_REQUEST', type: 'urn:integration-hub:error:BAD_REQUEST' });
      expect((res.json() as { detail: string }).detail).toMatch(reason);
    }
  });

  it('GET /messages/:id: the record with body, headers and timeline; 404 problem when there is none', async () => {
    const res = await api('GET', `/messages/${ids['down-1']}`, { documented: '/messages/:id' });
    const rec = res.json() as MessageRecord;
    expect(rec).toMatchObject({ id: ids['down-1'], flow: 'admin-orders', status: 'dead', correlationId: 'down-1', lastError: { code: 'DOWNSTREAM_UNAVAILABLE', step: '2:to' } });
    expect(rec.body).toMatchObject({ encoding: 'utf8', data: JSON.stringify({ orderId: 'o-1', qty: 1 }), truncated: false });
    // Each sink try is a `sink` event of its own under journal: all (what `hub messages fixture` replays).
    expect(rec.timeline.filter((e) => e.type !== 'sink').map((e) => e.type)).toEqual(['received', 'step', 'step', 'failed', 'dead']);
    expect(rec.timeline.filter((e) => e.type === 'sink').length).toBeGreaterThan(0);
    expect(rec.headers['content-type']).toBe('application/json');

    const missing = await api('GET', '/messages/01NOSUCHMESSAGE0000000000', { documented: '/messages/:id' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(missing.json()).toMatchObject({ code: 'NOT_FOUND', messageId: '01NOSUCHMESSAGE0000000000', detail: expect.stringContaining('no such message') });
    expect((await api('GET', '/no/such/route', { documented: false })).json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('a body that is not UTF-8 is shown as base64 and served raw with its content type', async () => {
    const rec = (await api('GET', `/messages/${ids.binary}`)).json() as MessageRecord;
    expect(rec.body).toMatchObject({ encoding: 'base64', data: Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x41]).toString('base64'), size: 5 });
    expect(rec.lastError).toMatchObject({ step: '0:validate' });
    const raw = await api('GET', `/messages/${ids.binary}/body`, { documented: '/messages/:id/body' });
    expect(raw.statusCode).toBe(200);
    expect(raw.headers['content-type']).toBe('application/octet-stream');
    expect(raw.headers['x-content-type-options']).toBe('nosniff');
    expect(raw.rawPayload).toEqual(Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x41]));
    expect(raw.headers['x-body-sha256']).toBe(sha256(Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x41])));
    expect((await api('GET', '/messages/01NOSUCHMESSAGE0000000000/body', { documented: '/messages/:id/body' })).statusCode).toBe(404);
  });

  it('GET /dead-letters: groups by flow, step and code, largest first', async () => {
    const res = await api('GET', '/dead-letters?flow=admin-orders', { documented: '/dead-letters' });
    const { groups } = res.json() as { groups: { step: string; code: string; count: number }[] };
    expect(groups[0]).toMatchObject({ flow: 'admin-orders', step: '2:to', code: 'DOWNSTREAM_UNAVAILABLE', count: 3 });
    expect(groups.slice(1).map((g) => `${g.step} ${g.code} ${g.count}`).sort()).toEqual(['0:validate BAD_REQUEST 1', '0:validate VALIDATION_FAILED 1']);
    expect((await api('GET', '/dead-letters?flow=no-such-flow')).json()).toEqual({ groups: [] });
  });

  it('replays one message once the service is back: delivered, original resolved, replayOf, audit with hashes; the same key twice sends once', async () => {
    const id = ids['down-1']!;
    const before = downstream.bodies('/orders').length;
    const audit = await auditCount();
    const headers = { 'idempotency-key': 'replay-down-1', 'x-hub-actor': 'alice' };
    const res = await api('POST', `/messages/${id}/replay`, { body: { note: 'service is back' }, headers, documented: '/messages/:id/replay' });
    expect(res.statusCode, res.body).toBe(200);
    const result = res.json() as { newId: string; duplicate: boolean; outcome: string; replay: ReplayRecord };
    expect(result).toMatchObject({ duplicate: false, outcome: 'delivered', replay: { originalId: id, by: 'token:alice', target: { to: 'start' }, edited: false, note: 'service is back' } });
    expect(downstream.bodies('/orders').slice(before)).toEqual([{ orderId: 'o-1', qty: 1 }]);
    // From the start: the tap ran again.
    expect(await auditCount()).toBe(audit + 1);

    const original = (await api('GET', `/messages/${id}`)).json() as MessageRecord;
    expect(original.status).toBe('resolved');
    expect(original.replayedAs).toEqual([result.newId]);
    const replayed = (await api('GET', `/messages/${result.newId}`)).json() as MessageRecord;
    expect(replayed).toMatchObject({ replayOf: id, status: 'delivered', correlationId: 'down-1' });

    const audits = (await api('GET', `/replays?originalId=${id}`, { documented: '/replays' })).json() as Page<ReplayRecord>;
    const body = JSON.stringify({ orderId: 'o-1', qty: 1 });
    expect(audits.items).toEqual([expect.objectContaining({ requestKey: 'replay-down-1', newId: result.newId, by: 'token:alice', bodyHashBefore: sha256(body), bodyHashAfter: sha256(body), edited: false })]);

    const again = await api('POST', `/messages/${id}/replay`, { body: { note: 'service is back' }, headers, documented: '/messages/:id/replay' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ duplicate: true, newId: result.newId, outcome: 'delivered' });
    expect(downstream.bodies('/orders').length).toBe(before + 1);
    expect(((await api('GET', `/replays?originalId=${id}`)).json() as Page<ReplayRecord>).items).toHaveLength(1);

    // The key names one replay: used for another message it is a conflict, not a silent duplicate.
    const reused = await api('POST', `/messages/${ids['down-2']}/replay`, { headers, documented: '/messages/:id/replay' });
    expect(reused.statusCode).toBe(409);
    expect((reused.json() as { detail: string }).detail).toContain('was used for replay');
  });

  it('an edited body that fails the flow\'s input schema is a 422 with the schema\'s errors, and nothing is sent', async () => {
    const before = downstream.received.length;
    const res = await api('POST', `/messages/${ids.invalid}/replay`, { body: { body: JSON.stringify({ orderId: '', qty: 0 }) }, documented: '/messages/:id/replay' });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toBe('application/problem+json');
    const problem = res.json() as { code: string; errors: { path: string; message: string }[]; detail: string };
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/qty' }), expect.objectContaining({ path: '/orderId' })]));
    expect(problem.detail).toContain('admin-order.v1');
    expect(downstream.received.length).toBe(before);
    expect(((await api('GET', `/messages/${ids.invalid}`)).json() as MessageRecord).status).toBe('dead');
    expect(((await api('GET', `/replays?originalId=${ids.invalid}`)).json() as Page<ReplayRecord>).items).toEqual([]);

    const notJson = await api('POST', `/messages/${ids.invalid}/replay`, { body: { body: '{"orderId": ' } });
    expect(notJson.statusCode).toBe(422);
    expect(downstream.received.length).toBe(before);
  });

  it('an edited body that passes is sent; the audit says edited with both hashes; the same request without a key twice sends once', async () => {
    const fixed = JSON.stringify({ orderId: 'o-bad', qty: 3 });
    const request = { body: Buffer.from(fixed).toString('base64'), bodyEncoding: 'base64', contentType: 'application/json', note: 'qty fixed' };
    const res = await api('POST', `/messages/${ids.invalid}/replay`, { body: request, headers: { 'x-hub-actor': 'bob' }, documented: '/messages/:id/replay' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ outcome: 'delivered', replay: { edited: true, by: 'token:bob', bodyHashBefore: sha256(JSON.stringify({ orderId: 'o-bad', qty: 'many' })), bodyHashAfter: sha256(fixed) } });
    expect(downstream.bodies('/orders').at(-1)).toEqual({ orderId: 'o-bad', qty: 3 });
    const count = downstream.received.length;
    const again = await api('POST', `/messages/${ids.invalid}/replay`, { body: request, headers: { 'x-hub-actor': 'bob' } });
    expect(again.json()).toMatchObject({ duplicate: true });
    expect(downstream.received.length).toBe(count);
  });

  it('replays to another sink of the flow, skipping the steps; an unknown sink is a 400', async () => {
    const audit = await auditCount();
    const unknownSink = await api('POST', `/messages/${ids['down-2']}/replay`, { body: { sink: 'nowhere' }, documented: '/messages/:id/replay' });
    expect(unknownSink.statusCode).toBe(400);
    expect((unknownSink.json() as { detail: string }).detail).toContain('no sink named "nowhere" (sinks: orders, archive, audit)');
    expect((await api('POST', `/messages/${ids['down-2']}/replay`, { body: { sink: 'archive', to: 'failed-step' } })).statusCode).toBe(400);

    const res = await api('POST', `/messages/${ids['down-2']}/replay`, { body: { sink: 'archive' }, documented: '/messages/:id/replay' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ outcome: 'delivered', replay: { target: { to: 'start', sink: 'archive' } } });
    expect(downstream.bodies('/archive')).toEqual([{ orderId: 'o-2', qty: 2 }]);
    expect(await auditCount()).toBe(audit);
  });

  it('replays to the failed step: the one-way tap before it is not called again', async () => {
    const audit = await auditCount();
    const res = await api('POST', `/messages/${ids['down-3']}/replay`, { body: { to: 'failed-step' }, documented: '/messages/:id/replay' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ outcome: 'delivered', replay: { target: { to: 'failed-step', step: '2:to' } } });
    expect(downstream.bodies('/orders').at(-1)).toEqual({ orderId: 'o-3', qty: 3 });
    expect(await auditCount()).toBe(audit);
  });

  it('a replay that fails again is parked again (202, dead) and can be found and replayed', async () => {
    downstream.failing = true;
    try {
      const res = await api('POST', `/messages/${ids.ok}/replay`, { body: { note: 'resend' }, documented: '/messages/:id/replay' });
      expect(res.statusCode, res.body).toBe(202);
      const result = res.json() as { newId: string };
      expect(res.json()).toMatchObject({ outcome: 'dead', error: { code: 'DOWNSTREAM_UNAVAILABLE', step: '2:to' } });
      expect(((await api('GET', `/messages/${result.newId}`)).json() as MessageRecord).status).toBe('dead');
    } finally {
      downstream.failing = false;
    }
  });

  it('refuses what it cannot replay: a missing id (404), a truncated body without an edited one (409), a flow not running here (409)', async () => {
    const missing = await api('POST', '/messages/01NOSUCHMESSAGE0000000000/replay', { documented: '/messages/:id/replay' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'NOT_FOUND', detail: expect.stringContaining('no such message') });

    const big = (await api('GET', `/messages/${ids.big}`)).json() as MessageRecord;
    expect(big.body).toMatchObject({ truncated: true });
    const truncated = await api('POST', `/messages/${ids.big}/replay`, { documented: '/messages/:id/replay' });
    expect(truncated.statusCode).toBe(409);
    expect((truncated.json() as { detail: string }).detail).toMatch(/holds only the first 512 of \d+ bytes.*edited body/);
    const whole = await api('POST', `/messages/${ids.big}/replay`, { body: { body: JSON.stringify({ orderId: 'o-big', qty: 1 }) } });
    expect(whole.json()).toMatchObject({ outcome: 'delivered' });

    await hub.journal.record({ id: 'gone-1', flow: 'retired-flow', source: 'amqp:old', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('{}') }, [{ type: 'received', at: new Date().toISOString() }], { maxBodyBytes: 1024 });
    const gone = await api('POST', '/messages/gone-1/replay', { documented: '/messages/:id/replay' });
    expect(gone.statusCode).toBe(409);
    expect((gone.json() as { detail: string }).detail).toContain('flow "retired-flow", which does not run in this hub');

    const badBody = await api('POST', `/messages/${ids.ok}/replay`, { body: { to: 'somewhere', extra: 1 }, documented: '/messages/:id/replay' });
    expect(badBody.statusCode).toBe(400);
    expect((badBody.json() as { errors: { message: string }[] }).errors.map((e) => e.message)).toEqual(expect.arrayContaining(['unknown key "extra"', 'must be one of "start", "failed-step"']));
    const notJson = await hub.app.inject({ method: 'POST', url: `${ADMIN_PREFIX}/messages/${ids.ok}/replay`, payload: 'to=start', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${TOKEN}` } });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ code: 'BAD_JSON' });
  });

  it('POST /replays: replays every match of a filter, a few at a time, with counts; a filter matching nothing is a 404', async () => {
    downstream.failing = true;
    for (const n of [1, 2, 3, 4]) await publish({ orderId: `bulk-${n}`, qty: n }, `bulk-${n}`);
    for (const n of [1, 2, 3, 4]) await settled(`bulk-${n}`, 'dead');
    downstream.failing = false;
    const before = downstream.bodies('/orders').length;
    const filter = { flow: 'admin-orders', status: ['dead'], errorCode: 'DOWNSTREAM_UNAVAILABLE', from: new Date(Date.now() - 60_000).toISOString() };

    // One dead replay (the resend above) and four bulk orders match.
    const first = await api('POST', '/replays', { body: { filter, max: 3 }, headers: { 'x-hub-actor': 'carol' }, documented: '/replays' });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ matched: 3, capped: true, replayed: 3, duplicates: 0, outcomes: { delivered: 3, 'waiting-for-retry': 0, dead: 0 }, failed: [] });
    const rest = await api('POST', '/replays', { body: { filter, to: 'failed-step' }, documented: '/replays' });
    expect(rest.json()).toMatchObject({ matched: 2, capped: false, replayed: 2, failed: [] });
    const sent = downstream.bodies('/orders').slice(before) as { orderId: string }[];
    expect(sent.map((b) => b.orderId).sort()).toEqual(['bulk-1', 'bulk-2', 'bulk-3', 'bulk-4', 'o-ok']);
    const audits = ((await api('GET', '/replays?limit=500')).json() as Page<ReplayRecord>).items;
    expect(audits.filter((a) => a.by === 'token:carol')).toHaveLength(3);

    const none = await api('POST', '/replays', { body: { filter }, documented: '/replays' });
    expect(none.statusCode).toBe(404);
    expect(none.json()).toMatchObject({ code: 'NOT_FOUND', detail: 'no message matches the filter' });
    expect((await api('POST', '/replays', { body: { filter: { flow: 'nope' } }, documented: '/replays' })).statusCode).toBe(400);
    expect((await api('POST', '/replays', { body: { filter: {}, sink: 'archive' }, documented: '/replays' })).statusCode).toBe(400);
    expect((await api('POST', '/replays', { body: { filter: {}, max: 10_001 }, documented: '/replays' })).statusCode).toBe(400);
  });

  it('DELETE /messages/:id removes a record; a second time it is a 404', async () => {
    expect((await api('DELETE', `/messages/${ids.binary}`, { documented: '/messages/:id' })).statusCode).toBe(204);
    expect((await api('GET', `/messages/${ids.binary}`)).statusCode).toBe(404);
    expect((await api('DELETE', `/messages/${ids.binary}`, { documented: '/messages/:id' })).statusCode).toBe(404);
  });

  it('GET /openapi.json: an OpenAPI 3.1 document with every route registered under /admin/api', async () => {
    const res = await api('GET', '/openapi.json', { documented: '/openapi.json' });
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    // Every route the registration adds, seen by fastify itself.
    const app: FastifyInstance = Fastify();
    const routes: RouteOptions[] = [];
    app.addHook('onRoute', (r) => void routes.push(r));
    registerAdminApi(app, { journal: hub.journal, runners: [], token: 'x'.repeat(32), logger: pino({ level: 'silent' }) });
    await app.ready();
    const admin = routes.filter((r) => r.url.startsWith('/admin/')).flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== 'HEAD').map((m) => `${m} ${r.url}`));
    expect(admin.length).toBeGreaterThanOrEqual(15);
    expect(admin).toEqual(expect.arrayContaining(['POST /admin/api/session', 'GET /admin/api/audit', 'GET /admin/docs']));
    for (const route of admin) {
      const [method, url] = route.split(' ') as [string, string];
      const path = url.replace(/:([A-Za-z_]\w*)/g, '{$1}');
      expect(doc.paths[path]?.[method.toLowerCase()], `${route} is documented`).toBeDefined();
    }
    await app.close();
  });
});

describe('admin API with a token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'admin-token-'));
  const flows = mkdtempSync(join(tmpdir(), 'admin-no-flows-'));
  const token = 'a-long-admin-token-for-tests-0123456789';
  let hub: Hub;
  beforeAll(async () => {
    const journal = await openEmbeddedJournal({ dir });
    hub = await Hub.build({ config: config(dir, flows, token), registry: builtinRegistry(), logger: pino({ level: 'silent' }), journal });
  });
  afterAll(async () => {
    await hub?.stop();
    await hub?.journal.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(flows, { recursive: true, force: true });
  });

  it('needs Authorization: Bearer <token> (401 problem otherwise), from anywhere', async () => {
    const get = (headers: Record<string, string>, remoteAddress = '127.0.0.1') => hub.app.inject({ method: 'GET', url: `${ADMIN_PREFIX}/flows`, headers, remoteAddress });
    const none = await get({});
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.headers['content-type']).toBe('application/problem+json');
    expect(none.json()).toMatchObject({ code: 'UNAUTHORIZED', detail: expect.stringContaining('the admin API needs Authorization: Bearer <token>') });
    expect((await get({ authorization: `Bearer ${token}x` })).json()).toMatchObject({ code: 'UNAUTHORIZED', detail: 'the admin token does not match' });
    expect((await get({ authorization: `Basic ${token}` })).statusCode).toBe(401);
    const ok = await get({ authorization: `Bearer ${token}` }, '10.0.0.5');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ flows: [] });
    // Unknown admin routes too are behind the token.
    expect((await hub.app.inject({ method: 'GET', url: `${ADMIN_PREFIX}/nothing` })).statusCode).toBe(401);
  });

  it('a hub built without users or a token answers no one, loopback clients included, and warned once at start', async () => {
    const { logger, lines } = keepingLogger();
    const closedDir = mkdtempSync(join(tmpdir(), 'admin-closed-'));
    const closed = await Hub.build({ config: config(closedDir, flows), registry: builtinRegistry(), logger });
    try {
      for (const remoteAddress of ['127.0.0.1', '::1', '10.0.0.5']) {
        const res = await closed.app.inject({ method: 'GET', url: `${ADMIN_PREFIX}/flows`, remoteAddress, headers: { host: '127.0.0.1:8080' } });
        expect(res.statusCode).toBe(403);
        expect(res.json()).toMatchObject({ code: 'FORBIDDEN', detail: expect.stringContaining('the admin API is closed') });
      }
      expect(lines.filter((l) => l.msg.includes('admin API: closed'))).toHaveLength(1);
    } finally {
      await closed.stop();
      rmSync(closedDir, { recursive: true, force: true });
    }
  });
});
