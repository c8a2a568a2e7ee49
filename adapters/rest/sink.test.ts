import { createServer, type Server } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterContext, HubLimits, SendContext } from '../../src/core/contracts.js';
import { HubError, PermanentError, RetryableError, type ConfigIssue, type ErrorCode } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import rest from './index.js';
import type { RestSinkConfig } from './config.js';
import type { RestSink } from './sink.js';
import { sendContext } from '../../src/runtime/testing.js';

const limits: HubLimits = { bodyBytes: 64 * 1024, maxDepth: 16 };
const logger = pino({ level: 'silent' });

function adapterCtx(issues: ConfigIssue[] = []): AdapterContext {
  return { flow: 'orders-api', baseDir: '/flows', schemasDir: '/schemas', logger, limits, report: (i) => issues.push(i) };
}

function sendCtx(signal: AbortSignal = new AbortController().signal): SendContext {
  return sendContext('orders-api', logger, signal);
}

const meta = { flow: 'orders-api', source: 'rest:POST /api/orders', receivedAt: new Date().toISOString(), attempt: 1 };

function jsonMessage(value: unknown, headers: Record<string, string> = {}): Message {
  return new Message({ value, headers: { 'correlation-id': 'corr-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ...headers }, meta });
}

const sinks: RestSink[] = [];
async function sinkFor(config: RestSinkConfig): Promise<RestSink> {
  const issues: ConfigIssue[] = [];
  const sink = rest.sink!.create(config, adapterCtx(issues)) as RestSink;
  expect(issues).toEqual([]);
  await sink.start();
  sinks.push(sink);
  return sink;
}

async function failure(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected the send to fail');
}

let server: FastifyInstance;
let base: string;
const seen: { method: string; url: string; headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  server = Fastify();
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  server.addHook('onRequest', async (req) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers, body: '' });
  });
  server.addHook('preHandler', async (req) => {
    seen[seen.length - 1]!.body = typeof req.body === 'string' ? req.body : '';
  });
  server.route({
    method: ['POST', 'PUT', 'GET', 'DELETE', 'PATCH'],
    url: '/orders/:id',
    handler: async (req, reply) => reply.code(201).send({ id: (req.params as { id: string }).id, method: req.method }),
  });
  server.get('/xml', async (_req, reply) => reply.type('application/xml').send('<Ack><Id>7</Id></Ack>'));
  server.get('/text', async (_req, reply) => reply.type('text/plain').send('pong'));
  server.get('/empty', async (_req, reply) => reply.code(204).send());
  server.get('/bad-json', async (_req, reply) => reply.type('application/json').send('{"a":'));
  server.get('/proto-json', async (_req, reply) => reply.type('application/json').send('{"__proto__":{"x":1}}'));
  server.get('/doctype', async (_req, reply) => reply.type('application/xml').send('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'));
  server.get('/big', async (_req, reply) => reply.type('text/plain').send('x'.repeat(limits.bodyBytes + 1)));
  server.all('/status/:code', async (req, reply) => {
    const code = Number((req.params as { code: string }).code);
    if (code === 429 || code === 503) reply.header('retry-after', '3');
    return reply.code(code).type('application/json').send({ error: `status ${code}`, pad: 'y'.repeat(3000) });
  });
  server.get('/slow', async (_req, reply) => {
    await new Promise((r) => setTimeout(r, 1500));
    return reply.send({ late: true });
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const s of sinks) await s.stop();
  await server.close();
});

describe('rest sink: 2xx replies', () => {
  it('sends the JSON body with templated URL and headers, the propagated headers, and resolves with the reply', async () => {
    const sink = await sinkFor({ url: `${base}/orders/{{ orderId }}?tenant={{ $headers.'x-tenant' }}`, method: 'PUT', headers: { 'x-tenant': '{{ $headers."x-tenant" }}', 'x-static': 'yes', authorization: 'Bearer {{ $meta.token }}' }, expect: 'json' });
    const message = jsonMessage({ orderId: 'A/1 ?#', total: 3 }, { 'x-tenant': 'acme' }).with({ meta: { token: 't0k' } });
    const reply = await sink.send(message, sendCtx());
    expect(reply.json()).toEqual({ id: 'A/1 ?#', method: 'PUT' });
    expect(reply.contentType).toMatch(/^application\/json/);
    expect(reply.headers['correlation-id']).toBe('corr-1');
    expect(reply.headers.traceparent).toBe(message.headers.traceparent);
    expect(reply.meta.downstreamStatus).toBe(201);
    expect(reply.id).toBe(message.id);
    const req = seen.at(-1)!;
    // The templated value stayed one path segment: "/" "?" and "#" were percent-encoded.
    expect(req.url).toBe('/orders/A%2F1%20%3F%23?tenant=acme');
    expect(req.headers).toMatchObject({ 'x-tenant': 'acme', 'x-static': 'yes', authorization: 'Bearer t0k', 'correlation-id': 'corr-1', traceparent: message.headers.traceparent, 'x-message-id': message.id, 'content-type': 'application/json', accept: 'application/json' });
    expect(JSON.parse(req.body)).toEqual({ orderId: 'A/1 ?#', total: 3 });
  });

  it('resolves with an XML reply as XML bytes', async () => {
    const sink = await sinkFor({ url: `${base}/xml`, method: 'GET', expect: 'xml' });
    const reply = await sink.send(jsonMessage({}), sendCtx());
    expect(reply.isXml).toBe(true);
    expect(reply.text()).toBe('<Ack><Id>7</Id></Ack>');
    expect(seen.at(-1)!.body).toBe('');
  });

  it('sends XML and text bodies as they are', async () => {
    const xml = new Message({ body: '<Order id="1"/>', headers: { 'content-type': 'application/xml' }, meta });
    const sink = await sinkFor({ url: `${base}/orders/x`, body: 'xml' });
    await sink.send(xml, sendCtx());
    expect(seen.at(-1)).toMatchObject({ body: '<Order id="1"/>', headers: { 'content-type': 'application/xml' } });
    const text = await sinkFor({ url: `${base}/orders/x`, body: 'text' });
    await text.send(new Message({ body: 'hello', headers: { 'content-type': 'text/plain' }, meta }), sendCtx());
    expect(seen.at(-1)).toMatchObject({ body: 'hello', headers: { 'content-type': 'text/plain; charset=utf-8' } });
  });

  it('refuses to send a message in the wrong format for body: json / xml (permanent)', async () => {
    const asJson = await sinkFor({ url: `${base}/orders/x`, body: 'json' });
    const xml = new Message({ body: '<a/>', headers: { 'content-type': 'application/xml' }, meta });
    expect((await failure(asJson.send(xml, sendCtx()))).code).toBe('BAD_REQUEST');
    const asXml = await sinkFor({ url: `${base}/orders/x`, body: 'xml' });
    expect(await failure(asXml.send(jsonMessage({}), sendCtx()))).toBeInstanceOf(PermanentError);
  });

  it('resolves with an empty message for 204 and with text for text/plain', async () => {
    const empty = await (await sinkFor({ url: `${base}/empty`, method: 'GET' })).send(jsonMessage({}), sendCtx());
    expect(empty.body.length).toBe(0);
    expect(empty.meta.downstreamStatus).toBe(204);
    const text = await (await sinkFor({ url: `${base}/text`, method: 'GET', expect: 'text' })).send(jsonMessage({}), sendCtx());
    expect(text.text()).toBe('pong');
  });

  it.each([
    ['malformed JSON', '/bad-json', 'any'],
    ['JSON with a __proto__ key', '/proto-json', 'any'],
    ['XML with a DOCTYPE', '/doctype', 'any'],
    ['a body over limits.body_bytes', '/big', 'any'],
    ['XML where JSON was expected', '/xml', 'json'],
  ] as const)('fails permanently as BAD_REPLY on %s', async (_what, path, expectFormat) => {
    const sink = await sinkFor({ url: `${base}${path}`, method: 'GET', expect: expectFormat });
    const err = await failure(sink.send(jsonMessage({}), sendCtx()));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('BAD_REPLY');
  });
});

describe('rest sink: failures are typed', () => {
  it.each([
    [400, 'DOWNSTREAM_REJECTED', false],
    [404, 'DOWNSTREAM_REJECTED', false],
    [409, 'DOWNSTREAM_REJECTED', false],
    [422, 'DOWNSTREAM_REJECTED', false],
    [501, 'DOWNSTREAM_REJECTED', false],
    [408, 'DOWNSTREAM_UNAVAILABLE', true],
    [429, 'DOWNSTREAM_UNAVAILABLE', true],
    [500, 'DOWNSTREAM_UNAVAILABLE', true],
    [502, 'DOWNSTREAM_UNAVAILABLE', true],
    [503, 'DOWNSTREAM_UNAVAILABLE', true],
  ] as const)('%i is %s (retryable: %s), with the status and a body excerpt in details', async (status, code, retryable) => {
    const sink = await sinkFor({ url: `${base}/status/${status}?secret=s3cr3t` });
    const err = await failure(sink.send(jsonMessage({ a: 1 }), sendCtx()));
    expect(err).toBeInstanceOf(retryable ? RetryableError : PermanentError);
    expect(err.code).toBe(code satisfies ErrorCode);
    const details = err.details as { status: number; body: string; url: string; retryAfterMs?: number };
    expect(details.status).toBe(status);
    expect(details.body.startsWith(`{"error":"status ${status}"`)).toBe(true);
    expect(details.body.length).toBeLessThanOrEqual(1027);
    expect(details.url).toBe(`${base}/status/${status}`);
    expect(JSON.stringify(err.toJSON())).not.toContain('s3cr3t');
    if (status === 429 || status === 503) expect(details.retryAfterMs).toBe(3000);
  });

  it('a slow downstream is a retryable TIMEOUT', async () => {
    const sink = await sinkFor({ url: `${base}/slow`, method: 'GET', timeout: '200ms' });
    const started = Date.now();
    const err = await failure(sink.send(jsonMessage({}), sendCtx()));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1200);
  });

  it('connection refused is retryable DOWNSTREAM_UNAVAILABLE', async () => {
    const closed: Server = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const sink = await sinkFor({ url: `http://127.0.0.1:${port}/orders` });
    const err = await failure(sink.send(jsonMessage({}), sendCtx()));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('DOWNSTREAM_UNAVAILABLE');
    expect((err.details as { error: string }).error).toBe('ECONNREFUSED');
  });

  it('a connection reset mid-request is retryable', async () => {
    const rude = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
    try {
      const sink = await sinkFor({ url: `http://127.0.0.1:${(rude.address() as { port: number }).port}/x` });
      const err = await failure(sink.send(jsonMessage({}), sendCtx()));
      expect(err).toBeInstanceOf(RetryableError);
      expect(err.code).toBe('DOWNSTREAM_UNAVAILABLE');
    } finally {
      await new Promise<void>((r) => rude.close(() => r()));
    }
  });

  it('stops at once when the flow aborts (its timeout ran out)', async () => {
    const sink = await sinkFor({ url: `${base}/slow`, method: 'GET', timeout: '10s' });
    const started = Date.now();
    const err = await failure(sink.send(jsonMessage({}), sendCtx(AbortSignal.timeout(100))));
    expect(err.code).toBe('TIMEOUT');
    expect(err).toBeInstanceOf(RetryableError);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('says FLOW_STOPPING when the hub aborts the send at shutdown', async () => {
    const sink = await sinkFor({ url: `${base}/slow`, method: 'GET' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutdown')), 50);
    const err = await failure(sink.send(jsonMessage({}), sendCtx(controller.signal)));
    expect(err.code).toBe('FLOW_STOPPING');
    expect(err).toBeInstanceOf(RetryableError);
  });

  it('fails permanently when a template renders no usable URL', async () => {
    const sink = await sinkFor({ url: '{{ target }}/orders/9' });
    const err = await failure(sink.send(jsonMessage({ target: 'ftp://x' }), sendCtx()));
    expect(err.code).toBe('TEMPLATE_FAILED');
    expect(err).toBeInstanceOf(PermanentError);
    const ok = await sink.send(jsonMessage({ target: base }), sendCtx());
    expect(ok.meta.downstreamStatus).toBe(201);
  });

  it('refuses to send before start and after stop', async () => {
    const sink = rest.sink!.create({ url: `${base}/orders/1` }, adapterCtx()) as RestSink;
    expect(sink.ready()).toBe(false);
    expect((await failure(sink.send(jsonMessage({}), sendCtx()))).code).toBe('FLOW_STOPPING');
    await sink.start();
    expect(sink.ready()).toBe(true);
    await sink.stop();
    expect(sink.ready()).toBe(false);
  });
});

describe('rest sink: config problems are reported at their path', () => {
  it('reports template syntax errors, reserved headers, bad URLs, bad timeouts and a GET body', () => {
    const issues: ConfigIssue[] = [];
    rest.sink!.create({ url: 'http://x/orders/{{ orderId ( }}', method: 'GET', body: 'json', timeout: 'soon', headers: { 'x-a': '{{ ] }}', 'Content-Type': 'text/plain' } }, adapterCtx(issues));
    const at = issues.map((i) => i.path.join('.'));
    expect(at).toEqual(expect.arrayContaining(['url', 'headers.x-a', 'headers.Content-Type', 'timeout', 'body']));
    const url = issues.find((i) => i.path[0] === 'url')!;
    expect(url.offset).toBeGreaterThanOrEqual('http://x/orders/{{ '.length);
    const bad: ConfigIssue[] = [];
    rest.sink!.create({ url: 'not a url' }, adapterCtx(bad));
    expect(bad).toEqual([{ path: ['url'], message: expect.stringMatching(/not an absolute URL/) }]);
  });
});
