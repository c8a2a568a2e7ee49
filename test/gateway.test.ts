/**
 * The gateway's duties over real HTTP: REST and SOAP sources with `auth:` and `rate_limit:`, tokens checked against
 * a real JWKS server on loopback whose key is rotated mid-run, and every bad input of issue 19 answered as it
 * should be (401 + WWW-Authenticate, 403, 429 + Retry-After, 503 when no keys can be had), with the log saying
 * what failed and the credential in neither the message nor the log.
 */
import { createHash, createHmac, createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import rest from '../adapters/rest/index.js';
import type { RestSourceConfig } from '../adapters/rest/config.js';
import type { SoapSourceConfig } from '../adapters/soap/config.js';
import { faultOf, post, soap11, soap12 } from '../adapters/soap/test-support.js';
import { SoapSource } from '../adapters/soap/source.js';
import type { AdapterContext, HubLimits, Source } from '../src/core/contracts.js';
import type { ConfigIssue } from '../src/core/errors.js';
import type { Message } from '../src/core/message.js';
import type { GatewayDefaults } from '../src/kit/gateway/guard.js';
import { createGuard } from '../src/kit/gateway/guard.js';
import { createHttpServer } from '../src/kit/http-server.js';
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { main } from '../src/cli/main.js';
import { ROOT, startHub } from './support/processes.js';
import { hashPassword } from '../src/kit/password.js';
import { Downstream } from './support/downstream.js';
import { TestIdp } from './support/idp.js';


const limits: HubLimits = { bodyBytes: 64 * 1024, maxDepth: 32 };
const logLines: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
const keysDir = mkdtempSync(join(tmpdir(), 'hub-gateway-'));
const PARTNER_KEY = 'pk_live_4f9c2a7e51b84d0c9a3e';
const FILE_KEY = 'fk_live_0c1d2e3f4a5b6c7d8e9f';
writeFileSync(join(keysDir, 'keys.txt'), `# consumers of the orders API\nfile-partner sha256:${createHash('sha256').update(FILE_KEY).digest('hex')}\n`);

let idp: TestIdp;
let downIdp: TestIdp;
let app: FastifyInstance;
let base: string;
const sources: Source[] = [];
let delivered: Message[] = [];

function adapterCtx(flow: string, http?: GatewayDefaults): AdapterContext & { issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  return { flow, baseDir: keysDir, schemasDir: keysDir, logger, limits, report: (i) => void issues.push(i), issues, ...(http ? { http: http as Record<string, unknown> } : {}) };
}

async function addRest(flow: string, config: RestSourceConfig, http?: GatewayDefaults): Promise<void> {
  const ctx = adapterCtx(flow, http);
  const source = rest.source!.create(config, ctx);
  expect(ctx.issues).toEqual([]);
  await source.start({ flow, logger, http: app, limits, deliver: async (m) => (delivered.push(m), { replies: [m] }) });
  sources.push(source);
}

async function addSoap(flow: string, config: SoapSourceConfig): Promise<void> {
  const ctx = adapterCtx(flow);
  const source = new SoapSource(config, ctx);
  expect(ctx.issues).toEqual([]);
  await source.start({ flow, logger, http: app, limits, deliver: async (m) => (delivered.push(m), { replies: [m.with({ body: '<PlaceOrderResponse><Status>OK</Status></PlaceOrderResponse>' })] }) });
  sources.push(source);
}

const jwt = (): NonNullable<Exclude<RestSourceConfig['auth'], 'none' | undefined>['jwt']> => ({
  jwks_url: idp.jwksUrl,
  issuer: idp.issuer,
  audiences: ['orders'],
  leeway: '5s',
  required_claims: ['sub'],
  scopes: ['orders:write'],
});

async function call(path: string, headers: Record<string, string> = {}, method: 'POST' | 'GET' = 'POST') {
  const res = await request(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: method === 'POST' ? '{"n":1}' : null });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, problem: () => JSON.parse(text) as { code: string; detail: string; status: number } };
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

beforeAll(async () => {
  idp = await TestIdp.start();
  downIdp = await TestIdp.start();
  downIdp.down = true;
  app = createHttpServer(limits, logger);
  // Many refusals from one address below: the brute-force limit of this source is raised out of their way.
  await addRest('orders-api', { path: '/jwt', auth: { jwt: jwt(), failures: { rate: '1000/m' } } });
  await addRest('down-api', { path: '/jwt-down', auth: { jwt: { ...jwt(), jwks_url: downIdp.jwksUrl } } });
  await addRest('keys-api', { path: '/key', headers: ['x-api-key', 'x-tenant'], auth: { api_key: { keys: [{ consumer: 'partner-a', secret: PARTNER_KEY }], keys_file: 'keys.txt' }, failures: { rate: '4/m' } } });
  await addRest('query-api', { method: 'GET', path: '/query', auth: { api_key: { query: 'api_key', keys: [{ consumer: 'partner-a', secret: PARTNER_KEY }] } } });
  await addRest('basic-api', { path: '/basic', auth: { basic: { users: [{ name: 'erp', password_hash: await hashPassword('s3cret-pass', { N: 1 << 14, r: 8, p: 1 }) }] } } });
  await addRest('limited-api', { path: '/limited', auth: { api_key: { keys: [{ consumer: 'partner-a', secret: PARTNER_KEY }] } }, rate_limit: { consumer: { rate: '2/m', burst: 1 }, consumers: { vip: { rate: '100/m' } } } });
  await addRest('open-api', { path: '/open', rate_limit: { flow: { rate: '3/m' } } });
  await addRest('default-api', { path: '/defaulted' }, { auth: { api_key: { keys: [{ consumer: 'hub-wide', secret: FILE_KEY }] } } });
  await addRest('optout-api', { path: '/optout', auth: 'none' }, { auth: { api_key: { keys: [{ consumer: 'hub-wide', secret: FILE_KEY }] } } });
  await addRest('mesh-api', { path: '/mesh', auth: { jwt: { ...jwt(), owner: 'mesh' } } });
  await addSoap('soap-orders', { path: '/soap/orders', operation: 'PlaceOrder', auth: { jwt: jwt() }, rate_limit: { consumer: { rate: '3/m' } } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const s of sources) await s.stop();
  await app.close();
  await idp.close();
  await downIdp.close();
});

beforeEach(() => {
  delivered = [];
  logLines.length = 0;
});

/** No log line and no delivered message holds any of these. */
function expectNoLeak(...secrets: string[]): void {
  const text = logLines.join('\n') + JSON.stringify(delivered.map((m) => ({ headers: m.headers, meta: m.meta, body: m.text() })));
  for (const s of secrets) expect(text).not.toContain(s);
}

/** The log as text: each line's message and reason, as an operator reads them. */
const logged = (): string =>
  logLines
    .map((l) => JSON.parse(l) as { msg?: string; reason?: string; err?: string })
    .map((o) => [o.msg, o.reason, o.err].filter(Boolean).join(' | '))
    .join('\n');

describe('jwt against a real JWKS', () => {
  it('lets a valid token in, names the consumer in meta and x-consumer, and keeps the token out of the message and the log', async () => {
    const token = await idp.token();
    const res = await call('/jwt', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(delivered[0]!.meta.consumer).toBe('partner-a');
    expect(delivered[0]!.headers['x-consumer']).toBe('partner-a');
    expect(delivered[0]!.headers.authorization).toBeUndefined();
    expectNoLeak(token, token.split('.')[2]!);
  });

  it('answers a request without credentials 401 with a Bearer challenge and problem+json', async () => {
    const res = await call('/jwt');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="hub", scope="orders:write"');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.problem()).toMatchObject({ code: 'AUTH_REQUIRED', status: 401, detail: expect.stringContaining('Authorization: Bearer') });
    expect(delivered).toEqual([]);
  });

  it.each([
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 60 }, 'the token has expired', /exp \d+ is past/],
    ['a token not valid yet', { nbf: Math.floor(Date.now() / 1000) + 600 }, 'the token is not valid yet', /nbf \d+ is in the future/],
    ['a wrong issuer', { iss: 'https://evil.test' }, 'the token\'s issuer is not accepted', /iss "https:\/\/evil.test" is not "https:\/\/idp.test"/],
    ['a wrong audience', { aud: 'billing' }, 'the token is not meant for this endpoint', /aud "billing" names none of \["orders"\]/],
    ['a missing required claim', { sub: undefined }, 'the token lacks the claim sub', /claim "sub" is missing/],
  ])('refuses %s with 401 invalid_token; the log says exactly what failed', async (_what, claims, detail, reason) => {
    const token = await idp.token(claims as Record<string, unknown>);
    const res = await call('/jwt', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.problem().detail).toBe(detail);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(logged()).toMatch(reason);
    expectNoLeak(token);
  });

  it('answers 403 insufficient_scope for a known consumer lacking a scope', async () => {
    const res = await call('/jwt', { authorization: `Bearer ${await idp.token({ scope: 'orders:read' })}` });
    expect(res.status).toBe(403);
    expect(res.problem()).toMatchObject({ code: 'AUTH_FORBIDDEN', detail: 'the token lacks the scope orders:write' });
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(logged()).toContain('consumer partner-a lacks scope(s) orders:write');
  });

  it('refuses alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, aud: 'orders', sub: 'partner-a', exp: now + 300, scope: 'orders:write' })}.`;
    const res = await call('/jwt', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.problem().detail).toBe('the token\'s signature algorithm is not accepted');
    expect(delivered).toEqual([]);
  });

  it('refuses an HS256 token signed with the RSA public key as its secret', async () => {
    const key = idp.keys[idp.keys.length - 1]!;
    const pem = createPublicKey({ key: key.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64({ iss: idp.issuer, aud: 'orders', sub: 'partner-a', exp: now + 300, scope: 'orders:write' })}`;
    const token = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    const res = await call('/jwt', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.problem().detail).toBe('the token\'s signature algorithm is not accepted');
    expect(logged()).toContain('alg "HS256" is not among RS256, ES256');
  });

  it('refuses malformed base64 and an oversized token', async () => {
    const malformed = await call('/jwt', { authorization: 'Bearer e$$$.%%%.!!!' });
    expect(malformed.status).toBe(401);
    expect(malformed.problem().detail).toBe('the token is malformed');
    const huge = await call('/jwt', { authorization: `Bearer ${'a'.repeat(9000)}.${'b'.repeat(10)}.c` });
    expect(huge.status).toBe(401);
    expect(huge.problem().detail).toBe('the token is too large');
    expect(logged()).toContain('over max_token_bytes 8192');
  });

  it('follows a key rotated mid-run: the new kid is fetched once and accepted, the removed one refused, and a flood of unknown kids costs one fetch', async () => {
    const old = idp.keys[idp.keys.length - 1]!;
    const oldToken = await idp.token({}, { key: old });
    expect((await call('/jwt', { authorization: `Bearer ${oldToken}` })).status).toBe(200);
    await idp.rotate(true);
    const before = idp.fetches;
    expect((await call('/jwt', { authorization: `Bearer ${await idp.token()}` })).status).toBe(200);
    expect(idp.fetches).toBe(before + 1);
    // The old key left the JWKS: the refetch made for the new kid already knows.
    const refused = await call('/jwt', { authorization: `Bearer ${oldToken}` });
    expect(refused.status).toBe(401);
    expect(refused.problem().detail).toBe('the token\'s signing key is not known');
    // Within the cooldown, unknown kids are refused without a fetch each.
    const flood = await Promise.all(Array.from({ length: 40 }, async (_, i) => call('/jwt', { authorization: `Bearer ${await idp.token({}, { kid: `made-up-${i}` })}` })));
    expect(flood.every((r) => r.status === 401)).toBe(true);
    expect(idp.fetches).toBe(before + 1);
  });

  it('goes on with the cached keys while the JWKS is down; with none cached it answers 503 and logs why, not 401', async () => {
    idp.down = true;
    try {
      expect((await call('/jwt', { authorization: `Bearer ${await idp.token()}` })).status).toBe(200);
    } finally {
      idp.down = false;
    }
    const token = await downIdp.token();
    const first = await call('/jwt-down', { authorization: `Bearer ${token}` });
    expect(first.status).toBe(503);
    expect(first.problem().code).toBe('AUTH_UNAVAILABLE');
    expect(first.headers['retry-after']).toBe('5');
    expect(logged()).toContain(`JWKS fetch failed and no keys are cached: tokens cannot be checked until ${downIdp.jwksUrl} answers`);
    const fetches = downIdp.fetches;
    const again = await Promise.all(Array.from({ length: 10 }, () => call('/jwt-down', { authorization: `Bearer ${token}` })));
    expect(again.every((r) => r.status === 503)).toBe(true);
    expect(downIdp.fetches).toBe(fetches);
  });
});

describe('api keys', () => {
  it('lets a key from the environment or from the file of hashes in, as its consumer, and never keeps the key', async () => {
    const a = await call('/key', { 'x-api-key': PARTNER_KEY, 'x-tenant': 't1' });
    expect(a.status).toBe(200);
    const b = await call('/key', { 'x-api-key': FILE_KEY });
    expect(b.status).toBe(200);
    expect(delivered.map((m) => m.meta.consumer)).toEqual(['partner-a', 'file-partner']);
    // x-api-key is named in `headers:` but carries the credential: it is not kept.
    expect(delivered[0]!.headers['x-api-key']).toBeUndefined();
    expect(delivered[0]!.headers['x-tenant']).toBe('t1');
    expectNoLeak(PARTNER_KEY, FILE_KEY);
  });

  it('takes a key from the query and drops it from meta.query', async () => {
    const res = await call(`/query?api_key=${PARTNER_KEY}&page=2`, {}, 'GET');
    expect(res.status).toBe(200);
    expect(delivered[0]!.meta.query).toEqual({ page: '2' });
    expectNoLeak(PARTNER_KEY);
    expect((await call('/query?page=2', {}, 'GET')).headers['www-authenticate']).toBe('ApiKey realm="hub", query="api_key"');
  });

  it('answers a missing or wrong key 401, and a brute force of keys 429 from the address, even for the right key then', async () => {
    const missing = await call('/key');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('ApiKey realm="hub", header="x-api-key"');
    const tries = [];
    for (let i = 0; i < 4; i++) tries.push(await call('/key', { 'x-api-key': `guess-${i}-aaaaaaaaaaaaaaaa` }));
    expect(tries.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(tries[0]!.problem().detail).toBe('the API key is not valid');
    const blocked = await call('/key', { 'x-api-key': PARTNER_KEY });
    expect(blocked.status).toBe(429);
    expect(blocked.problem().code).toBe('RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(logged()).toContain('127.0.0.1 is refused without a check: too many failed authentications');
    expect(logged()).not.toContain('guess-');
  });

  it('applies the hub-wide default to a source without auth, and not to one with auth: none', async () => {
    expect((await call('/defaulted')).status).toBe(401);
    expect((await call('/defaulted', { 'x-api-key': FILE_KEY })).status).toBe(200);
    expect(delivered[0]!.meta.consumer).toBe('hub-wide');
    expect((await call('/optout')).status).toBe(200);
  });
});

describe('basic', () => {
  it('checks a user against its hashed password', async () => {
    const good = await call('/basic', { authorization: `Basic ${Buffer.from('erp:s3cret-pass').toString('base64')}` });
    expect(good.status).toBe(200);
    expect(delivered[0]!.meta.consumer).toBe('erp');
    const bad = await call('/basic', { authorization: `Basic ${Buffer.from('erp:wrong').toString('base64')}` });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Basic realm="hub", charset="UTF-8"');
    expect(bad.problem().detail).toBe('the user name or password is wrong');
    expect(logged()).toContain('wrong password for user erp');
    expectNoLeak('s3cret-pass', Buffer.from('erp:s3cret-pass').toString('base64'));
  });
});

describe('rate limits', () => {
  it('answers a consumer over its rate and burst 429 with Retry-After and RateLimit headers', async () => {
    const h = { 'x-api-key': PARTNER_KEY };
    const ok = [await call('/limited', h), await call('/limited', h), await call('/limited', h)];
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(ok[0]!.headers['ratelimit-limit']).toBe('3');
    expect(ok[0]!.headers['ratelimit-policy']).toBe('2;w=60;burst=1');
    const over = await call('/limited', h);
    expect(over.status).toBe(429);
    expect(over.problem()).toMatchObject({ code: 'RATE_LIMITED', detail: expect.stringMatching(/^too many requests: the consumer limit is 2 per 60 s, burst 1; retry after \d+ s$/) });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.headers['ratelimit-remaining']).toBe('0');
    expect(logged()).toContain('partner-a is over the consumer rate limit');
  });

  it('limits all callers of a flow together', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('/open')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe('SOAP', () => {
  const envelope = (v: '1.1' | '1.2'): string => (v === '1.1' ? soap11 : soap12)('<PlaceOrder><Id>1</Id></PlaceOrder>');
  const headers = (v: '1.1' | '1.2', token?: string): Record<string, string> => ({
    'content-type': v === '1.1' ? 'text/xml; charset=utf-8' : 'application/soap+xml; charset=utf-8',
    ...(v === '1.1' ? { soapaction: 'PlaceOrder' } : {}),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  });

  it.each(['1.1', '1.2'] as const)('SOAP %s: a valid token is let in with its consumer; none is a Client/Sender fault of that version', async (v) => {
    const ok = await post(`${base}/soap/orders`, envelope(v), headers(v, await idp.token({ sub: `soap-${v}` })));
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('<Status>OK</Status>');
    expect(delivered[0]!.meta.consumer).toBe(`soap-${v}`);
    const refused = await post(`${base}/soap/orders`, envelope(v), headers(v));
    const fault = faultOf(refused);
    expect(fault.version).toBe(v);
    expect(fault.standardCode).toBe('Sender');
    expect(fault.hubCode).toBe('AUTH_REQUIRED');
    expect(refused.headers['www-authenticate']).toContain('Bearer realm="hub"');
  });

  it('answers a consumer over its rate with a Client fault and Retry-After', async () => {
    const token = await idp.token({ sub: 'soap-busy' });
    for (let i = 0; i < 3; i++) expect((await post(`${base}/soap/orders`, envelope('1.1'), headers('1.1', token))).status).toBe(200);
    const over = await post(`${base}/soap/orders`, envelope('1.1'), headers('1.1', token));
    const fault = faultOf(over);
    expect(fault.faultCode).toBe('Client');
    expect(fault.hubCode).toBe('RATE_LIMITED');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('answers an expired token with a Sender fault that says so', async () => {
    const res = await post(`${base}/soap/orders`, envelope('1.2'), headers('1.2', await idp.token({ exp: Math.floor(Date.now() / 1000) - 120 })));
    const fault = faultOf(res);
    expect(fault.standardCode).toBe('Sender');
    expect(fault.reason).toContain('the token has expired');
  });
});

describe('shared through Redis', () => {
  it('counts a consumer once across replicas when REDIS_URL is set', async () => {
    const prefix = `test:gateway:${process.pid}:${Date.now()}:`;
    const http = { redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: prefix };
    const config = { auth: { api_key: { keys: [{ consumer: 'partner-a', secret: PARTNER_KEY }] } }, rate_limit: { consumer: { rate: '3/m' } } };
    // Two replicas of one flow: each its own guard, one Redis.
    const replicas = [createGuard(config, adapterCtx('shared-api', http), 'rest:POST /shared')!, createGuard(config, adapterCtx('shared-api', http), 'rest:POST /shared')!];
    const redis = new Redis(http.redisUrl);
    try {
      for (const g of replicas) await g.start();
      const req = { headers: { 'x-api-key': PARTNER_KEY }, url: '/shared', ip: '127.0.0.1' };
      const outcomes: string[] = [];
      for (let i = 0; i < 4; i++) outcomes.push(await replicas[i % 2]!.admit(req).then((a) => `ok ${a.headers['ratelimit-remaining']}`, (e: { code: string }) => e.code));
      expect(outcomes).toEqual(['ok 2', 'ok 1', 'ok 0', 'RATE_LIMITED']);
      expect((await redis.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    } finally {
      for (const g of replicas) await g.stop();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
  });
});

describe('the example flow flows/partner-quotes-api.yaml, in a real hub', () => {
  it('answers a partner with its key, refuses a call without one, and answers 429 past the rate and burst', async () => {
    const shipping = new Downstream();
    shipping.failing = false;
    const hub = await startHub(['--flows', 'flows/partner-quotes-api.yaml'], { env: { SHIPPING_API_URL: await shipping.start() } });
    try {
      const quote = (headers: Record<string, string>) => request(`${hub.url}/api/partner/quotes`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"weightKg":2.5,"fromCountry":"DE","toCountry":"FR"}' });
      const ok = await quote({ 'x-api-key': 'demo-partner-a-key-0001' });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.json()).toEqual({ partner: 'partner-a' });
      const none = await quote({});
      expect(none.statusCode).toBe(401);
      expect(none.headers['www-authenticate']).toBe('ApiKey realm="hub", header="x-api-key"');
      await none.body.dump();
      const burst = await Promise.all(Array.from({ length: 30 }, async () => {
        const r = await quote({ 'x-api-key': 'demo-partner-a-key-0001' });
        await r.body.dump();
        return r;
      }));
      const limited = burst.filter((r) => r.statusCode === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThan(0);
      expect(hub.logs()).toContain('partner-a is over the consumer rate limit');
      expect(hub.logs()).not.toContain('demo-partner-a-key-0001');
    } finally {
      await hub.stop();
      await shipping.close();
    }
  });
});

describe('the mesh owning JWT checks', () => {
  it('takes the consumer from the payload the sidecar verified and forwarded, still checks scopes, and refuses a call that bypassed the mesh', async () => {
    const ok = await call('/mesh', { 'x-jwt-payload': b64({ iss: idp.issuer, sub: 'meshed-partner', scope: 'orders:write' }) });
    expect(ok.status).toBe(200);
    expect(delivered[0]!.meta.consumer).toBe('meshed-partner');
    expect(delivered[0]!.headers['x-jwt-payload']).toBeUndefined();
    expect((await call('/mesh', { 'x-jwt-payload': b64({ sub: 'meshed-partner', scope: 'orders:read' }) })).status).toBe(403);
    const bypassed = await call('/mesh');
    expect(bypassed.status).toBe(401);
    expect(logged()).toContain('auth.jwt.owner is mesh but the request has no x-jwt-payload header');
  });
});

describe('docs/gateway.md', () => {
  it('shows `hub mesh lint` of the example flow as it prints', async () => {
    const lines: string[] = [];
    expect(await main(['mesh', 'lint', join(ROOT, 'flows', 'partner-quotes-api.yaml')], (x) => lines.push(x), () => {})).toBe(0);
    expect(readFileSync(join(ROOT, 'docs', 'gateway.md'), 'utf8')).toContain('$ hub mesh lint flows/partner-quotes-api.yaml\n' + lines.join('\n') + '\n```');
  });
});
