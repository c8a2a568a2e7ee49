import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../../adapters/amqp/test-support.js';
import { Downstream } from '../../test/support/downstream.js';
import { builtinRegistry } from '../builtins.js';
import { defaultHubConfig, type HubConfig } from '../config/hub-config.js';
import { PROJECT_ROOT } from '../config/paths.js';
import type { MessageRecord, MessageSummary, Page } from '../journal/contract.js';
import { docChecker } from '../../test/support/openapi.js';
import { Hub } from '../hub.js';
import { ADMIN_PREFIX, ADMIN_ROLES, DOCS_PATH, roleAllows, type AdminRole } from './api/constants.js';
import { fullPath, type OperationSpec } from './api/operation.js';
import { OPERATIONS } from './api/operations/index.js';
import type { AuditEntry } from './audit.js';
import { hashPassword } from '../kit/password.js';

// The admin API's security on a real hub (Hub.build, app.inject) with a real embedded journal and the real admin
// test flow (RabbitMQ in, an HTTP service out): logins, roles, CSRF, masking, rate limits, expiry, audit, headers.

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'admin');
const TOKEN = 'security-test-token-0123456789abcdef';
/** The least scrypt cost hub.yaml accepts: the tests log in often. */
const FAST = { N: 1 << 14, r: 8, p: 1 };

type Users = NonNullable<HubConfig['admin']>['users'];

function config(dir: string, flowsDir: string, admin: HubConfig['admin']): HubConfig {
  return defaultHubConfig({ port: 0, flowsDir, schemasDir: join(FIXTURES, 'schemas'), logLevel: 'silent', shutdownGraceMs: 2000, journal: { dir }, admin });
}

async function users(...specs: [string, AdminRole, string][]): Promise<Users> {
  return Promise.all(specs.map(async ([name, role, password]) => ({ name, role, passwordHash: await hashPassword(password, FAST) })));
}

interface Login {
  cookie: string;
  csrf: string;
  setCookie: string;
}

const check = docChecker();

/** Calls for one hub: anonymous, with a session, or with the token. */
function client(app: () => Hub['app']) {
  async function request(method: InjectOptions['method'], path: string, options: { body?: unknown; headers?: Record<string, string>; remoteAddress?: string; as?: Login; csrf?: boolean; token?: string; stream?: boolean; documented?: false } = {}): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.as) {
      headers.cookie = options.as.cookie;
      if (options.csrf !== false && method !== 'GET') headers['x-csrf-token'] = options.as.csrf;
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await app().inject({
      method,
      url: path.startsWith('/admin') ? path : ADMIN_PREFIX + path,
      headers,
      ...(options.body === undefined ? {} : { payload: options.body as object }),
      ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
      // An answer that never ends (the live feed) resolves at its head.
      ...(options.stream ? { payloadAsStream: true } : {}),
    });
    // Every answer, refusals included, is checked against /admin/docs; the live feed's is only its head.
    if (!options.stream && options.documented !== false) check(String(method), path, res);
    return res;
  }
  async function login(name: string, password: string, remoteAddress = '127.0.0.1'): Promise<Login> {
    const res = await request('POST', '/session', { body: { name, password }, remoteAddress });
    expect(res.statusCode, res.body).toBe(200);
    const setCookie = String(res.headers['set-cookie']);
    return { cookie: setCookie.split(';')[0]!, csrf: (res.json() as { csrfToken: string }).csrfToken, setCookie };
  }
  return { request, login };
}

const problemOf = (res: LightMyRequestResponse): { code: string; detail: string; status: number } => res.json() as { code: string; detail: string; status: number };

describe('admin API security (a hub with users and a token)', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('admin-sec');
  const auditQueue = unique('admin-sec-audit');
  const journalDir = mkdtempSync(join(tmpdir(), 'admin-sec-'));
  let hub: Hub;
  const { request, login } = client(() => hub.app);
  const ids: string[] = [];
  let viewer: Login;
  let operator: Login;
  let admin: Login;

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await Hub.build({
      config: config(journalDir, join(FIXTURES, 'flows'), { token: TOKEN, users: await users(['vera', 'viewer', 'vera-password-1'], ['otto', 'operator', 'otto-password-1'], ['ada', 'admin', 'ada-password-1']) }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
    });
    await waitFor(() => hub.runners.every((r) => r.ready()), 15_000, 'the flow to be ready');
    for (const n of [1, 2, 3, 4]) await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: `s-${n}`, qty: n })), { contentType: 'application/json', correlationId: `sec-${n}` });
    await waitFor(async () => {
      const page = (await request('GET', '/messages?status=dead', { token: TOKEN })).json() as Page<MessageSummary>;
      ids.splice(0, ids.length, ...page.items.map((m) => m.id).reverse());
      return ids.length === 4;
    }, 15_000, 'four dead messages');
    downstream.failing = false;
    [viewer, operator, admin] = [await login('vera', 'vera-password-1'), await login('otto', 'otto-password-1'), await login('ada', 'ada-password-1')];
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  /** What a refused request must not have changed: the message's record and replays, and the service's inbox. */
  async function snapshot(id: string): Promise<unknown> {
    const record = await hub.journal.get(id);
    const replays = await hub.journal.listReplays({ originalId: id });
    return { status: record?.status, replayedAs: record?.replayedAs, replays: replays.items.length, sent: downstream.received.length };
  }

  async function auditEntries(): Promise<AuditEntry[]> {
    return ((await request('GET', '/audit?limit=500', { token: TOKEN })).json() as { items: AuditEntry[] }).items;
  }

  it('login: the session cookie is HttpOnly, Secure, SameSite=Strict, under /admin, without an expiry of its own; GET /session says who and gives the CSRF token again', async () => {
    const res = await request('POST', '/session', { body: { name: 'ada', password: 'ada-password-1' } });
    expect(res.statusCode, res.body).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^hub_session=[A-Za-z0-9_-]{43}; /);
    expect(cookie.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Path=/admin', 'SameSite=Strict', 'Secure']);
    const body = res.json() as { user: string; role: string; via: string; csrfToken: string; idleExpiresAt: string; expiresAt: string };
    expect(body).toMatchObject({ user: 'ada', role: 'admin', via: 'session', csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(Date.parse(body.idleExpiresAt) - Date.now()).toBeGreaterThan(29 * 60_000);
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(7.9 * 3600_000);
    // The session id is only in the cookie, never in the body.
    expect(res.body).not.toContain(cookie.split(';')[0]!.split('=')[1]!);

    const me = await request('GET', '/session', { as: { cookie: cookie.split(';')[0]!, csrf: '', setCookie: cookie } });
    expect(me.json()).toMatchObject({ user: 'ada', role: 'admin', via: 'session', csrfToken: body.csrfToken });
    expect((await request('GET', '/session', { token: TOKEN })).json()).toEqual({ user: 'token', role: 'admin', via: 'token' });
  });

  it('a wrong password and an unknown user get the same 401; a bad login body is a 400', async () => {
    const wrong = await request('POST', '/session', { body: { name: 'ada', password: 'not-it' }, remoteAddress: '10.1.0.1' });
    const unknown = await request('POST', '/session', { body: { name: 'nobody', password: 'not-it' }, remoteAddress: '10.1.0.2' });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.body).toBe(unknown.body);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(problemOf(wrong)).toMatchObject({ code: 'UNAUTHORIZED', detail: 'the name or the password is wrong' });
    expect((await request('POST', '/session', { body: { name: 'ada' }, remoteAddress: '10.1.0.3' })).statusCode).toBe(400);
  });

  it('without a session or the token every route is a 401 (unknown ones too), and nothing changes', async () => {
    const before = await snapshot(ids[0]!);
    for (const [method, path] of [
      ['GET', '/flows'],
      ['GET', '/messages'],
      ['GET', `/messages/${ids[0]}`],
      ['GET', `/messages/${ids[0]}/body`],
      ['POST', `/messages/${ids[0]}/replay`],
      ['POST', '/replays'],
      ['DELETE', `/messages/${ids[0]}`],
      ['GET', '/audit'],
      ['GET', '/session'],
      ['GET', '/openapi.json'],
      ['GET', DOCS_PATH],
      ['GET', '/no/such/route'],
    ] as const) {
      const res = await request(method, path, { ...(method === 'POST' ? { body: { filter: {} } } : {}), ...(path === '/no/such/route' ? { documented: false } : {}) });
      expect(res.statusCode, `${method} ${path}`).toBe(401);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(problemOf(res).detail).toMatch(/login|Bearer/);
    }
    // A made-up session cookie is no session.
    const forged = await request('DELETE', `/messages/${ids[0]}`, { as: { cookie: 'hub_session=forged', csrf: 'x', setCookie: '' } });
    expect(forged.statusCode).toBe(401);
    expect(await snapshot(ids[0]!)).toEqual(before);
  });

  it('a viewer reads flows, messages, dead letters and the replay audit, with bodies and header values masked', async () => {
    // What a flow journalled under `all` keeps of a sink's reply: masked like the body (hub messages fixture's input).
    await hub.journal.append(ids[0]!, [{ type: 'sink', at: new Date().toISOString(), step: 'sink:orders', call: { sink: 'orders', try: 1, reply: { status: 200, headers: { 'x-order': 's-1' }, body: '{"order":"s-1"}', encoding: 'utf8', truncated: false } } }]);
    for (const path of ['/flows', '/messages?status=dead', '/dead-letters', '/replays', '/openapi.json', DOCS_PATH]) expect((await request('GET', path, { as: viewer })).statusCode, path).toBe(200);
    const seen = (await request('GET', `/messages/${ids[0]}`, { as: viewer })).json() as MessageRecord & { body: { masked?: boolean } };
    expect(seen.body).toMatchObject({ data: '', masked: true, size: JSON.stringify({ orderId: 's-1', qty: 1 }).length });
    expect(Object.values(seen.headers).every((v) => v === '***')).toBe(true);
    expect(Object.keys(seen.headers).sort()).toEqual(['content-type', 'correlation-id']);
    expect(JSON.stringify(seen)).not.toContain('s-1');
    // Error texts may quote the body, and a correlation id may come from it: masked too, in the record and the list.
    expect(seen.correlationId).toBe('***');
    expect(seen.timeline.filter((e) => e.error).every((e) => e.error!.message === '*** (masked for viewers)')).toBe(true);
    const list = (await request('GET', '/messages?status=dead', { as: viewer })).json() as { items: MessageRecord[] };
    expect(list.items.length).toBeGreaterThan(0);
    expect(list.items.every((m) => (m.correlationId ?? '***') === '***' && (m.lastError?.message ?? '*** (masked for viewers)') === '*** (masked for viewers)')).toBe(true);
    // The same record as an operator is whole.
    const whole = (await request('GET', `/messages/${ids[0]}`, { as: operator })).json() as MessageRecord;
    expect(whole.body.data).toBe(JSON.stringify({ orderId: 's-1', qty: 1 }));
    expect(seen.timeline.at(-1)!.call!.reply).toMatchObject({ body: '', headers: { 'x-order': '***' }, masked: true });
    expect(whole.timeline.at(-1)!.call!.reply).toMatchObject({ body: '{"order":"s-1"}', headers: { 'x-order': 's-1' } });
    expect(whole.headers['correlation-id']).toBe('sec-1');
  });

  it('a viewer may not read raw bodies, replay, delete or read the admin audit (403), and nothing changes', async () => {
    const before = await snapshot(ids[0]!);
    for (const [method, path, body] of [
      ['GET', `/messages/${ids[0]}/body`, undefined],
      ['POST', `/messages/${ids[0]}/replay`, {}],
      ['POST', '/replays', { filter: { flow: 'admin-orders' } }],
      ['DELETE', `/messages/${ids[0]}`, undefined],
      ['GET', '/audit', undefined],
    ] as const) {
      const res = await request(method, path, { as: viewer, ...(body ? { body } : {}) });
      expect(res.statusCode, `${method} ${path}`).toBe(403);
      expect(problemOf(res)).toMatchObject({ code: 'FORBIDDEN', detail: expect.stringContaining('vera is viewer') });
    }
    expect(await snapshot(ids[0]!)).toEqual(before);
    expect(await hub.journal.get(ids[0]!)).toBeDefined();
  });

  it('an operator may not edit a replay, replay to a sink, delete or read the admin audit (403), and nothing changes', async () => {
    const before = await snapshot(ids[0]!);
    for (const [method, path, body] of [
      ['POST', `/messages/${ids[0]}/replay`, { body: JSON.stringify({ orderId: 's-1', qty: 10 }) }],
      ['POST', `/messages/${ids[0]}/replay`, { contentType: 'text/plain' }],
      ['POST', `/messages/${ids[0]}/replay`, { sink: 'archive' }],
      ['POST', '/replays', { filter: { flow: 'admin-orders' }, sink: 'archive' }],
      ['DELETE', `/messages/${ids[0]}`, undefined],
      ['GET', '/audit', undefined],
    ] as const) {
      const res = await request(method, path, { as: operator, ...(body ? { body } : {}) });
      expect(res.statusCode, `${method} ${path} ${JSON.stringify(body)}`).toBe(403);
      expect(problemOf(res).detail).toMatch(/needs role admin; otto is operator/);
    }
    expect(await snapshot(ids[0]!)).toEqual(before);
    expect(downstream.bodies('/archive')).toEqual([]);
  });

  it('CSRF: a session\'s POST or DELETE without the X-CSRF-Token, with a wrong one, or from another origin is a 403 and changes nothing; the token alone is not asked for', async () => {
    const id = ids[0]!;
    const before = await snapshot(id);
    const refused = [
      await request('POST', `/messages/${id}/replay`, { as: operator, csrf: false }),
      await request('POST', `/messages/${id}/replay`, { as: operator, csrf: false, headers: { 'x-csrf-token': admin.csrf } }),
      await request('POST', `/messages/${id}/replay`, { as: operator, headers: { origin: 'https://evil.example' } }),
      await request('POST', `/messages/${id}/replay`, { as: operator, headers: { origin: 'null' } }),
      await request('POST', `/messages/${id}/replay`, { as: operator, headers: { referer: 'https://evil.example/page' } }),
      await request('DELETE', `/messages/${id}`, { as: admin, csrf: false }),
      await request('DELETE', '/session', { as: admin, csrf: false }),
    ];
    for (const res of refused) {
      expect(res.statusCode, res.body).toBe(403);
      expect(problemOf(res).detail).toMatch(/X-CSRF-Token|own origin/);
    }
    expect(await snapshot(id)).toEqual(before);
    expect((await request('GET', '/session', { as: admin })).statusCode).toBe(200);
    // A cross-site login attempt is refused before any password is checked.
    expect((await request('POST', '/session', { body: { name: 'ada', password: 'ada-password-1' }, headers: { origin: 'https://evil.example' } })).statusCode).toBe(403);
    // The bearer token is no browser credential: no CSRF token, whatever the Origin.
    const byToken = await request('GET', `/messages/${id}`, { token: TOKEN, headers: { origin: 'https://elsewhere.example' } });
    expect(byToken.statusCode).toBe(200);
  });

  it('an operator replays (stored body, through the flow) with the CSRF token and a same-origin Origin; the journal\'s audit names the user, not X-Hub-Actor', async () => {
    const id = ids[0]!;
    const res = await request('POST', `/messages/${id}/replay`, { as: operator, body: { note: 'service is back' }, headers: { origin: 'http://localhost', 'x-hub-actor': 'someone-else' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ outcome: 'delivered', replay: { by: 'otto', originalId: id } });
    expect((await hub.journal.get(id))?.status).toBe('resolved');
    const bulk = await request('POST', '/replays', { as: operator, body: { filter: { flow: 'admin-orders' }, max: 1 }, headers: { host: 'hub.example:8443', referer: 'https://hub.example:8443/admin/console' } });
    expect(bulk.statusCode, bulk.body).toBe(200);
    expect(bulk.json()).toMatchObject({ replayed: 1 });
  });

  it('an admin edits a replay, replays to a sink and deletes; the token acts as admin, named token:<X-Hub-Actor>', async () => {
    const edited = await request('POST', `/messages/${ids[2]}/replay`, { as: admin, body: { body: JSON.stringify({ orderId: 's-3', qty: 30 }), note: 'qty fixed' } });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ replay: { by: 'ada', edited: true } });
    const toSink = await request('POST', `/messages/${ids[3]}/replay`, { token: TOKEN, body: { sink: 'archive' }, headers: { 'x-hub-actor': 'ci-job' } });
    expect(toSink.statusCode, toSink.body).toBe(200);
    expect(toSink.json()).toMatchObject({ replay: { by: 'token:ci-job', target: { sink: 'archive' } } });
    expect((await request('DELETE', `/messages/${ids[3]}`, { as: admin })).statusCode).toBe(204);
    expect(await hub.journal.get(ids[3]!)).toBeUndefined();
  });

  it('every operation admits exactly the roles its operation entry names (the check reads the same entries as the document)', async () => {
    const sessions: Record<AdminRole, Login> = { viewer, operator, admin };
    const pathOf = (op: OperationSpec): string => fullPath(op).replace(':id', '01NOSUCHMESSAGE0000000000').replace(':name', 'no-such-flow');
    for (const op of OPERATIONS.filter((o) => o.role !== 'public' && o.operationId !== 'deleteSession')) {
      for (const role of ADMIN_ROLES) {
        const res = await request(op.method, pathOf(op), { as: sessions[role], stream: op.operationId === 'streamEvents', ...(op.method === 'POST' ? { body: op.operationId === 'replayMany' ? { filter: { flow: 'no-such-flow' } } : op.operationId === 'archiveDeadLetters' ? { flow: 'no-such-flow', step: '', code: 'NOT_FOUND' } : {} } : {}) });
        const allowed = roleAllows(role, op.role as AdminRole);
        expect(res.statusCode === 403, `${role} ${op.method} ${fullPath(op)}: ${res.statusCode} ${op.operationId === 'streamEvents' ? '' : res.body.slice(0, 200)}`).toBe(!allowed);
        if (op.operationId === 'streamEvents' && allowed) expect([res.statusCode, res.headers['content-type']]).toEqual([200, 'text/event-stream; charset=utf-8']);
      }
    }
  });

  it('audit: logins (failed ones with the client address), changes and refusals, with who and what; admin only', async () => {
    const entries = await auditEntries();
    expect(entries.length).toBeGreaterThan(10);
    // Newest first.
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => b - a));
    expect(entries).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'login', outcome: 'ok', actor: 'vera', role: 'viewer', client: '127.0.0.1' }),
      expect.objectContaining({ action: 'login', outcome: 'failed', actor: 'ada', client: '10.1.0.1', detail: 'wrong password' }),
      // An unknown name is not recorded (it may be a password typed in the wrong field).
      expect.objectContaining({ action: 'login', outcome: 'failed', actor: 'anonymous', client: '10.1.0.2', detail: 'unknown user' }),
      expect.objectContaining({ action: 'replay', outcome: 'ok', actor: 'otto', role: 'operator', target: ids[0], status: 200, detail: expect.stringMatching(/^replayed as \w+: delivered$/) }),
      expect.objectContaining({ action: 'bulk-replay', outcome: 'ok', actor: 'otto', target: expect.stringContaining('admin-orders'), detail: expect.stringContaining('replayed 1') }),
      expect.objectContaining({ action: 'replay', outcome: 'ok', actor: 'ada', target: ids[2], detail: expect.stringContaining('(edited body)') }),
      expect.objectContaining({ action: 'replay', outcome: 'ok', actor: 'token:ci-job', target: ids[3], detail: expect.stringContaining('(to sink archive)') }),
      expect.objectContaining({ action: 'delete', outcome: 'ok', actor: 'ada', role: 'admin', target: ids[3], status: 204 }),
      expect.objectContaining({ action: 'delete', outcome: 'denied', actor: 'vera', target: ids[0], status: 403 }),
      expect.objectContaining({ action: 'replay', outcome: 'denied', actor: 'anonymous', target: ids[0], status: 401 }),
      expect.objectContaining({ action: 'bulk-replay', outcome: 'denied', actor: 'otto', status: 403 }),
    ]));
    expect(entries.some((e) => JSON.stringify(e).includes('not-it'))).toBe(false);
    const logins = ((await request('GET', '/audit?action=login&limit=2', { as: admin })).json() as { items: AuditEntry[]; next?: string });
    expect(logins.items).toHaveLength(2);
    expect(logins.items.every((e) => e.action === 'login')).toBe(true);
    const more = (await request('GET', `/audit?action=login&limit=2&cursor=${logins.next}`, { as: admin })).json() as { items: AuditEntry[] };
    expect(more.items[0]!.seq).toBeLessThan(logins.items[1]!.seq);
  });

  it('logout ends the session (its cookie no longer works) and clears the cookie; the logout is audited', async () => {
    const session = await login('vera', 'vera-password-1');
    expect((await request('GET', '/session', { as: session })).statusCode).toBe(200);
    const out = await request('DELETE', '/session', { as: session });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^hub_session=; Path=\/admin; HttpOnly; Secure; SameSite=Strict; Max-Age=0$/);
    const after = await request('GET', '/session', { as: session });
    expect(after.statusCode).toBe(401);
    expect(problemOf(after).detail).toContain('the session has ended');
    expect((await auditEntries())[0]).toMatchObject({ action: 'logout', outcome: 'ok', actor: 'vera' });
  });

  it('security headers on every /admin answer: JSON, problems, unknown routes, the docs; raw bodies are sandboxed', async () => {
    const answers = [
      await request('GET', '/flows', { as: viewer }),
      await request('GET', '/flows'),
      await request('GET', '/no/such/route', { as: viewer, documented: false }),
      await request('GET', DOCS_PATH, { as: viewer }),
      await request('POST', '/session', { body: { name: 'x', password: 'y' }, remoteAddress: '10.1.0.9' }),
    ];
    for (const res of answers) {
      expect(res.headers, `${res.statusCode} ${res.body.slice(0, 80)}`).toMatchObject({
        'content-security-policy': expect.stringMatching(/default-src 'self'.*frame-ancestors 'none'/),
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'cache-control': 'no-store',
      });
    }
    expect(answers.map((r) => r.statusCode)).toEqual([200, 401, 404, 200, 401]);
    const raw = await request('GET', `/messages/${ids[1]}/body`, { as: operator });
    expect(raw.statusCode).toBe(200);
    expect(raw.headers).toMatchObject({ 'content-security-policy': "default-src 'none'; sandbox", 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
  });

  it('the OpenAPI document (also at /admin/docs) states each operation\'s role, the elevated requests and the security schemes', async () => {
    const doc = (await request('GET', DOCS_PATH, { as: viewer })).json() as {
      paths: Record<string, Record<string, { 'x-required-role': string; 'x-role-rules'?: { role: string; when: string }[]; security: object[]; description: string; responses: Record<string, unknown> }>>;
      components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }> };
    };
    expect(doc).toEqual((await request('GET', '/openapi.json', { token: TOKEN })).json());
    for (const op of OPERATIONS) {
      const entry = doc.paths[fullPath(op).replace(/:(\w+)/g, '{$1}')]?.[op.method.toLowerCase()];
      expect(entry?.['x-required-role'], op.operationId).toBe(op.role);
      expect(entry?.description).toContain(op.role === 'public' ? 'No login needed.' : `Role ${op.role} or higher.`);
    }
    const replay = doc.paths[`${ADMIN_PREFIX}/messages/{id}/replay`]!.post!;
    expect(replay['x-role-rules']).toEqual([{ role: 'admin', when: expect.stringContaining('edited body') }]);
    expect(replay.security).toEqual([{ adminToken: [] }, { session: [], csrfToken: [] }]);
    expect(replay.responses).toHaveProperty('403');
    expect(doc.paths[`${ADMIN_PREFIX}/session`]!.post!.security).toEqual([{}]);
    expect(doc.paths[`${ADMIN_PREFIX}/session`]!.post!.responses).toHaveProperty('429');
    expect(doc.paths[`${ADMIN_PREFIX}/flows`]!.get!.security).toEqual([{ adminToken: [] }, { session: [] }]);
    expect(doc.paths[`${ADMIN_PREFIX}/messages/{id}`]!.get!).toMatchObject({ 'x-viewer-masks': expect.stringContaining('header') });
    expect(doc.components.securitySchemes).toMatchObject({ adminToken: { type: 'http' }, session: { type: 'apiKey', in: 'cookie', name: 'hub_session' }, csrfToken: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' } });
  });
});

describe('admin API security: rate limits, expiry, the loopback default', () => {
  const dirs: string[] = [];
  const hubs: Hub[] = [];
  async function small(admin: HubConfig['admin'], host = '127.0.0.1', trustProxy?: string[]): Promise<Hub> {
    const dir = mkdtempSync(join(tmpdir(), 'admin-sec-small-'));
    const flows = mkdtempSync(join(tmpdir(), 'admin-sec-no-flows-'));
    dirs.push(dir, flows);
    const hub = await Hub.build({ config: { ...config(dir, flows, admin), host, ...(trustProxy ? { trustProxy } : {}) }, registry: builtinRegistry(), logger: pino({ level: 'silent' }) });
    hubs.push(hub);
    return hub;
  }
  afterAll(async () => {
    for (const hub of hubs) await hub.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('after 5 failed logins a minute for one name from one address, that address gets 429 for that name, even with the right password; other addresses log in', async () => {
    const hub = await small({ token: undefined, users: await users(['rita', 'viewer', 'rita-password-1']) });
    const { request, login } = client(() => hub.app);
    for (let i = 0; i < 5; i++) expect((await request('POST', '/session', { body: { name: 'rita', password: `guess-${i}` }, remoteAddress: '10.2.0.1' })).statusCode).toBe(401);
    const limited = await request('POST', '/session', { body: { name: 'rita', password: 'rita-password-1' }, remoteAddress: '10.2.0.1' });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(55);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(problemOf(limited)).toMatchObject({ code: 'TOO_MANY_REQUESTS', detail: expect.stringContaining('too many failed logins') });
    expect(limited.headers['set-cookie']).toBeUndefined();
    // One address cannot lock rita out for everyone: she logs in from her own.
    await login('rita', 'rita-password-1', '10.2.0.2');
  });

  it('a name\'s own limit (100 failures in 15 minutes) is out of one address\'s reach, and stops a guess spread over many', async () => {
    const hub = await small({ token: undefined, users: await users(['nina', 'viewer', 'nina-password-1']) });
    const { request } = client(() => hub.app);
    // 25 addresses, 4 guesses each: each stays under its own limits; together they reach the name's.
    for (let a = 0; a < 25; a++) {
      const tries = await Promise.all(Array.from({ length: 4 }, (_, i) => request('POST', '/session', { body: { name: 'nina', password: `guess-${a}-${i}` }, remoteAddress: `10.4.${a}.1` })));
      expect(tries.map((r) => r.statusCode)).toEqual([401, 401, 401, 401]);
    }
    const fresh = await request('POST', '/session', { body: { name: 'nina', password: 'nina-password-1' }, remoteAddress: '10.4.99.1' });
    expect(fresh.statusCode).toBe(429);
    expect(Number(fresh.headers['retry-after'])).toBeGreaterThan(800);
  }, 180_000); // a hundred password checks on a busy machine

  it('after 20 failed logins a minute from one address (any names, simultaneous or not), it gets 429; other addresses do not', async () => {
    const hub = await small({ token: undefined, users: await users(['sam', 'operator', 'sam-password-1'], ['tess', 'viewer', 'tess-password-1']) });
    const { request, login } = client(() => hub.app);
    const burst = await Promise.all(Array.from({ length: 24 }, (_, i) => request('POST', '/session', { body: { name: `who-${i}`, password: 'x' }, remoteAddress: '10.3.0.1' })));
    expect(burst.filter((r) => r.statusCode === 401)).toHaveLength(20);
    expect(burst.filter((r) => r.statusCode === 429)).toHaveLength(4);
    expect((await request('POST', '/session', { body: { name: 'sam', password: 'sam-password-1' }, remoteAddress: '10.3.0.1' })).statusCode).toBe(429);
    await login('sam', 'sam-password-1', '10.3.0.2');
    // A success does not count: a user who logs in often is never limited.
    for (let i = 0; i < 6; i++) await login('tess', 'tess-password-1', '10.3.0.3');
  });

  it('behind a proxy named in trust_proxy, the limit and the audit see the forwarded client; anyone else\'s X-Forwarded-For is ignored', async () => {
    const people = await users(['pia', 'admin', 'pia-password-1']);
    const proxied = await small({ token: undefined, users: people }, '127.0.0.1', ['10.9.0.1']);
    const direct = await small({ token: undefined, users: people });
    // A new name each time, so that only the per-address limit can answer 429.
    let n = 0;
    const via = (hub: Hub, client: string) => client_(hub).request('POST', '/session', { body: { name: `nobody-${n++}`, password: 'x' }, remoteAddress: '10.9.0.1', headers: { 'x-forwarded-for': client } });
    const client_ = (hub: Hub) => client(() => hub.app);
    // Twenty failures from one forwarded client lock it out, and only it: another client behind the same proxy logs in.
    for (let i = 0; i < 20; i++) expect((await via(proxied, '203.0.113.7')).statusCode).toBe(401);
    expect((await via(proxied, '203.0.113.7')).statusCode).toBe(429);
    const pia = await client_(proxied).login('pia', 'pia-password-1', '10.9.0.1');
    const audit = ((await client_(proxied).request('GET', '/audit?action=login', { as: pia })).json() as { items: AuditEntry[] }).items;
    expect(audit).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'failed', client: '203.0.113.7' })]));
    expect(audit.some((e) => e.client === '10.9.0.1' && e.outcome === 'failed')).toBe(false);
    // Without trust_proxy the header is the client's own word: every try counts against the socket's address.
    for (let i = 0; i < 20; i++) expect((await via(direct, `198.51.100.${i}`)).statusCode).toBe(401);
    expect((await via(direct, '198.51.100.99')).statusCode).toBe(429);
  });

  it('a session ends when unused for the idle limit, and at its absolute limit however much it is used', async () => {
    const hub = await small({ token: undefined, users: await users(['uma', 'viewer', 'uma-password-1']), session: { idleMs: 400, absoluteMs: 1500 } });
    const { request, login } = client(() => hub.app);
    const idle = await login('uma', 'uma-password-1');
    const me = (await request('GET', '/session', { as: idle })).json() as { idleExpiresAt: string; expiresAt: string };
    expect(Date.parse(me.expiresAt) - Date.parse(me.idleExpiresAt)).toBeGreaterThan(800);
    await new Promise((r) => setTimeout(r, 600));
    expect((await request('GET', '/flows', { as: idle })).statusCode).toBe(401);

    const busy = await login('uma', 'uma-password-1');
    const started = Date.now();
    let status = 200;
    while (Date.now() - started < 1400) {
      status = (await request('GET', '/flows', { as: busy })).statusCode;
      expect(status, `${Date.now() - started} ms after login`).toBe(200);
      await new Promise((r) => setTimeout(r, 150));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 1600 - (Date.now() - started))));
    const ended = await request('GET', '/flows', { as: busy });
    expect(ended.statusCode).toBe(401);
    expect(problemOf(ended).detail).toContain('the session has ended');
  });

  it('with users configured, a loopback client still needs a login; several session cookies are refused', async () => {
    const hub = await small({ token: undefined, users: await users(['vic', 'admin', 'vic-password-1']) });
    const { request, login } = client(() => hub.app);
    const res = await request('GET', '/flows', { remoteAddress: '127.0.0.1' });
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).detail).toContain('POST /admin/api/session');
    const a = await login('vic', 'vic-password-1');
    const b = await login('vic', 'vic-password-1');
    expect((await request('GET', '/flows', { headers: { cookie: `${a.cookie}; ${b.cookie}` } })).statusCode).toBe(401);
    // A login ends the session the browser still had.
    const c = await request('POST', '/session', { body: { name: 'vic', password: 'vic-password-1' }, headers: { cookie: b.cookie } });
    expect(c.statusCode).toBe(200);
    expect((await request('GET', '/flows', { as: b })).statusCode).toBe(401);
    // No token configured: a bearer header is no way in.
    expect((await request('GET', '/flows', { token: 'a-long-admin-token-for-tests-0123456789' })).statusCode).toBe(401);
  });

  it('a one-time login link (made with the token) opens an admin session once; a used, unknown or expired one is a 401; no one is admin for being local', async () => {
    const token = 'link-test-token-0123456789abcdef';
    const hub = await small({ token });
    const { request } = client(() => hub.app);
    const local = await request('GET', '/flows', { remoteAddress: '127.0.0.1', headers: { host: '127.0.0.1:8080' } });
    expect(local.statusCode).toBe(401);
    expect(problemOf(local).detail).toContain('hub admin login-link');
    const made = await request('POST', '/session/links', { token, headers: { host: '127.0.0.1:8080' } });
    expect(made.statusCode).toBe(200);
    const { url, expiresAt } = made.json() as { url: string; expiresAt: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/admin\/login\?code=[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    const path = new URL(url).pathname + new URL(url).search;
    const opened = await request('GET', path);
    expect([opened.statusCode, opened.headers.location]).toEqual([303, '/admin/']);
    const setCookie = String(opened.headers['set-cookie']);
    expect(setCookie).toMatch(/^hub_session=[^;]+; Path=\/admin; HttpOnly; Secure; SameSite=Strict$/);
    const me = await request('GET', '/session', { headers: { cookie: setCookie.split(';')[0]! } });
    expect(me.json()).toMatchObject({ user: 'login-link', role: 'admin', via: 'session', csrfToken: expect.any(String) });
    // Once only; an unknown code and a missing one are refused too.
    expect((await request('GET', path)).statusCode).toBe(401);
    expect((await request('GET', '/admin/login?code=not-a-code')).statusCode).toBe(401);
    expect((await request('GET', '/admin/login')).statusCode).toBe(400);
    const audit = ((await request('GET', '/audit?action=login', { token })).json() as { items: AuditEntry[] }).items;
    expect(audit).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'ok', actor: 'login-link', detail: 'one-time login link' }), expect.objectContaining({ outcome: 'failed', detail: 'unknown, used or expired login link' })]));
  });

  it('guessing login link codes from one address is limited (429) after 20 a minute', async () => {
    const hub = await small({ token: 'link-test-token-0123456789abcdef' });
    const { request } = client(() => hub.app);
    for (let i = 0; i < 20; i++) expect((await request('GET', `/admin/login?code=guess-${i}`, { remoteAddress: '10.7.0.1' })).statusCode).toBe(401);
    const limited = await request('GET', '/admin/login?code=guess-x', { remoteAddress: '10.7.0.1' });
    expect([limited.statusCode, problemOf(limited).code]).toEqual([429, 'TOO_MANY_REQUESTS']);
    expect((await request('GET', '/admin/login?code=guess-y', { remoteAddress: '10.7.0.2' })).statusCode).toBe(401);
  });
});
