import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as soapPackage from 'soap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendContext } from '../../src/core/contracts.js';
import { HubError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import type { SoapSinkConfig } from './config.js';
import { buildFault } from './envelope.js';
import soap from './index.js';
import { adapterContext, LIMITS, logger } from './test-support.js';
import { sendContext } from '../../src/runtime/testing.js';

interface Seen {
  headers: IncomingMessage['headers'];
  body: string;
}

const seen: Seen[] = [];
let server: Server;
let base: string;

const ENV11 = (payload: string) => `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="urn:example:legacy-erp"><soap:Body>${payload}</soap:Body></soap:Envelope>`;
const ENV12 = (payload: string) => `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>${payload}</env:Body></env:Envelope>`;

/** A scripted SOAP peer: the path picks the answer. */
function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = (req.url ?? '/').replace(/\?.*$/s, '');
  const send = (status: number, text: string, ct = 'text/xml; charset=utf-8') => {
    res.writeHead(status, { 'content-type': ct });
    res.end(text);
  };
  switch (path) {
    case '/ok':
      return send(200, ENV11('<tns:PlaceOrderResponse><tns:orderId>ERP-1</tns:orderId><tns:status>ACCEPTED</tns:status></tns:PlaceOrderResponse>'));
    case '/ok12':
      return send(200, ENV12('<r:PlaceOrderResponse xmlns:r="urn:r"><r:orderId>ERP-2</r:orderId></r:PlaceOrderResponse>'), 'application/soap+xml; charset=utf-8');
    case '/client-fault':
      return send(500, ENV11('<soap:Fault><faultcode>soap:Client</faultcode><faultstring>unknown customer</faultstring><detail><e:ErpFault xmlns:e="urn:e"><e:code>UNKNOWN_CUSTOMER</e:code></e:ErpFault></detail></soap:Fault>'));
    case '/receiver-fault':
      return send(500, buildFault('1.2', { code: 'Receiver', reason: 'database down', detail: '<x:why xmlns:x="urn:x">maintenance</x:why>' }), 'application/soap+xml');
    case '/sender-fault-200':
      return send(200, buildFault('1.2', { code: 'Sender', reason: 'bad input' }), 'application/soap+xml');
    case '/503':
      return send(503, 'Service Unavailable', 'text/plain');
    case '/429':
      return send(429, '', 'text/plain');
    case '/404':
      return send(404, 'no such thing', 'text/plain');
    case '/garbage':
      return send(200, '<html><body>oops', 'text/html');
    case '/empty':
      res.writeHead(202);
      return void res.end();
    case '/huge':
      return send(200, ENV11(`<x>${'y'.repeat(LIMITS.bodyBytes)}</x>`));
    case '/slow':
      return void setTimeout(() => send(200, ENV11('<late/>')), 1500);
    case '/echo':
      return send(200, ENV11(`<echo xmlns="urn:echo">${Buffer.from(body).toString('base64')}</echo>`));
    default:
      return send(404, '');
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function sendCtx(signal = new AbortController().signal): SendContext {
  return sendContext('test-flow', logger, signal);
}

function jsonMessage(value: unknown, headers: Record<string, string> = {}): Message {
  return new Message({ value, headers: { 'correlation-id': 'corr-7', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-secret-internal': 'no', ...headers }, meta: { flow: 'test-flow', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });
}

async function call(config: Partial<SoapSinkConfig> & { url: string }, message: Message, ctx = sendCtx()) {
  const issues = adapterContext();
  const sink = soap.sink!.create({ operation: 'PlaceOrder', ...config }, issues);
  expect(issues.issues).toEqual([]);
  await sink.start();
  try {
    return await sink.send(message, ctx);
  } finally {
    await sink.stop();
  }
}

async function failure(config: Partial<SoapSinkConfig> & { url: string }, message: Message, ctx?: SendContext): Promise<HubError> {
  const err = await call(config, message, ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HubError);
  return err as HubError;
}

const ORDER = { customerId: 'C-100', lines: [{ sku: 'A', qty: 2, price: 3.5 }, { sku: 'B', qty: 1, price: 1 }] };

describe('SOAP sink: requests', () => {
  it('builds a SOAP 1.1 request from JSON in the namespace, with SOAPAction and propagated headers, and returns the reply payload', async () => {
    seen.length = 0;
    const reply = await call({ url: `${base}/ok`, soap_action: 'urn:example:legacy-erp/PlaceOrder', namespace: 'urn:example:legacy-erp', headers: { 'x-api-key': 'k1' } }, jsonMessage(ORDER, { 'x-api-key': 'from-the-caller' }));
    const req = seen[0]!;
    expect(req.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(req.headers.soapaction).toBe('"urn:example:legacy-erp/PlaceOrder"');
    expect(req.headers['correlation-id']).toBe('corr-7');
    expect(req.headers.traceparent).toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(req.headers['x-api-key']).toBe('k1');
    // Headers the flow set go along (outboundHeaders), under the configured ones.
    expect(req.headers['x-secret-internal']).toBe('no');
    expect(req.body).toContain('<soap:Body><PlaceOrder xmlns="urn:example:legacy-erp"><customerId>C-100</customerId><lines><sku>A</sku><qty>2</qty><price>3.5</price></lines><lines><sku>B</sku>');

    expect(reply).toBeInstanceOf(Message);
    expect(reply!.text()).toBe('<tns:PlaceOrderResponse xmlns:tns="urn:example:legacy-erp"><tns:orderId>ERP-1</tns:orderId><tns:status>ACCEPTED</tns:status></tns:PlaceOrderResponse>');
    expect(reply!.contentType).toBe('application/xml');
    expect(reply!.headers['correlation-id']).toBe('corr-7');
    expect(reply!.headers.traceparent).toBeDefined();
    expect(reply!.meta).toMatchObject({ flow: 'test-flow', soapVersion: '1.1', operation: 'PlaceOrder' });
  });

  it('speaks SOAP 1.2 with the action in the Content-Type', async () => {
    seen.length = 0;
    const reply = await call({ url: `${base}/ok12`, version: '1.2', soap_action: 'urn:a/PlaceOrder' }, jsonMessage({ PlaceOrder: { customerId: 'C-1' } }));
    expect(seen[0]!.headers['content-type']).toBe('application/soap+xml; charset=utf-8; action="urn:a/PlaceOrder"');
    expect(seen[0]!.headers.soapaction).toBeUndefined();
    expect(seen[0]!.body).toContain('xmlns:soap="http://www.w3.org/2003/05/soap-envelope"');
    expect(seen[0]!.body).toContain('<soap:Body><PlaceOrder><customerId>C-1</customerId></PlaceOrder></soap:Body>');
    expect(reply!.text()).toBe('<r:PlaceOrderResponse xmlns:r="urn:r"><r:orderId>ERP-2</r:orderId></r:PlaceOrderResponse>');
  });

  it('embeds an XML body as it is, and writes unqualified children when asked', async () => {
    seen.length = 0;
    const xml = new Message({ body: '<?xml version="1.0"?>\n<p:PlaceOrder xmlns:p="urn:p"><p:customerId>X</p:customerId></p:PlaceOrder>', headers: { 'content-type': 'application/xml' }, meta: { flow: 'f', source: 's', receivedAt: '', attempt: 1 } });
    await call({ url: `${base}/ok` }, xml);
    expect(seen[0]!.body).toContain('<soap:Body><p:PlaceOrder xmlns:p="urn:p"><p:customerId>X</p:customerId></p:PlaceOrder></soap:Body>');
    expect(seen[0]!.headers.soapaction).toBe('""');

    await call({ url: `${base}/ok`, namespace: 'urn:n', element_form: 'unqualified' }, jsonMessage({ customerId: 'Y' }));
    expect(seen[1]!.body).toContain('<ns:PlaceOrder xmlns:ns="urn:n"><customerId>Y</customerId></ns:PlaceOrder>');
  });

  it('sends a WS-Security UsernameToken the `soap` package can verify', async () => {
    seen.length = 0;
    await call({ url: `${base}/ok`, ws_security: { username: 'erp', password: 's3cret', password_type: 'digest' } }, jsonMessage(ORDER));
    const body = seen[0]!.body;
    const nonce = /<wsse:Nonce[^>]*>([^<]+)</.exec(body)![1]!;
    const created = /<wsu:Created>([^<]+)</.exec(body)![1]!;
    const digest = /<wsse:Password Type="[^"]+#PasswordDigest">([^<]+)</.exec(body)![1]!;
    expect(digest).toBe(soapPackage.passwordDigest(nonce, created, 's3cret'));
    expect(body).toContain('soap:mustUnderstand="1"');
    expect(Math.abs(Date.parse(created) - Date.now())).toBeLessThan(5000);

    await call({ url: `${base}/ok`, ws_security: { username: 'erp', password: 'a<b' } }, jsonMessage(ORDER));
    expect(seen[1]!.body).toContain('#PasswordText">a&lt;b</wsse:Password>');
    const nonce2 = /<wsse:Nonce[^>]*>([^<]+)</.exec(seen[1]!.body)![1]!;
    expect(nonce2).not.toBe(nonce);
  });

  it('resolves with undefined when the peer answers without a body', async () => {
    expect(await call({ url: `${base}/empty` }, jsonMessage(ORDER))).toBeUndefined();
  });
});

describe('SOAP sink: failures are typed', () => {
  it('a Client fault is permanent SOAP_FAULT_CLIENT with code, reason and detail', async () => {
    const err = await failure({ url: `${base}/client-fault` }, jsonMessage(ORDER));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('SOAP_FAULT_CLIENT');
    expect(err.details).toMatchObject({ faultCode: 'Client', reason: 'unknown customer', detail: '<e:ErpFault xmlns:e="urn:e"><e:code>UNKNOWN_CUSTOMER</e:code></e:ErpFault>', httpStatus: 500 });
  });

  it('a Receiver fault is retryable SOAP_FAULT_SERVER', async () => {
    const err = await failure({ url: `${base}/receiver-fault`, version: '1.2' }, jsonMessage(ORDER));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('SOAP_FAULT_SERVER');
    expect(err.details).toMatchObject({ faultCode: 'Receiver', reason: 'database down', detail: '<x:why xmlns:x="urn:x">maintenance</x:why>' });
  });

  it('a Sender fault is permanent even with HTTP 200', async () => {
    const err = await failure({ url: `${base}/sender-fault-200`, version: '1.2' }, jsonMessage(ORDER));
    expect(err.code).toBe('SOAP_FAULT_CLIENT');
  });

  it.each([
    ['/503', RetryableError, 'DOWNSTREAM_UNAVAILABLE'],
    ['/429', RetryableError, 'DOWNSTREAM_UNAVAILABLE'],
    ['/404', PermanentError, 'DOWNSTREAM_REJECTED'],
    ['/garbage', PermanentError, 'BAD_REPLY'],
    ['/huge', PermanentError, 'BAD_REPLY'],
  ] as const)('%s without a Fault is %s %s', async (path, type, code) => {
    const err = await failure({ url: `${base}${path}` }, jsonMessage(ORDER));
    expect(err).toBeInstanceOf(type);
    expect(err.code).toBe(code);
  });

  it('a refused connection is retryable DOWNSTREAM_UNAVAILABLE', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await failure({ url: `http://127.0.0.1:${port}/x` }, jsonMessage(ORDER));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('DOWNSTREAM_UNAVAILABLE');
  });

  it('a slow peer is retryable TIMEOUT, by the sink timeout or the flow signal', async () => {
    const started = Date.now();
    const err = await failure({ url: `${base}/slow`, timeout: '200ms' }, jsonMessage(ORDER));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1200);

    const cancelled = await failure({ url: `${base}/slow`, timeout: '10s' }, jsonMessage(ORDER), sendCtx(AbortSignal.timeout(100)));
    expect(cancelled.code).toBe('TIMEOUT');
  });

  it('says FLOW_STOPPING when the hub aborts the call at shutdown', async () => {
    const hub = new AbortController();
    setTimeout(() => hub.abort(), 100);
    const err = await failure({ url: `${base}/slow`, timeout: '10s' }, jsonMessage(ORDER), sendCtx(hub.signal));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('FLOW_STOPPING');
  });

  it('never shows the URL\'s credentials or query in an error', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const secretUrl = (origin: string, path: string) => `${origin.replace('http://', 'http://svc-user:pa55word@')}${path}?api_key=s3cr3t`;
    const errors = [
      await failure({ url: secretUrl(`http://127.0.0.1:${port}`, '/x') }, jsonMessage(ORDER)),
      await failure({ url: secretUrl(base, '/slow'), timeout: '100ms' }, jsonMessage(ORDER)),
      await failure({ url: secretUrl(base, '/client-fault') }, jsonMessage(ORDER)),
      await failure({ url: secretUrl(base, '/503') }, jsonMessage(ORDER)),
      await failure({ url: secretUrl(base, '/404') }, jsonMessage(ORDER)),
      await failure({ url: secretUrl(base, '/garbage') }, jsonMessage(ORDER)),
      await failure({ url: secretUrl(base, '/huge') }, jsonMessage(ORDER)),
    ];
    expect(errors.map((e) => e.code)).toEqual(['DOWNSTREAM_UNAVAILABLE', 'TIMEOUT', 'SOAP_FAULT_CLIENT', 'DOWNSTREAM_UNAVAILABLE', 'DOWNSTREAM_REJECTED', 'BAD_REPLY', 'BAD_REPLY']);
    for (const err of errors) {
      const shown = `${err.message} ${JSON.stringify(err.toJSON())}`;
      expect(shown, shown).not.toMatch(/pa55word|svc-user|s3cr3t|api_key/);
    }
    expect(errors[3]!.message).toContain(`${base}/503`);
  });

  it('a message it cannot encode is permanent and never sent', async () => {
    seen.length = 0;
    const text = new Message({ body: 'hello', headers: { 'content-type': 'text/plain' }, meta: { flow: 'f', source: 's', receivedAt: '', attempt: 1 } });
    expect((await failure({ url: `${base}/ok` }, text)).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const broken = new Message({ body: '<a><b></a>', headers: { 'content-type': 'application/xml' }, meta: { flow: 'f', source: 's', receivedAt: '', attempt: 1 } });
    expect((await failure({ url: `${base}/ok` }, broken)).code).toBe('BAD_XML');
    const doctype = new Message({ body: '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', headers: { 'content-type': 'application/xml' }, meta: { flow: 'f', source: 's', receivedAt: '', attempt: 1 } });
    expect((await failure({ url: `${base}/ok` }, doctype)).code).toBe('XML_DOCTYPE_FORBIDDEN');
    expect((await failure({ url: `${base}/ok` }, jsonMessage([1, 2]))).code).toBe('BAD_REQUEST');
    expect(seen).toHaveLength(0);
  });

  it('reports a bad timeout at load', () => {
    const ctx = adapterContext();
    soap.sink!.create({ url: 'http://x', operation: 'A', timeout: 'soon' }, ctx);
    expect(ctx.issues).toEqual([expect.objectContaining({ path: ['timeout'] })]);
  });
});
