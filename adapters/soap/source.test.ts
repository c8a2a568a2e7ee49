import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowResult } from '../../src/core/contracts.js';
import { hubError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import { parseEnvelope, parseFault, payloadXml } from './envelope.js';
import soap from './index.js';
import { adapterContext, faultOf, post, soap11, soap12, startSources, type FlowStub, type RunningSources } from './test-support.js';
import { buildSecurityHeader, passwordDigest, PASSWORD_DIGEST, WSSE_NS, WSU_NS } from './wsse.js';

const ORDERS_NS = 'urn:example:orders';
const PLACE_ORDER = `<o:PlaceOrder xmlns:o="${ORDERS_NS}"><o:customerId>C-100</o:customerId><o:lines><o:sku>A-1</o:sku><o:qty>2</o:qty><o:price>9.5</o:price></o:lines></o:PlaceOrder>`;
const GET_STATUS = `<GetOrderStatus xmlns="${ORDERS_NS}"><orderId>ERP-1</orderId></GetOrderStatus>`;
const XML_11 = { 'content-type': 'text/xml; charset=utf-8' };
const XML_12 = { 'content-type': 'application/soap+xml; charset=utf-8' };

function reply(body: string | object): FlowResult {
  const meta = { flow: 'f', source: 's', receivedAt: '', attempt: 1 };
  return { replies: [new Message(typeof body === 'string' ? { body, headers: { 'content-type': 'application/xml' }, meta } : { value: body, meta })] };
}

function ordersFlow(deliver: FlowStub['deliver'], extra: Partial<FlowStub['config']> = {}): FlowStub {
  return { flow: 'orders', config: { path: '/erp/orders', wsdl: '../schemas/wsdl/orders.wsdl', operations: ['PlaceOrder', 'GetOrderStatus'], ...extra }, deliver };
}

let running: RunningSources | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('SOAP source: calls', () => {
  it('delivers a SOAP 1.1 call picked by its full SOAPAction and answers with the XML reply', async () => {
    const seen: Message[] = [];
    running = await startSources([
      ordersFlow(async (m) => {
        seen.push(m);
        return reply(`<?xml version="1.0"?><r:PlaceOrderResponse xmlns:r="${ORDERS_NS}"><r:orderId>ERP-9</r:orderId><r:status>ACCEPTED</r:status><r:total>19</r:total></r:PlaceOrderResponse>`);
      }),
    ]);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), { ...XML_11, soapaction: '"urn:example:orders/PlaceOrder"', 'x-correlation-id': 'corr-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('text/xml; charset=utf-8');
    expect(res.headers['correlation-id']).toBe('corr-1');
    const parsed = parseEnvelope(res.text, { maxDepth: 32 });
    expect(parsed.version).toBe('1.1');
    expect(payloadXml(parsed)).toContain('<r:orderId>ERP-9</r:orderId>');

    const m = seen[0]!;
    expect(m.text()).toBe(PLACE_ORDER);
    expect(m.contentType).toBe('application/xml');
    expect(m.headers['soap-action']).toBe('urn:example:orders/PlaceOrder');
    expect(m.headers['correlation-id']).toBe('corr-1');
    expect(m.headers.traceparent).toContain('0af7651916cd43dd8448eb211c80319c');
    expect(m.meta).toMatchObject({ flow: 'orders', soapVersion: '1.1', operation: 'PlaceOrder', path: '/erp/orders', attempt: 1 });
  });

  it('carries namespace declarations from the Envelope and Body onto the delivered payload', async () => {
    const seen: Message[] = [];
    running = await startSources([ordersFlow(async (m) => (seen.push(m), reply({ ok: true })))]);
    const envelope = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="${ORDERS_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:x="urn:x"><s:Body><o:GetOrderStatus><o:orderId xsi:type="x:Id">ERP-1</o:orderId></o:GetOrderStatus></s:Body></s:Envelope>`;
    const res = await post(`${running.url}/erp/orders`, envelope, XML_11);
    expect(res.status).toBe(200);
    const body = seen[0]!.text();
    expect(body).toMatch(/^<o:GetOrderStatus xmlns:/);
    for (const decl of [`xmlns:o="${ORDERS_NS}"`, 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', 'xmlns:x="urn:x"']) expect(body).toContain(decl);
    expect(body).not.toContain('soap/envelope');
  });

  it('answers SOAP 1.2 (action parameter) in a 1.2 envelope, building XML from a one-key JSON reply in the WSDL namespace', async () => {
    const seen: Message[] = [];
    running = await startSources([ordersFlow(async (m) => (seen.push(m), reply({ PlaceOrderResponse: { orderId: 'ERP-2', status: 'ACCEPTED', total: 19 } })))]);
    const res = await post(`${running.url}/erp/orders`, soap12(PLACE_ORDER), { 'content-type': 'application/soap+xml; charset=utf-8; action="urn:example:orders/PlaceOrder"' });
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^application\/soap\+xml/);
    expect(res.text).toContain('http://www.w3.org/2003/05/soap-envelope');
    expect(payloadXml(parseEnvelope(res.text, { maxDepth: 32 }))).toBe(`<PlaceOrderResponse xmlns="${ORDERS_NS}"><orderId>ERP-2</orderId><status>ACCEPTED</status><total>19</total></PlaceOrderResponse>`);
    expect(seen[0]!.meta.soapVersion).toBe('1.2');
    expect(seen[0]!.headers['soap-action']).toBe('urn:example:orders/PlaceOrder');
  });

  it('picks the operation by the Body element without a SOAPAction, and wraps a several-key JSON reply in {operation}Response', async () => {
    const seen: Message[] = [];
    running = await startSources([ordersFlow(async (m) => (seen.push(m), reply({ orderId: 'ERP-1', status: 'ACCEPTED', total: 5 })))]);
    const res = await post(`${running.url}/erp/orders`, soap11(GET_STATUS), { ...XML_11, soapaction: '""' });
    expect(res.status).toBe(200);
    expect(seen[0]!.meta.operation).toBe('GetOrderStatus');
    expect(payloadXml(parseEnvelope(res.text, { maxDepth: 32 }))).toBe(`<GetOrderStatusResponse xmlns="${ORDERS_NS}"><orderId>ERP-1</orderId><status>ACCEPTED</status><total>5</total></GetOrderStatusResponse>`);
  });

  it('picks the operation by the last segment of a SOAPAction that is not in the WSDL', async () => {
    const seen: Message[] = [];
    running = await startSources([ordersFlow(async (m) => (seen.push(m), reply({ ok: 1 })))]);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), { ...XML_11, soapaction: 'http://legacy.example/actions/GetOrderStatus' });
    expect(res.status).toBe(200);
    expect(seen[0]!.meta.operation).toBe('GetOrderStatus');
  });

  it('answers an empty Body when the flow produced no reply', async () => {
    running = await startSources([ordersFlow(async () => ({ replies: [] }))]);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    expect(res.status).toBe(200);
    expect(parseEnvelope(res.text, { maxDepth: 8 }).payload).toBeUndefined();
  });

  it('refuses an operation in the WSDL that the flow does not take with a Client fault', async () => {
    running = await startSources([{ flow: 'orders', config: { path: '/erp/orders', wsdl: '../schemas/wsdl/orders.wsdl', operation: 'PlaceOrder' }, deliver: async () => reply({ x: 1 }) }]);
    const res = await post(`${running.url}/erp/orders`, soap11(GET_STATUS), { ...XML_11, soapaction: '"urn:example:orders/GetOrderStatus"' });
    expect(res.status).toBe(500);
    const f = faultOf(res);
    expect(f).toMatchObject({ version: '1.1', faultCode: 'Client', hubCode: 'SOAP_UNKNOWN_OPERATION' });
    expect(f.reason).toContain('GetOrderStatus');

    // A SOAP 1.2 Sender fault goes with HTTP 500 by default: a default Apache CXF client reads a fault body only then.
    const unknown = await post(`${running.url}/erp/orders`, soap12('<Nope xmlns="urn:x"/>'), XML_12);
    expect(unknown.status).toBe(500);
    expect(faultOf(unknown)).toMatchObject({ version: '1.2', faultCode: 'Sender', hubCode: 'SOAP_UNKNOWN_OPERATION', subcodes: ['hub:SOAP_UNKNOWN_OPERATION'] });
  });

  it('soap12_sender_status: 400 sends SOAP 1.2 Sender faults with the binding\'s 400, from the dispatch and from the flow; Receiver and SOAP 1.1 faults stay 500', async () => {
    running = await startSources([{ flow: 'orders', config: { path: '/erp/orders', wsdl: '../schemas/wsdl/orders.wsdl', operation: 'PlaceOrder', soap12_sender_status: 400 }, deliver: async (m) => { throw m.text().includes('down') ? hubError('DOWNSTREAM_UNAVAILABLE', 'down') : hubError('VALIDATION_FAILED', 'bad order'); } }]);
    const unknown = await post(`${running.url}/erp/orders`, soap12('<Nope xmlns="urn:x"/>'), XML_12);
    expect([unknown.status, faultOf(unknown).faultCode]).toEqual([400, 'Sender']);
    const invalid = await post(`${running.url}/erp/orders`, soap12(PLACE_ORDER), XML_12);
    expect([invalid.status, faultOf(invalid).hubCode]).toEqual([400, 'VALIDATION_FAILED']);
    const down = await post(`${running.url}/erp/orders`, soap12(PLACE_ORDER.replace('</o:PlaceOrder>', '<o:Note>down</o:Note></o:PlaceOrder>')), XML_12);
    expect([down.status, faultOf(down).faultCode]).toEqual([500, 'Receiver']);
    const v11 = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    expect([v11.status, faultOf(v11).faultCode]).toEqual([500, 'Client']);
  });

  it('dispatches one path shared by two flows to the flow that takes each operation', async () => {
    const got: string[] = [];
    running = await startSources([
      { flow: 'place', config: { path: '/erp/orders', wsdl: '../schemas/wsdl/orders.wsdl', operations: ['PlaceOrder'] }, deliver: async (m) => (got.push(`place:${m.meta.operation}`), reply({ a: 1, b: 2 })) },
      { flow: 'status', config: { path: '/erp/orders/', operations: ['GetOrderStatus'] }, deliver: async (m) => (got.push(`status:${m.meta.operation}`), reply({ a: 1, b: 2 })) },
    ]);
    expect((await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11)).status).toBe(200);
    expect((await post(`${running.url}/erp/orders`, soap11(GET_STATUS), XML_11)).status).toBe(200);
    expect(got).toEqual(['place:PlaceOrder', 'status:GetOrderStatus']);
  });

  it('claims one key per operation and names the plain HTTP routes it clashes with', () => {
    const claims = soap.source!.claims!({ path: '/erp/orders/', operations: ['PlaceOrder', 'GetOrderStatus'] });
    expect(claims).toEqual([
      { key: 'soap POST /erp/orders PlaceOrder', path: ['operations', 0], conflicts: ['http POST /erp/orders', 'http GET /erp/orders'] },
      { key: 'soap POST /erp/orders GetOrderStatus', path: ['operations', 1], conflicts: ['http POST /erp/orders', 'http GET /erp/orders'] },
    ]);
    expect(soap.source!.claims!({ path: '/a', operation: 'X' })[0]).toMatchObject({ key: 'soap POST /a X', path: ['operation'] });
  });

  it('refuses a second flow taking an operation already served on the path', async () => {
    await expect(
      startSources([ordersFlow(async () => reply({ a: 1 })), { flow: 'other', config: { path: '/erp/orders', operations: ['PlaceOrder'] }, deliver: async () => reply({ a: 1 }) }]),
    ).rejects.toThrow(/already served by flow "orders"/);
  });

  it('reports a missing WSDL and operations the WSDL does not have', () => {
    const ctx = adapterContext();
    soap.source!.create({ path: '/x', wsdl: 'nope.wsdl', operations: ['A'] }, ctx);
    expect(ctx.issues).toEqual([expect.objectContaining({ path: ['wsdl'] })]);
    const ctx2 = adapterContext();
    soap.source!.create({ path: '/x', wsdl: '../schemas/wsdl/orders.wsdl', operations: ['PlaceOrder', 'Cancel'] }, ctx2);
    expect(ctx2.issues).toEqual([expect.objectContaining({ path: ['operations', 1], message: expect.stringContaining('"Cancel" is not in') })]);
  });
});

describe('SOAP source: flow errors become Faults', () => {
  it('a permanent error is a 1.1 Client fault with the hub code and message id in the detail', async () => {
    const ids: string[] = [];
    running = await startSources([ordersFlow(async (m) => (ids.push(m.id), Promise.reject(new PermanentError('VALIDATION_FAILED', 'customerId is required'))))]);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    expect(res.status).toBe(500);
    expect(res.contentType).toMatch(/^text\/xml/);
    expect(faultOf(res)).toMatchObject({ faultCode: 'Client', reason: 'customerId is required', hubCode: 'VALIDATION_FAILED', messageId: ids[0] });
  });

  it('a retryable error is a 1.2 Receiver fault (HTTP 500)', async () => {
    running = await startSources([ordersFlow(async () => Promise.reject(new RetryableError('DOWNSTREAM_UNAVAILABLE', 'ERP down')))]);
    const res = await post(`${running.url}/erp/orders`, soap12(PLACE_ORDER), XML_12);
    expect(res.status).toBe(500);
    const f = faultOf(res);
    expect(f).toMatchObject({ version: '1.2', faultCode: 'Receiver', hubCode: 'DOWNSTREAM_UNAVAILABLE' });
    expect(f.reason).toBe(`Downstream unavailable. Quote message id ${f.messageId} when reporting it.`);
  });

  it('a server-side error does not show its message, which may name internal hosts', async () => {
    running = await startSources([ordersFlow(async () => Promise.reject(new RetryableError('DOWNSTREAM_UNAVAILABLE', 'POST http://127.0.0.1:18082/rates failed: ECONNREFUSED')))]);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    expect(res.text).not.toContain('127.0.0.1');
    expect(res.text).not.toContain('ECONNREFUSED');
    const f = faultOf(res);
    expect(f).toMatchObject({ faultCode: 'Server', hubCode: 'DOWNSTREAM_UNAVAILABLE', reason: `Downstream unavailable. Quote message id ${f.messageId} when reporting it.` });
  });

  it('a bug is a Server fault that does not show its message', async () => {
    running = await startSources([ordersFlow(async () => Promise.reject(new Error('secret stack detail')))]);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    const f = faultOf(res);
    expect(f).toMatchObject({ faultCode: 'Server', hubCode: 'INTERNAL' });
    expect(res.text).not.toContain('secret stack detail');
  });

  it('a reply that is not XML-able is a Server fault', async () => {
    running = await startSources([ordersFlow(async () => reply('<broken>'))]);
    expect(faultOf(await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11))).toMatchObject({ faultCode: 'Server', hubCode: 'INTERNAL' });
  });

  it('after stop, calls get a Receiver fault (retryable) and ready() is false', async () => {
    running = await startSources([ordersFlow(async () => reply({ a: 1 }))]);
    const source = running.sources[0]!;
    expect(source.ready()).toBe(true);
    await source.stop();
    expect(source.ready()).toBe(false);
    const res = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    expect(faultOf(res)).toMatchObject({ faultCode: 'Server', hubCode: 'FLOW_STOPPING' });
  });
});

describe('SOAP source: hostile and broken input', () => {
  const deep = (n: number): string => '<a>'.repeat(n) + 'x' + '</a>'.repeat(n);
  const cases: { name: string; body: string | Buffer; headers: Record<string, string>; version: '1.1' | '1.2'; code: string; hub: string }[] = [
    { name: 'malformed XML (1.1)', body: soap11('<o:PlaceOrder xmlns:o="urn:x"><unclosed></o:PlaceOrder>'), headers: XML_11, version: '1.1', code: 'Client', hub: 'BAD_XML' },
    { name: 'malformed XML (1.2)', body: '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x>', headers: XML_12, version: '1.2', code: 'Sender', hub: 'BAD_XML' },
    { name: 'an Envelope without a Body', body: '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>', headers: XML_11, version: '1.1', code: 'Client', hub: 'SOAP_BAD_ENVELOPE' },
    { name: 'a Body with no element', body: soap12(''), headers: XML_12, version: '1.2', code: 'Sender', hub: 'SOAP_BAD_ENVELOPE' },
    { name: 'not an Envelope', body: PLACE_ORDER, headers: XML_11, version: '1.1', code: 'Client', hub: 'SOAP_BAD_ENVELOPE' },
    { name: 'a SOAP 1.2 envelope sent as text/xml', body: soap12(PLACE_ORDER), headers: XML_11, version: '1.1', code: 'VersionMismatch', hub: 'SOAP_VERSION_MISMATCH' },
    { name: 'a SOAP 1.1 envelope sent as application/soap+xml', body: soap11(PLACE_ORDER), headers: XML_12, version: '1.2', code: 'VersionMismatch', hub: 'SOAP_VERSION_MISMATCH' },
    { name: 'an Envelope in an unknown namespace', body: '<s:Envelope xmlns:s="urn:soap:2.0"><s:Body/></s:Envelope>', headers: XML_11, version: '1.1', code: 'VersionMismatch', hub: 'SOAP_VERSION_MISMATCH' },
    {
      name: 'billion laughs',
      body: `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>${soap11('<o:PlaceOrder xmlns:o="urn:example:orders">&lol3;</o:PlaceOrder>').replace('<?xml version="1.0"?>', '')}`,
      headers: XML_11,
      version: '1.1',
      code: 'Client',
      hub: 'XML_DOCTYPE_FORBIDDEN',
    },
    {
      name: 'an external entity (XXE)',
      body: `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><o:PlaceOrder xmlns:o="urn:example:orders">&xxe;</o:PlaceOrder></e:Body></e:Envelope>`,
      headers: XML_12,
      version: '1.2',
      code: 'Sender',
      hub: 'XML_DOCTYPE_FORBIDDEN',
    },
    { name: 'deeply nested XML', body: soap11(`<o:PlaceOrder xmlns:o="urn:example:orders">${deep(5000)}</o:PlaceOrder>`), headers: XML_11, version: '1.1', code: 'Client', hub: 'TOO_DEEP' },
    { name: 'an element named __proto__', body: soap11('<o:PlaceOrder xmlns:o="urn:example:orders"><__proto__><polluted>1</polluted></__proto__></o:PlaceOrder>'), headers: XML_11, version: '1.1', code: 'Client', hub: 'FORBIDDEN_KEY' },
    { name: 'an element named constructor', body: soap12('<o:PlaceOrder xmlns:o="urn:example:orders"><o:constructor><prototype/></o:constructor></o:PlaceOrder>'), headers: XML_12, version: '1.2', code: 'Sender', hub: 'FORBIDDEN_KEY' },
    { name: 'a body over the size limit', body: soap11(`<o:PlaceOrder xmlns:o="urn:example:orders">${'x'.repeat(70 * 1024)}</o:PlaceOrder>`), headers: XML_11, version: '1.1', code: 'Client', hub: 'BODY_TOO_LARGE' },
    { name: 'a body over the size limit (1.2)', body: soap12(`<o:PlaceOrder xmlns:o="urn:example:orders">${'x'.repeat(70 * 1024)}</o:PlaceOrder>`), headers: XML_12, version: '1.2', code: 'Sender', hub: 'BODY_TOO_LARGE' },
    { name: 'a JSON content type', body: '{"PlaceOrder":{}}', headers: { 'content-type': 'application/json' }, version: '1.1', code: 'Client', hub: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'an unknown charset', body: soap11(PLACE_ORDER), headers: { 'content-type': 'text/xml; charset=x-klingon' }, version: '1.1', code: 'Client', hub: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'bytes that are not UTF-8', body: Buffer.concat([Buffer.from(soap11('<o:PlaceOrder xmlns:o="urn:x">')), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('</o:PlaceOrder>')]), headers: XML_11, version: '1.1', code: 'Client', hub: 'BAD_XML' },
    { name: 'an empty body', body: '', headers: XML_12, version: '1.2', code: 'Sender', hub: 'SOAP_BAD_ENVELOPE' },
    { name: 'a character reference beyond Unicode', body: soap11('<o:PlaceOrder xmlns:o="urn:example:orders" note="&#x110000;"/>'), headers: XML_11, version: '1.1', code: 'Client', hub: 'BAD_XML' },
    { name: 'a character reference to NUL', body: soap12('<o:PlaceOrder xmlns:o="urn:example:orders">&#0;</o:PlaceOrder>'), headers: XML_12, version: '1.2', code: 'Sender', hub: 'BAD_XML' },
  ];

  it.each(cases)('$name gets a $version $code fault, and the server goes on serving', async ({ body, headers, version, code, hub }) => {
    let delivered = 0;
    running ??= await startSources([ordersFlow(async () => (delivered++, reply({ PlaceOrderResponse: { orderId: 'ERP-1' } })))]);
    const res = await post(`${running.url}/erp/orders`, body, headers);
    expect(res.status).toBe(500);
    expect(res.contentType).toMatch(version === '1.1' ? /^text\/xml/ : /^application\/soap\+xml/);
    const f = faultOf(res);
    expect(f).toMatchObject({ version, faultCode: code, hubCode: hub });
    expect(f.messageId === undefined || /^[0-9A-Z]{26}$/.test(f.messageId)).toBe(true);
    expect(delivered).toBe(0);
    if (code === 'VersionMismatch') expect(res.text).toContain('SupportedEnvelope');

    const ok = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER), XML_11);
    expect(ok.status).toBe(200);
    expect(delivered).toBe(1);
  });

  it('answers a header it does not understand marked mustUnderstand with a MustUnderstand fault, and ignores one for another actor', async () => {
    running = await startSources([ordersFlow(async () => reply({ a: 1, b: 2 }))]);
    const block11 = '<t:Transaction xmlns:t="urn:tx" s:mustUnderstand="1">5</t:Transaction>';
    const res11 = await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER, block11), XML_11);
    expect(res11.status).toBe(500);
    expect(faultOf(res11)).toMatchObject({ version: '1.1', faultCode: 'MustUnderstand' });

    const block12 = '<t:Transaction xmlns:t="urn:tx" e:mustUnderstand="true">5</t:Transaction>';
    const res12 = await post(`${running.url}/erp/orders`, soap12(PLACE_ORDER, block12), XML_12);
    expect(res12.status).toBe(500);
    expect(faultOf(res12)).toMatchObject({ version: '1.2', faultCode: 'MustUnderstand' });
    expect(res12.text).toContain('<soap:NotUnderstood qname="nu:Transaction" xmlns:nu="urn:tx"/>');

    const elsewhere = '<t:Transaction xmlns:t="urn:tx" s:mustUnderstand="1" s:actor="urn:some-other-node">5</t:Transaction>';
    expect((await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER, elsewhere), XML_11)).status).toBe(200);
    const optional = '<t:Transaction xmlns:t="urn:tx">5</t:Transaction>';
    expect((await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER, optional), XML_11)).status).toBe(200);
    // WS-Security is not configured on this flow, so a mandatory Security header is not understood either.
    const security = buildSecurityHeader({ username: 'u', password: 'p', passwordType: 'text', envelopePrefix: 's' });
    expect(faultOf(await post(`${running.url}/erp/orders`, soap11(PLACE_ORDER, security), XML_11)).faultCode).toBe('MustUnderstand');
  });

  it('refuses a SOAP version the flow does not accept with a VersionMismatch fault', async () => {
    running = await startSources([ordersFlow(async () => reply({ a: 1, b: 2 }), { versions: ['1.1'] })]);
    const res = await post(`${running.url}/erp/orders`, soap12(PLACE_ORDER), XML_12);
    expect(faultOf(res).faultCode).toBe('VersionMismatch');
  });
});

describe('SOAP source: WSDL', () => {
  it('serves the WSDL at ?wsdl with soap:address pointing at the URL the client used', async () => {
    running = await startSources([ordersFlow(async () => reply({ a: 1 }))]);
    const { request } = await import('undici');
    const res = await request(`${running.url}/erp/orders?wsdl`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    const text = await res.body.text();
    expect(text).toContain(`<soap:address location="${running.url}/erp/orders"/>`);
    expect(text).toContain(`<soap12:address location="${running.url}/erp/orders"/>`);
    expect(text).not.toContain('localhost:8080');

    const viaHost = await request(`${running.url}/erp/orders?WSDL`, { headers: { host: 'hub.example:9000' } });
    expect(await viaHost.body.text()).toContain('location="http://hub.example:9000/erp/orders"');

    const plain = await request(`${running.url}/erp/orders`);
    expect(plain.statusCode).toBe(404);
    await plain.body.dump();
  });

  it('behind a TLS-terminating proxy named in trust_proxy, soap:address takes X-Forwarded-Proto and X-Forwarded-Host; from anyone else, or unusable, they are ignored', async () => {
    const { request } = await import('undici');
    const wsdlVia = async (r: RunningSources, headers: Record<string, string>): Promise<string[]> => {
      const text = await (await request(`${r.url}/erp/orders?wsdl`, { headers })).body.text();
      return [...text.matchAll(/<soap(?:12)?:address location="([^"]*)"/g)].map((m) => m[1]!);
    };
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'soap.example.com' };
    running = await startSources([ordersFlow(async () => reply({ a: 1 }))], undefined, ['127.0.0.1']);
    expect(await wsdlVia(running, forwarded)).toEqual(['https://soap.example.com/erp/orders', 'https://soap.example.com/erp/orders']);
    // A chain of proxies: the last (nearest) one's values; a public port kept.
    expect(await wsdlVia(running, { 'x-forwarded-proto': 'http, https', 'x-forwarded-host': 'edge.example, soap.example.com:8443' })).toEqual(['https://soap.example.com:8443/erp/orders', 'https://soap.example.com:8443/erp/orders']);
    // What is not a scheme or a host is not written into the WSDL.
    const odd = await wsdlVia(running, { 'x-forwarded-proto': 'javascript', 'x-forwarded-host': 'evil.example/"><x' });
    expect(odd).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/erp\/orders$/), expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/erp\/orders$/)]);
    await running.close();
    // Without trust_proxy, a client's own X-Forwarded-* headers change nothing.
    running = await startSources([ordersFlow(async () => reply({ a: 1 }))]);
    expect(await wsdlVia(running, forwarded)).toEqual([`${running.url}/erp/orders`, `${running.url}/erp/orders`]);
  });
});

describe('SOAP source: WS-Security UsernameToken', () => {
  const USER = 'erp-client';
  const PASSWORD = 'correct horse battery staple';

  function token(o: { username?: string; password: string; type?: 'text' | 'digest'; created?: string; nonce?: Buffer }): string {
    const created = o.created ?? new Date().toISOString();
    const nonce = o.nonce ?? randomBytes(16);
    const password = o.type === 'digest' ? `<wsse:Password Type="${PASSWORD_DIGEST}">${passwordDigest(nonce, created, o.password)}</wsse:Password>` : `<wsse:Password>${o.password}</wsse:Password>`;
    return `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${WSSE_NS}" xmlns:wsu="${WSU_NS}"><wsse:UsernameToken><wsse:Username>${o.username ?? USER}</wsse:Username>${password}<wsse:Nonce>${nonce.toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`;
  }

  async function start(passwordType: 'text' | 'digest' | 'any'): Promise<{ delivered: () => number }> {
    let n = 0;
    running = await startSources([ordersFlow(async () => (n++, reply({ a: 1, b: 2 })), { ws_security: { username: USER, password: PASSWORD, password_type: passwordType, max_age: '5m' } })]);
    return { delivered: () => n };
  }

  const call = (header: string) => post(`${running!.url}/erp/orders`, soap11(PLACE_ORDER, header), XML_11);

  it('accepts a good PasswordText and refuses a bad one or none', async () => {
    const flow = await start('any');
    expect((await call(token({ password: PASSWORD }))).status).toBe(200);
    const bad = faultOf(await call(token({ password: 'wrong' })));
    expect(bad).toMatchObject({ faultCode: 'Client', hubCode: 'SECURITY_FAILED', reason: 'invalid username or password' });
    expect(faultOf(await call(token({ username: 'mallory', password: PASSWORD }))).hubCode).toBe('SECURITY_FAILED');
    expect(faultOf(await call('')).hubCode).toBe('SECURITY_FAILED');
    expect(flow.delivered()).toBe(1);
  });

  it('accepts a good PasswordDigest and refuses a bad password, a replayed nonce and a stale or future Created', async () => {
    const flow = await start('digest');
    const nonce = randomBytes(16);
    const created = new Date().toISOString();
    expect((await call(token({ password: PASSWORD, type: 'digest', nonce, created }))).status).toBe(200);
    const replay = faultOf(await call(token({ password: PASSWORD, type: 'digest', nonce, created })));
    expect(replay).toMatchObject({ faultCode: 'Client', hubCode: 'SECURITY_FAILED' });
    expect(replay.reason).toMatch(/already used/);
    expect(faultOf(await call(token({ password: 'wrong', type: 'digest' }))).reason).toBe('invalid username or password');
    const stale = faultOf(await call(token({ password: PASSWORD, type: 'digest', created: new Date(Date.now() - 6 * 60_000).toISOString() })));
    expect(stale.reason).toMatch(/time window/);
    expect(faultOf(await call(token({ password: PASSWORD, type: 'digest', created: new Date(Date.now() + 6 * 60_000).toISOString() }))).hubCode).toBe('SECURITY_FAILED');
    // password_type digest refuses PasswordText even when it is right.
    expect(faultOf(await call(token({ password: PASSWORD }))).reason).toMatch(/PasswordText is not accepted/);
    expect(flow.delivered()).toBe(1);
  });

  it('accepts the token the sink builds, in SOAP 1.2 too', async () => {
    const flow = await start('any');
    const header = buildSecurityHeader({ username: USER, password: PASSWORD, passwordType: 'digest', envelopePrefix: 'e' });
    const res = await post(`${running!.url}/erp/orders`, soap12(PLACE_ORDER, header), XML_12);
    expect(res.status).toBe(200);
    const bad = buildSecurityHeader({ username: USER, password: 'nope', passwordType: 'digest', envelopePrefix: 'e' });
    const f = parseFault(parseEnvelope((await post(`${running!.url}/erp/orders`, soap12(PLACE_ORDER, bad), XML_12)).text, { maxDepth: 16 }));
    expect(f).toMatchObject({ faultCode: 'Sender', subcodes: ['hub:SECURITY_FAILED'] });
    expect(flow.delivered()).toBe(1);
  });
});
