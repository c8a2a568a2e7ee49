/**
 * The README's walkthrough, for real: the legacy ERP (SOAP, the `soap` package) and the shipping API (REST), the
 * example flows, and the requests a new user sends. The same cases run in both modes: the hub as one process with
 * every flow, and each flow as its own service (`hub run --flow`), each request sent to the service of its flow.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as soap from 'soap';
import { startLegacyErp, type LegacyErp } from '../sim/legacy-erp.js';
import { startShippingApi } from '../sim/shipping-api.js';
import { deploy, expectFlowService, expectNotServed, RUN_MODES, type Deployment } from './support/modes.js';

const FLOWS = ['orders-api', 'order-status-api', 'shipping-quote-soap'];
let erp: LegacyErp;
let shipping: Awaited<ReturnType<typeof startShippingApi>>;

beforeAll(async () => {
  erp = await startLegacyErp({ port: 0 });
  shipping = await startShippingApi({ port: 0 });
});

afterAll(async () => {
  await erp?.close();
  await shipping?.close();
});

const SHIPPING_SOAP = (weight: string) =>
  `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="urn:example:shipping"><soap:Body><s:GetShippingQuote><s:WeightKg>${weight}</s:WeightKg><s:FromCountry>DE</s:FromCountry><s:ToCountry>FR</s:ToCountry></s:GetShippingQuote></soap:Body></soap:Envelope>`;

describe.each(RUN_MODES)('in %s mode', (mode) => {
  let svc: Deployment;

  beforeAll(async () => {
    svc = await deploy(mode, FLOWS, [], { env: { LEGACY_ERP_URL: erp.url, SHIPPING_API_URL: shipping.url } });
  }, 90_000);

  afterAll(async () => {
    await svc?.stop();
  });

  async function postJson(path: string, body: string, contentType = 'application/json') {
    const res = await request(`${svc.url('orders-api')}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
  }

  it('each hub prints how to log in: a one-time console link (what `npm run demo` shows), the token for the CLI', async () => {
    for (const p of svc.all()) {
      const link = /console: open (http:\/\/\S+\/admin\/login\?code=\S+)/.exec(p.logs())?.[1];
      expect(link, p.logs().slice(0, 2000)).toBeDefined();
      const opened = await request(link!, { method: 'GET' });
      expect(opened.statusCode).toBe(303);
      await opened.body.dump();
      expect(p.logs()).toContain(`HUB_ADMIN_TOKEN=${p.adminToken()}`);
    }
  });

  describe('the demo flows', () => {
    it('places a small order in the ERP over SOAP and answers the REST caller in JSON', async () => {
      const res = await postJson('/api/orders', JSON.stringify({ customerId: 'C-100', lines: [{ sku: 'A-1', qty: 2, price: 19.5 }] }));
      expect(res.status).toBe(201);
      const body = res.json();
      expect(body).toEqual({ orderId: expect.stringMatching(/^ERP-\d+$/), status: 'ACCEPTED', total: 39, approvalRequired: false });
      expect(erp.orders.get(body.orderId as string)).toMatchObject({ customerId: 'C-100', status: 'ACCEPTED', lines: [{ sku: 'A-1', qty: 2, price: 19.5 }] });
      expect(res.headers['x-correlation-id']).toBe(res.headers['x-message-id']);
    });

    it('routes a large order to the approval operation by its content', async () => {
      const res = await postJson('/api/orders', JSON.stringify({ customerId: 'C-200', lines: [{ sku: 'B-2', qty: 1000, price: 12.5 }] }), 'application/json; charset=utf-8');
      expect(res.status).toBe(201);
      expect(res.json()).toMatchObject({ status: 'PENDING_APPROVAL', total: 12500, approvalRequired: true });
    });

    it('keeps the caller correlation id', async () => {
      const res = await request(`${svc.url('orders-api')}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-correlation-id': 'corr-42' }, body: JSON.stringify({ customerId: 'C-100', lines: [{ sku: 'A', qty: 1, price: 1 }] }) });
      await res.body.text();
      expect(res.headers['x-correlation-id']).toBe('corr-42');
    });

    it('answers an order status query from the ERP', async () => {
      const placed = (await postJson('/api/orders', JSON.stringify({ customerId: 'ACME', lines: [{ sku: 'C', qty: 3, price: 2 }] }))).json();
      const res = await request(`${svc.url('order-status-api')}/api/orders/${placed.orderId as string}`);
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ orderId: placed.orderId, status: 'ACCEPTED', total: 6 });
    });

    it('refuses an invalid order with 422 problem+json naming the schema errors, and the ERP never sees it', async () => {
      const before = erp.orders.size;
      const res = await postJson('/api/orders', JSON.stringify({ customerId: 'C-100', lines: [] }));
      expect(res.status).toBe(422);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 422, errors: [expect.objectContaining({ path: '/lines' })] });
      expect(erp.orders.size).toBe(before);
    });

    it('turns an ERP Client fault into a permanent 502 problem', async () => {
      const res = await postJson('/api/orders', JSON.stringify({ customerId: 'NOBODY', lines: [{ sku: 'A', qty: 1, price: 1 }] }));
      expect(res.status).toBe(502);
      expect(res.json()).toMatchObject({ code: 'SOAP_FAULT_CLIENT' });
    });

    it('gives legacy SOAP clients a quote from the REST shipping API, and serves the WSDL', async () => {
      const res = await request(`${svc.url('shipping-quote-soap')}/soap/shipping`, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '"urn:example:shipping/GetShippingQuote"' }, body: SHIPPING_SOAP('2.5') });
      const xml = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(xml).toContain('<GetShippingQuoteResponse xmlns="urn:example:shipping"><Carrier>EUROPOST</Carrier><Amount>12.5</Amount><Currency>EUR</Currency><Days>2</Days></GetShippingQuoteResponse>');
      const wsdl = await (await request(`${svc.url('shipping-quote-soap')}/soap/shipping?wsdl`)).body.text();
      expect(wsdl).toContain(`location="${svc.url('shipping-quote-soap')}/soap/shipping"`);
    });

    it('works with a client the soap package builds from the served WSDL', async () => {
      const client = await soap.createClientAsync(`${svc.url('shipping-quote-soap')}/soap/shipping?wsdl`);
      client.setEndpoint(`${svc.url('shipping-quote-soap')}/soap/shipping`);
      const [result] = (await client.GetShippingQuoteAsync({ WeightKg: 12, FromCountry: 'DE', ToCountry: 'DE' })) as [Record<string, unknown>];
      expect(result).toMatchObject({ Carrier: 'LOCALPOST', Currency: 'EUR' });
      await expect(client.GetShippingQuoteAsync({ WeightKg: -1, FromCountry: 'DE', ToCountry: 'DE' })).rejects.toMatchObject({ root: { Envelope: { Body: { Fault: { faultcode: 'soap:Client' } } } } });
    });
  });

  describe('bad input over real HTTP: a clear 4xx or Fault, and the hub goes on serving', () => {
    const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const cases: [string, string, string, number, string][] = [
      ['malformed JSON', '/api/orders', '{"customerId":', 400, 'BAD_JSON'],
      ['deeply nested JSON', '/api/orders', deep(5000), 400, 'TOO_DEEP'],
      ['a __proto__ key', '/api/orders', '{"customerId":"C-100","__proto__":{"admin":true},"lines":[]}', 400, 'FORBIDDEN_KEY'],
      ['a constructor key', '/api/orders', '{"customerId":"C-100","constructor":{"prototype":{"x":1}},"lines":[]}', 400, 'FORBIDDEN_KEY'],
    ];
    it.each(cases)('%s → %i %s', async (_name, path, body, status, code) => {
      const res = await postJson(path, body);
      expect(res.status).toBe(status);
      expect(res.json()).toMatchObject({ code });
    });

    it('a body over the size limit → 413 problem', async () => {
      const res = await postJson('/api/orders', JSON.stringify({ customerId: 'C-100', pad: 'x'.repeat(2 * 1024 * 1024), lines: [] }));
      expect(res.status).toBe(413);
      expect(res.json()).toMatchObject({ code: 'BODY_TOO_LARGE' });
    });

    it('a wrong content type → 415 problem', async () => {
      const res = await postJson('/api/orders', '<order/>', 'application/xml');
      expect(res.status).toBe(415);
    });

    const soapCases: [string, string, Record<string, string>, string][] = [
      ['malformed XML', '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><a></soap:Body>', {}, 'soap:Client'],
      ['an envelope without a Body', '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>', {}, 'soap:Client'],
      ['billion laughs', '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&b;</soap:Body></soap:Envelope>', {}, 'soap:Client'],
      ['an external entity', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&e;</soap:Body></soap:Envelope>', {}, 'soap:Client'],
      ['deeply nested XML', `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${'<a>'.repeat(3000)}${'</a>'.repeat(3000)}</soap:Body></soap:Envelope>`, {}, 'soap:Client'],
      ['a __proto__ element', '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetShippingQuote xmlns="urn:example:shipping"><__proto__><x>1</x></__proto__></GetShippingQuote></soap:Body></soap:Envelope>', {}, 'soap:Client'],
      ['a SOAP 1.2 envelope with the 1.1 content type', '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><GetShippingQuote xmlns="urn:example:shipping"/></env:Body></env:Envelope>', {}, 'VersionMismatch'],
    ];
    it.each(soapCases)('SOAP: %s → a Fault', async (_name, body, headers, faultCode) => {
      const res = await request(`${svc.url('shipping-quote-soap')}/soap/shipping`, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', ...headers }, body });
      const xml = await res.body.text();
      expect(res.statusCode).toBe(500);
      expect(xml).toMatch(/<(soap|env):Fault>/);
      expect(xml).toContain(faultCode);
    });

    it('still serves after all of that', async () => {
      const res = await postJson('/api/orders', JSON.stringify({ customerId: 'C-300', lines: [{ sku: 'Z', qty: 1, price: 5 }] }));
      expect(res.status).toBe(201);
      for (const p of svc.all()) {
        expect((await request(`${p.url}/healthz`)).statusCode).toBe(200);
        expect(p.child.exitCode).toBeNull();
      }
    });
  });

  describe.runIf(mode === 'flow')('each flow as its own service', () => {
    it('serves /healthz, its own readiness and (when built) /metrics, each on a port of its own', async () => {
      expect(new Set(FLOWS.map((f) => svc.url(f))).size).toBe(FLOWS.length);
      for (const f of FLOWS) await expectFlowService(svc, f);
    });

    it('answers another flow\'s routes with 404 problem+json', async () => {
      await expectNotServed(svc, 'shipping-quote-soap', 'POST', '/api/orders');
      await expectNotServed(svc, 'orders-api', 'GET', '/api/orders/ERP-1');
      await expectNotServed(svc, 'order-status-api', 'POST', '/soap/shipping');
    });
  });
});
