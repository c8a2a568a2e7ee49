import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import rest from '../../adapters/rest/index.js';
import soap from '../../adapters/soap/index.js';
import type { AdapterContext, HubLimits, SendContext } from '../core/contracts.js';
import { PermanentError, RetryableError } from '../core/errors.js';
import { Message } from '../core/message.js';
import { agentUseCount, readLimited, redactUrl, transportError, type TransportErrorContext } from './http-client.js';
import { sendContext } from '../runtime/testing.js';

const logger = pino({ level: 'silent' });
const limits: HubLimits = { bodyBytes: 1024, maxDepth: 16 };
const adapterCtx: AdapterContext = { flow: 'http-client', baseDir: '.', schemasDir: '.', logger, limits, report: (issue) => expect.fail(issue.message) };
const sendCtx: SendContext = sendContext('http-client', logger);
const meta = { flow: 'http-client', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 };

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const soapCall = req.url === '/soap';
      res.writeHead(200, { 'content-type': soapCall ? 'text/xml' : 'application/json' });
      res.end(soapCall ? '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ok/></s:Body></s:Envelope>' : '{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('the shared connection pool', () => {
  it('is held by REST and SOAP sinks alike, from start to stop, and stays open while one still holds it', async () => {
    const restSink = rest.sink!.create({ url: `${base}/rest` }, adapterCtx);
    const soapSink = soap.sink!.create({ url: `${base}/soap`, operation: 'Ping' }, adapterCtx);
    const before = agentUseCount();
    await restSink.start();
    await soapSink.start();
    expect(agentUseCount()).toBe(before + 2);
    await soapSink.stop();
    await soapSink.stop(); // a second stop gives nothing back twice
    expect(agentUseCount()).toBe(before + 1);
    const reply = await restSink.send(new Message({ value: { a: 1 }, meta }), sendCtx);
    expect(reply?.json()).toEqual({ ok: true });
    await expect(soapSink.send(new Message({ value: { a: 1 }, meta }), sendCtx)).rejects.toMatchObject({ code: 'FLOW_STOPPING' });
    await soapSink.start();
    expect((await soapSink.send(new Message({ value: { a: 1 }, meta }), sendCtx))?.text()).toBe('<ok/>');
    await restSink.stop();
    await soapSink.stop();
    expect(agentUseCount()).toBe(before);
  });
});

describe('transportError', () => {
  const ctx = (over: Partial<TransportErrorContext> = {}): TransportErrorContext => ({
    url: 'https://svc:pa55@erp.internal:8443/orders?key=s3cr3t',
    what: 'POST https://erp.internal:8443/orders',
    timeoutMs: 250,
    flowSignal: new AbortController().signal,
    ...over,
  });
  const coded = (code: string, nested = false): Error => (nested ? new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) }) : Object.assign(new Error(code), { code }));
  const aborted = (reason?: unknown): AbortSignal => {
    const c = new AbortController();
    c.abort(reason);
    return c.signal;
  };

  it.each([
    ['ECONNREFUSED', 'DOWNSTREAM_UNAVAILABLE'],
    ['ECONNRESET', 'DOWNSTREAM_UNAVAILABLE'],
    ['UND_ERR_SOCKET', 'DOWNSTREAM_UNAVAILABLE'],
    ['EWHATEVER', 'DOWNSTREAM_UNAVAILABLE'],
    ['ETIMEDOUT', 'TIMEOUT'],
    ['UND_ERR_CONNECT_TIMEOUT', 'TIMEOUT'],
    ['UND_ERR_HEADERS_TIMEOUT', 'TIMEOUT'],
  ])('%s (or as the cause) is retryable %s, with the redacted URL', (code, expected) => {
    for (const nested of [false, true]) {
      const err = transportError(coded(code, nested), ctx());
      expect(err).toBeInstanceOf(RetryableError);
      expect(err.code).toBe(expected);
      expect(err.details).toMatchObject({ url: 'https://erp.internal:8443/orders', error: code });
      expect(JSON.stringify(err.toJSON())).not.toMatch(/pa55|s3cr3t/);
    }
  });

  it('says TIMEOUT when the sink\'s or the flow\'s time ran out, FLOW_STOPPING when the hub stops', () => {
    expect(transportError(coded('UND_ERR_BODY_TIMEOUT'), ctx())).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(transportError(new Error('aborted'), ctx({ flowSignal: aborted(new DOMException('t', 'TimeoutError')) }))).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(transportError(new Error('aborted'), ctx({ flowSignal: aborted() }))).toMatchObject({ code: 'FLOW_STOPPING', retryable: true });
  });

  it('passes hub errors on and makes anything else a permanent INTERNAL error', () => {
    const own = new PermanentError('BAD_REPLY', 'too big');
    expect(transportError(own, ctx())).toBe(own);
    expect(transportError(new TypeError('a bug'), ctx())).toMatchObject({ code: 'INTERNAL', retryable: false });
  });
});

describe('readLimited', () => {
  it('reads up to the limit and refuses more as a permanent BAD_REPLY, destroying the body', async () => {
    expect((await readLimited(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 4)).toString()).toBe('abcd');
    const body = Readable.from([Buffer.alloc(3), Buffer.alloc(3)]);
    await expect(readLimited(body, 4)).rejects.toMatchObject({ code: 'BAD_REPLY', retryable: false });
    expect(body.destroyed).toBe(true);
  });

  it('refuses a declared content-length over the limit before reading, and reads a declared one in one go', async () => {
    const big = Readable.from([Buffer.alloc(3)]);
    await expect(readLimited(big, 4, '5')).rejects.toMatchObject({ code: 'BAD_REPLY' });
    expect(big.destroyed).toBe(true);
    const whole = Object.assign(Readable.from([]), { arrayBuffer: async () => new TextEncoder().encode('abcd').buffer });
    expect((await readLimited(whole, 4, '4')).toString()).toBe('abcd');
  });
});

describe('redactUrl', () => {
  it('drops credentials, query and fragment', () => {
    expect(redactUrl('https://u:p@erp.internal:8443/a/b?key=1#f')).toBe('https://erp.internal:8443/a/b');
    expect(redactUrl('not a url //u:p@host/x?key=1')).toBe('not a url //host/x');
  });
});
