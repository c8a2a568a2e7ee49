/**
 * The SOAP adapter against an independent SOAP toolkit (the `soap` package), both ways:
 * (1) the sink calls the legacy ERP simulator, a `soap` server built from schemas/wsdl/legacy-erp.wsdl;
 * (2) a `soap` client built from the WSDL the source serves calls the source.
 */
import * as soap from 'soap';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapterContext, logger, startSources, type RunningSources } from '../adapters/soap/test-support.js';
import adapter from '../adapters/soap/index.js';
import type { SoapSinkConfig } from '../adapters/soap/config.js';
import { HubError, PermanentError, RetryableError } from '../src/core/errors.js';
import { Message } from '../src/core/message.js';
import type { Sink } from '../src/core/contracts.js';
import { parseXml } from '../src/core/codec.js';
import { startLegacyErp, type LegacyErp } from '../sim/legacy-erp.js';
import { sendContext } from '../src/runtime/testing.js';

const ERP_NS = 'urn:example:legacy-erp';
const meta = { flow: 'interop', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 };

describe('sink → legacy ERP (a `soap` package server)', () => {
  let erp: LegacyErp;
  let sinks: Sink[] = [];
  beforeAll(async () => {
    erp = await startLegacyErp({ port: 0, credentials: { username: 'hub', password: 'erp-pass' } });
  });
  afterEach(async () => {
    for (const s of sinks) await s.stop();
    sinks = [];
  });
  afterAll(async () => {
    await erp.close();
  });

  async function sink(operation: string, extra: Partial<SoapSinkConfig> = {}): Promise<Sink> {
    const ctx = adapterContext('interop');
    const s = adapter.sink!.create({ url: erp.url, operation, soap_action: `${ERP_NS}/${operation}`, namespace: ERP_NS, ws_security: { username: 'hub', password: 'erp-pass', password_type: 'digest' }, ...extra }, ctx);
    expect(ctx.issues).toEqual([]);
    await s.start();
    sinks.push(s);
    return s;
  }

  const send = (s: Sink, value: unknown) => s.send(new Message({ value, headers: { 'correlation-id': 'corr-erp' }, meta }), sendContext('interop', logger));
  const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as HubError);
  const order = (customerId: string, qty = 2) => ({ customerId, lines: [{ sku: 'SKU-1', qty, price: 12.5 }, { sku: 'SKU-2', qty: 1, price: 5 }] });

  it('places an order and reads its status back (PasswordDigest)', async () => {
    const placed = await send(await sink('PlaceOrder'), order('C-100'));
    expect(placed!.contentType).toBe('application/xml');
    expect(placed!.headers['correlation-id']).toBe('corr-erp');
    const tree = parseXml(placed!.body, {}, { stripNamespaces: true }) as { PlaceOrderResponse: { orderId: string; status: string; total: string } };
    expect(tree.PlaceOrderResponse).toMatchObject({ status: 'ACCEPTED', total: '30' });
    expect(erp.orders.get(tree.PlaceOrderResponse.orderId)?.customerId).toBe('C-100');

    // The XML body goes as it is: a GetOrderStatus element written by hand.
    const status = await (await sink('GetOrderStatus')).send(
      new Message({ body: `<e:GetOrderStatus xmlns:e="${ERP_NS}"><e:orderId>${tree.PlaceOrderResponse.orderId}</e:orderId></e:GetOrderStatus>`, headers: { 'content-type': 'application/xml' }, meta }),
      sendContext('interop', logger),
    );
    expect(status!.text()).toContain('<status>ACCEPTED</status>');
  });

  it('submits a large order for approval (PasswordText)', async () => {
    const s = await sink('SubmitOrderForApproval', { ws_security: { username: 'hub', password: 'erp-pass', password_type: 'text' } });
    const reply = await send(s, order('ACME', 1000));
    expect(reply!.text()).toContain('<status>PENDING_APPROVAL</status>');
  });

  it('turns a Client fault into a permanent SOAP_FAULT_CLIENT with code, reason and detail', async () => {
    const err = await failure(send(await sink('PlaceOrder'), order('NOBODY')));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('SOAP_FAULT_CLIENT');
    expect(err.details).toMatchObject({ faultCode: 'Client', reason: 'unknown customer "NOBODY"', httpStatus: 500 });
    expect((err.details as { detail: string }).detail).toContain('<code>UNKNOWN_CUSTOMER</code>');

    const qty = await failure(send(await sink('PlaceOrder'), order('C-100', 0)));
    expect(qty.code).toBe('SOAP_FAULT_CLIENT');
    expect((qty.details as { detail: string }).detail).toContain('BAD_LINE');
  });

  it('turns a Server fault into a retryable SOAP_FAULT_SERVER', async () => {
    const err = await failure(send(await sink('PlaceOrder'), order('BROKEN')));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('SOAP_FAULT_SERVER');
    expect(err.details).toMatchObject({ faultCode: 'Server' });
  });

  it('is refused with a Client fault when its password is wrong', async () => {
    const err = await failure(send(await sink('PlaceOrder', { ws_security: { username: 'hub', password: 'nope', password_type: 'digest' } }), order('C-100')));
    expect(err.code).toBe('SOAP_FAULT_CLIENT');
    expect((err.details as { detail: string }).detail).toContain('AUTHENTICATION_FAILED');
  });
});

describe('`soap` package client → source (served WSDL)', () => {
  let running: RunningSources;
  const received: Message[] = [];

  beforeAll(async () => {
    running = await startSources([
      {
        flow: 'orders-in',
        config: { path: '/erp/orders', wsdl: '../schemas/wsdl/orders.wsdl', operations: ['PlaceOrder', 'GetOrderStatus'], ws_security: { username: 'partner', password: 'p4ss', password_type: 'any' } },
        deliver: async (m) => {
          received.push(m);
          const tree = parseXml(m.body, {}, { stripNamespaces: true }) as { PlaceOrder?: { customerId: string; lines: { qty: string; price: string }[] | { qty: string; price: string } } };
          const order = tree.PlaceOrder;
          if (!order) throw new PermanentError('VALIDATION_FAILED', 'not a PlaceOrder');
          if (order.customerId === 'BAD') throw new PermanentError('VALIDATION_FAILED', 'customer BAD is blocked');
          if (order.customerId === 'DOWN') throw new RetryableError('DOWNSTREAM_UNAVAILABLE', 'the ERP is down');
          const lines = Array.isArray(order.lines) ? order.lines : [order.lines];
          const total = lines.reduce((s, l) => s + Number(l.qty) * Number(l.price), 0);
          return { replies: [new Message({ value: { PlaceOrderResponse: { orderId: `HUB-${received.length}`, status: 'ACCEPTED', total } }, meta })] };
        },
      },
    ]);
  });
  afterAll(async () => {
    await running.close();
  });

  async function client(options: soap.IOptions = {}, password = 'p4ss', passwordType = 'PasswordDigest'): Promise<soap.Client> {
    const c = await soap.createClientAsync(`${running.url}/erp/orders?wsdl`, options);
    c.setSecurity(new soap.WSSecurity('partner', password, { passwordType }));
    return c;
  }

  const ORDER = { customerId: 'C-100', lines: [{ sku: 'A', qty: 2, price: 3.5 }, { sku: 'B', qty: 1, price: 1 }] };

  it('a SOAP 1.1 client calls PlaceOrder at the address the served WSDL gives', async () => {
    const c = await client();
    const [result] = await c.PlaceOrderAsync(ORDER);
    expect(result).toMatchObject({ status: 'ACCEPTED', total: 8 });
    expect(String(result.orderId)).toMatch(/^HUB-/);
    const m = received.at(-1)!;
    expect(m.meta).toMatchObject({ operation: 'PlaceOrder', soapVersion: '1.1' });
    expect(m.headers['soap-action']).toBe('urn:example:orders/PlaceOrder');
  });

  it('a SOAP 1.2 client works too, with PasswordText', async () => {
    const c = await client({ forceSoap12Headers: true }, 'p4ss', 'PasswordText');
    const [result] = await c.PlaceOrderAsync(ORDER);
    expect(result).toMatchObject({ status: 'ACCEPTED', total: 8 });
    expect(received.at(-1)!.meta.soapVersion).toBe('1.2');
  });

  it('gets a permanent flow error as a Client fault the `soap` client raises', async () => {
    const c = await client();
    const err = await c.PlaceOrderAsync({ ...ORDER, customerId: 'BAD' }).then(
      () => undefined,
      (e: { root?: any; response?: { status: number } }) => e,
    );
    expect(err?.response?.status).toBe(500);
    const fault = err!.root.Envelope.Body.Fault;
    expect(fault.faultcode).toBe('soap:Client');
    expect(fault.faultstring).toBe('customer BAD is blocked');
    expect(JSON.stringify(fault.detail)).toContain('VALIDATION_FAILED');
  });

  it('gets a retryable flow error as a Receiver fault over SOAP 1.2', async () => {
    const c = await client({ forceSoap12Headers: true });
    const err = await c.PlaceOrderAsync({ ...ORDER, customerId: 'DOWN' }).then(
      () => undefined,
      (e: { root?: any; message: string }) => e,
    );
    expect(err?.message).toMatch(/soap:Receiver/);
    // A server-side error's message stays in the hub's log: the caller gets the title and the message id.
    expect(err!.root.Envelope.Body.Fault.Reason.Text.$value).toMatch(/^Downstream unavailable\. Quote message id [0-9A-Z]{26} when reporting it\.$/);
  });

  it('gets a bad password as a Client fault', async () => {
    const c = await client({}, 'wrong');
    const err = await c.PlaceOrderAsync(ORDER).then(
      () => undefined,
      (e: { root?: any }) => e,
    );
    expect(err!.root.Envelope.Body.Fault.faultcode).toBe('soap:Client');
    expect(JSON.stringify(err!.root.Envelope.Body.Fault.detail)).toContain('SECURITY_FAILED');
  });
});
