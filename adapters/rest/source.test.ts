import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FlowResult, HubLimits, SourceContext } from '../../src/core/contracts.js';
import { ERROR_CODES, hubError, type ErrorCode } from '../../src/core/errors.js';
import { normalizePath } from '../../src/kit/http-route.js';
import { Message } from '../../src/core/message.js';
import { createHttpServer } from '../../src/kit/http-server.js';
import rest from './index.js';
import type { ProblemDetails } from '../../src/kit/problem.js';
import type { RestSourceConfig } from './config.js';
import type { RestSource } from './source.js';

const limits: HubLimits = { bodyBytes: 64 * 1024, maxDepth: 16 };
const logger = pino({ level: 'silent' });
const adapterCtx = { flow: 'orders-api', baseDir: '/flows', schemasDir: '/schemas', logger, limits, report: () => {} };

/** What the fake flow does with each delivered message; tests replace it. The adapter under test is real. */
type Flow = (message: Message) => Promise<FlowResult> | FlowResult;
let flow: Flow;
const echo: Flow = (m) => ({ replies: [m] });
let delivered: Message[] = [];

function sourceContext(app: FastifyInstance, name = 'orders-api'): SourceContext {
  return {
    flow: name,
    logger,
    http: app,
    limits,
    deliver: async (message) => {
      delivered.push(message);
      return flow(message);
    },
  };
}

async function startSource(app: FastifyInstance, config: RestSourceConfig): Promise<RestSource> {
  const source = rest.source!.create(config, adapterCtx) as RestSource;
  await source.start(sourceContext(app));
  return source;
}

let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  app = createHttpServer(limits, logger);
  await startSource(app, { path: '/api/orders' });
  await startSource(app, { method: 'GET', path: '/api/orders/:id' });
  await startSource(app, { method: 'PUT', path: '/api/json-only', accept: ['json'], status: 201 });
  await startSource(app, { method: 'DELETE', path: '/api/orders/:id', headers: ['x-tenant'] });
  // Another component's route on the same server: its errors must keep fastify's own format.
  app.get('/other', async () => {
    throw new Error('boom');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  await app.close();
});

afterEach(async () => {
  // Whatever the test sent, the server still serves.
  flow = echo;
  const res = await request(`${base}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
  expect(res.statusCode).toBe(200);
  expect(await res.body.json()).toEqual({ ok: true });
  delivered = [];
});

async function send(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { method: method as 'POST', headers, body: body ?? null });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}

async function problem(method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string>, code: ErrorCode): Promise<ProblemDetails> {
  const res = await send(method, path, body, headers);
  expect(res.headers['content-type']).toBe('application/problem+json');
  const p = res.json() as ProblemDetails;
  expect({ status: res.status, code: p.code }).toEqual({ status: ERROR_CODES[code].status, code });
  expect(p).toMatchObject({ type: `urn:integration-hub:error:${code}`, title: ERROR_CODES[code].title, status: ERROR_CODES[code].status });
  expect(p.messageId).toMatch(/^[0-9A-Z]{26}$/);
  expect(res.headers['x-message-id']).toBe(p.messageId);
  expect(res.headers['x-correlation-id']).toBeTruthy();
  return p;
}

const JSON_H = { 'content-type': 'application/json' };
const XML_H = { 'content-type': 'application/xml' };

describe('rest source: requests that reach the flow', () => {
  it('delivers a JSON body as a parsed message and answers with the one reply', async () => {
    flow = (m) => ({ replies: [m.with({ value: { received: m.json() } })] });
    const res = await send('POST', '/api/orders?src=erp', '{"orderId":"A-1","total":12.5}', { ...JSON_H, 'x-correlation-id': 'corr-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', authorization: 'secret' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ received: { orderId: 'A-1', total: 12.5 } });
    const [m] = delivered;
    expect(m!.json()).toEqual({ orderId: 'A-1', total: 12.5 });
    expect(m!.headers).toEqual({ 'content-type': 'application/json', 'correlation-id': 'corr-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(m!.meta).toMatchObject({ flow: 'orders-api', source: 'rest:POST /api/orders', method: 'POST', path: '/api/orders', params: {}, query: { src: 'erp' }, attempt: 1 });
    expect(res.headers['x-message-id']).toBe(m!.id);
    expect(res.headers['x-correlation-id']).toBe('corr-1');
  });

  it('gives the message its own id and keeps the upstream hop\'s x-message-id as meta.upstreamId', async () => {
    const res = await send('GET', '/api/orders/9', undefined, { 'x-message-id': '01UPSTREAMHUBMESSAGEID0000' });
    expect(res.status).toBe(200);
    expect(delivered[0]!.meta.upstreamId).toBe('01UPSTREAMHUBMESSAGEID0000');
    expect(delivered[0]!.id).not.toBe('01UPSTREAMHUBMESSAGEID0000');
  });

  it('gives a body-less GET the JSON body { params, query } and sets meta.params and meta.query', async () => {
    const res = await send('GET', '/api/orders/A%2F7?fields=id&fields=total');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ params: { id: 'A/7' }, query: { fields: ['id', 'total'] } });
    expect(delivered[0]!.meta).toMatchObject({ method: 'GET', params: { id: 'A/7' }, query: { fields: ['id', 'total'] } });
    expect(res.headers['x-correlation-id']).toBe(delivered[0]!.id);
  });

  it('answers HEAD on a GET route like GET, without a body', async () => {
    const res = await send('HEAD', '/api/orders/5');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(res.headers['x-message-id']).toBe(delivered[0]!.id);
    expect(delivered[0]!.meta.method).toBe('HEAD');
  });

  it('keeps the request headers a route names (DELETE without a body)', async () => {
    flow = () => ({ replies: [] });
    const res = await send('DELETE', '/api/orders/9', undefined, { 'x-tenant': 'acme', 'x-other': 'dropped' });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(delivered[0]!.headers['x-tenant']).toBe('acme');
    expect(delivered[0]!.headers['x-other']).toBeUndefined();
    expect(delivered[0]!.json()).toEqual({ params: { id: '9' }, query: {} });
  });

  it('keeps XML as XML bytes for an xml_to_json step, and answers with an XML reply as is', async () => {
    const xml = '<?xml version="1.0"?><Order id="1"><Line qty="2">pen</Line></Order>';
    flow = (m) => ({ replies: [m.with({ body: '<Ack/>', headers: { ...m.headers, 'content-type': 'application/xml' } })] });
    const res = await send('POST', '/api/orders', xml, { 'content-type': 'text/xml; charset=utf-8' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/xml');
    expect(res.text).toBe('<Ack/>');
    expect(delivered[0]!.text()).toBe(xml);
    expect(delivered[0]!.isXml).toBe(true);
  });

  it('takes text/plain as text', async () => {
    const res = await send('POST', '/api/orders', 'hello', { 'content-type': 'text/plain' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello');
    expect(delivered[0]!.json()).toBe('hello');
  });

  it('answers with the configured status, and a flow reply.status (meta.status) wins over it', async () => {
    let res = await send('PUT', '/api/json-only', '{"a":1}', JSON_H);
    expect(res.status).toBe(201);
    flow = (m) => ({ replies: [m.with({ meta: { status: 202 } })] });
    res = await send('PUT', '/api/json-only', '{"a":1}', JSON_H);
    expect(res.status).toBe(202);
  });

  it('answers several replies (after a split) as a JSON array of their bodies', async () => {
    flow = (m) => ({ replies: [m.with({ value: { n: 1 } }), m.with({ body: '<x/>', headers: { 'content-type': 'application/xml' } }), m.with({ value: 'three' })] });
    const res = await send('POST', '/api/orders', '{}', JSON_H);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual([{ n: 1 }, '<x/>', 'three']);
  });

  it('answers 204 when the flow dropped the message', async () => {
    flow = () => ({ replies: [] });
    const res = await send('POST', '/api/orders', '{}', JSON_H);
    expect(res.status).toBe(204);
    expect(res.headers['x-message-id']).toBe(delivered[0]!.id);
  });
});

describe('rest source: bad input never reaches the flow', () => {
  it.each([
    ['malformed JSON', '{"a":', 'BAD_JSON'],
    ['JSON nested too deeply', '['.repeat(17) + ']'.repeat(17), 'TOO_DEEP'],
    ['very deep JSON (a stack attack)', '['.repeat(50_000), 'TOO_DEEP'],
    ['a __proto__ key', '{"a":{"__proto__":{"polluted":true}}}', 'FORBIDDEN_KEY'],
    ['a constructor key', '{"constructor":{"prototype":{"polluted":true}}}', 'FORBIDDEN_KEY'],
  ] as const)('refuses %s', async (_what, body, code) => {
    const p = await problem('POST', '/api/orders', body, JSON_H, code);
    expect(p.instance).toBe('/api/orders');
    expect(delivered).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`;
  const xxe = `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>`;
  it.each([
    ['malformed XML', '<Order><Line></Order>', 'BAD_XML'],
    ['XML nested too deeply', '<a>'.repeat(17) + '</a>'.repeat(17), 'TOO_DEEP'],
    ['an element named __proto__', '<Order><__proto__><x>1</x></__proto__></Order>', 'FORBIDDEN_KEY'],
    ['an attribute named constructor', '<Order constructor="x"/>', 'FORBIDDEN_KEY'],
    ['billion laughs', laughs, 'XML_DOCTYPE_FORBIDDEN'],
    ['an external entity (XXE)', xxe, 'XML_DOCTYPE_FORBIDDEN'],
  ] as const)('refuses %s', async (_what, body, code) => {
    await problem('POST', '/api/orders', body, XML_H, code);
    expect(delivered).toEqual([]);
  });

  it('refuses a body over the size limit with 413 problem+json', async () => {
    const big = JSON.stringify({ data: 'x'.repeat(limits.bodyBytes) });
    await problem('POST', '/api/orders', big, JSON_H, 'BODY_TOO_LARGE');
    expect(delivered).toEqual([]);
  });

  it.each([
    ['an unknown content type', { 'content-type': 'application/octet-stream' }, '/api/orders', 'POST'],
    ['form data', { 'content-type': 'application/x-www-form-urlencoded' }, '/api/orders', 'POST'],
    ['no content type', {}, '/api/orders', 'POST'],
    ['a charset other than UTF-8', { 'content-type': 'text/plain; charset=iso-8859-1' }, '/api/orders', 'POST'],
    ['XML where the route accepts only JSON', XML_H, '/api/json-only', 'PUT'],
  ] as const)('answers 415 to %s', async (_what, headers, path, method) => {
    const p = await problem(method, path, '<a/>', headers, 'UNSUPPORTED_MEDIA_TYPE');
    expect(p.detail).toMatch(/accept|charset|Content-Type/);
    expect(delivered).toEqual([]);
  });

  it('refuses XML that declares a non-UTF-8 encoding', async () => {
    await problem('POST', '/api/orders', '<?xml version="1.0" encoding="ISO-8859-1"?><a/>', XML_H, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses prototype-polluting query parameters', async () => {
    await problem('GET', '/api/orders/1?constructor=x', undefined, {}, 'FORBIDDEN_KEY');
    // fastify's query parser keeps __proto__ as an own key; it must not reach a flow's JSONata or a JSON body.
    await problem('GET', '/api/orders/1?__proto__=x', undefined, {}, 'FORBIDDEN_KEY');
    expect(delivered).toEqual([]);
  });

  it('leaves other routes on the shared server to their own error handling', async () => {
    const res = await send('GET', '/other');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const missing = await send('GET', '/nowhere');
    expect(missing.status).toBe(404);
  });
});

describe('rest source: flow errors become problems with the table status', () => {
  it.each(Object.keys(ERROR_CODES) as ErrorCode[])('%s', async (code) => {
    flow = () => {
      throw hubError(code, `internal detail of ${code} at http://10.0.0.7/secret`, code === 'VALIDATION_FAILED' ? { details: { schema: 'order.v1', errors: [{ path: '/total', message: 'must be number' }] } } : {});
    };
    const res = await send('POST', '/api/orders', '{"total":"x"}', JSON_H);
    const p = res.json() as ProblemDetails;
    expect(res.status).toBe(ERROR_CODES[code].status);
    expect(p.code).toBe(code);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['x-message-id']).toBe(delivered[0]!.id);
    expect(p.messageId).toBe(delivered[0]!.id);
    if (ERROR_CODES[code].kind === 'retryable' && (ERROR_CODES[code].status === 503 || ERROR_CODES[code].status === 429)) expect(res.headers['retry-after']).toBe('5');
    else expect(res.headers['retry-after']).toBeUndefined();
    // Server-side failures do not leak internals to the caller.
    if (ERROR_CODES[code].fault === 'server') expect(p.detail).not.toContain('10.0.0.7');
    else expect(p.detail).toContain(code);
    if (code === 'VALIDATION_FAILED') expect(p.errors).toEqual([{ path: '/total', message: 'must be number' }]);
  });

  it('turns an unexpected error (even a synchronous throw) into a 500 INTERNAL problem', async () => {
    flow = () => {
      throw new TypeError('cannot read properties of undefined');
    };
    const res = await send('POST', '/api/orders', '{}', JSON_H);
    expect(res.status).toBe(500);
    const p = res.json() as ProblemDetails;
    expect(p.code).toBe('INTERNAL');
    expect(p.detail).not.toContain('undefined');
  });

  it('turns a non-Error rejection into a 500 INTERNAL problem', async () => {
    flow = () => Promise.reject('a string') as never;
    const res = await send('POST', '/api/orders', '{}', JSON_H);
    expect(res.status).toBe(500);
  });

  it('answers 500, not a 400 that blames the caller, when a flow reply cannot be read as JSON', async () => {
    flow = (m) => ({ replies: [m.with({ body: '{', headers: { 'content-type': 'application/json' } }), m] });
    const res = await send('POST', '/api/orders', '{}', JSON_H);
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('application/problem+json');
  });
});

describe('rest source: lifecycle and claims', () => {
  it('waits for deliveries in flight on stop, then answers 503 without delivering', async () => {
    const own = createHttpServer(limits, logger);
    let release: () => void = () => {};
    flow = (m) => new Promise((resolve) => (release = () => resolve({ replies: [m] })));
    const source = await startSource(own, { path: '/slow' });
    expect(source.ready()).toBe(true);
    await own.listen({ host: '127.0.0.1', port: 0 });
    const port = (own.server.address() as { port: number }).port;
    try {
      const pending = request(`http://127.0.0.1:${port}/slow`, { method: 'POST', headers: JSON_H, body: '{"n":1}' });
      await vi_waitFor(() => delivered.length === 1);
      let stopped = false;
      const stopping = source.stop().then(() => (stopped = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(stopped).toBe(false);
      expect(source.ready()).toBe(false);
      release();
      const res = await pending;
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ n: 1 });
      await stopping;
      const after = await request(`http://127.0.0.1:${port}/slow`, { method: 'POST', headers: JSON_H, body: '{}' });
      expect(after.statusCode).toBe(503);
      expect(after.headers['retry-after']).toBe('5');
      expect(((await after.body.json()) as ProblemDetails).code).toBe('FLOW_STOPPING');
      expect(delivered).toHaveLength(1);
    } finally {
      await own.close();
    }
  });

  it('claims http METHOD PATH with parameter names normalized', () => {
    const claims = (c: RestSourceConfig) => rest.source!.claims!(c).map((x) => x.key);
    expect(claims({ path: '/api/orders/:id' })).toEqual(['http POST /api/orders/:param']);
    expect(claims({ path: '/api/orders/:orderId/' })).toEqual(claims({ path: '/api/orders/:id' }));
    expect(claims({ method: 'GET', path: '/api/orders/:id' })).not.toEqual(claims({ path: '/api/orders/:id' }));
    expect(rest.source!.claims!({ path: '/x' })[0]!.path).toEqual(['path']);
    expect(normalizePath('/')).toBe('/');
  });

  it('fails start() with a clear error when the route is already taken', async () => {
    const own = createHttpServer(limits, logger);
    await startSource(own, { path: '/dup/:a' });
    await expect(startSource(own, { path: '/dup/:b' })).rejects.toThrow(/cannot add POST \/dup\/:b/);
    await own.close();
  });
});

async function vi_waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
