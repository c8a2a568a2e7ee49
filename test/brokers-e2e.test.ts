/**
 * The broker story end to end, with the example flows in flows/brokers/, in one real hub process and again with
 * each flow as its own service (`hub run --flow`, one process per flow): orders the ERP
 * submits over SOAP become Kafka events (keyed by region), are published to RabbitMQ by region, and reach the
 * fulfilment REST service, which fails now and then. Checked: exactly the expected orders arrive, in order per
 * region, each with one correlation id from the SOAP request to the REST call.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Recorder } from './support/recorder.js';
import { deploy, expectFlowService, expectNotServed, RUN_MODES, type Deployment } from './support/modes.js';

const REGIONS = ['EU', 'US', 'APAC'] as const;
const FLOWS = ['erp-orders-to-kafka', 'kafka-orders-to-regions', 'fulfilment'];

describe.each(RUN_MODES)('in %s mode', (mode) => {
  // Each mode has its own topic, consumer group, exchange, queue and fulfilment service: the two runs never meet.
  const id = `${randomUUID().slice(0, 8)}-${mode}`;
  let svc: Deployment;
  const fulfilment = new Recorder();

  beforeAll(async () => {
    const brokers = inject('kafkaBrokers');
    if (!brokers) throw new Error(`no Kafka broker for the test run: ${inject('kafkaError') ?? 'unknown reason'}`);
    const admin = new Kafka({ brokers: [brokers], clientId: 'e2e-admin', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: `e2e.orders.placed.${id}`, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await fulfilment.start();
    // The fulfilment service is flaky: every fifth call fails with 503 (the hub retries it).
    let calls = 0;
    fulfilment.status = () => (++calls % 5 === 0 ? 503 : 202);
    svc = await deploy(mode, FLOWS, ['--flows', 'flows/brokers'], {
      env: {
        KAFKA_BROKERS: brokers,
        AMQP_URL: process.env.AMQP_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
        ORDER_EVENTS_TOPIC: `e2e.orders.placed.${id}`,
        REGION_ROUTER_GROUP: `e2e.router.${id}`,
        REGION_EXCHANGE: `e2e.orders.by-region.${id}`,
        FULFILMENT_QUEUE: `e2e.fulfilment.${id}`,
        FULFILMENT_URL: `${fulfilment.url}/fulfilments`,
      },
      readyTimeoutMs: 60_000,
    });
  }, 120_000);

  afterAll(async () => {
    await svc?.stop();
    await fulfilment.close();
  });

  function submitOrder(orderId: string, region: string, correlationId: string): Promise<{ status: number; body: string }> {
    const xml = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="urn:example:order-events"><soap:Body>
      <o:SubmitOrder><o:OrderId>${orderId}</o:OrderId><o:CustomerId>C-100</o:CustomerId><o:Region>${region}</o:Region>
        <o:Line><o:Sku>A-1</o:Sku><o:Qty>2</o:Qty><o:Price>9.5</o:Price></o:Line><o:Line><o:Sku>B-2</o:Sku><o:Qty>1</o:Qty><o:Price>1</o:Price></o:Line>
      </o:SubmitOrder></soap:Body></soap:Envelope>`;
    return request(`${svc.url('erp-orders-to-kafka')}/soap/erp/orders`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '"urn:example:order-events/SubmitOrder"', 'x-correlation-id': correlationId },
      body: xml,
    }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  }

  describe('SOAP → Kafka → RabbitMQ by region → REST', () => {
    it('delivers exactly the expected orders, in order per region, each with one correlation id end to end', async () => {
      const sent: { orderId: string; region: string; correlationId: string }[] = [];
      for (let i = 0; i < 30; i++) {
        const region = REGIONS[i % 3]!;
        const order = { orderId: `O-${id}-${String(i).padStart(3, '0')}`, region, correlationId: `corr-${id}-${i}` };
        const res = await submitOrder(order.orderId, region, order.correlationId);
        expect(res.status, res.body).toBe(200);
        expect(res.body).toContain(`<OrderId>${order.orderId}</OrderId><Status>PUBLISHED</Status>`);
        sent.push(order);
      }

      const received = await fulfilment.waitFor(30, 90_000);
      await new Promise((r) => setTimeout(r, 1000)); // anything extra would show up now
      const bodies = fulfilment.received.map((r) => ({ ...(JSON.parse(r.body) as { orderId: string; region: string; total: number; warehouse: string }), correlationId: r.headers['correlation-id'] }));
      expect(received).toHaveLength(30);
      expect(new Set(bodies.map((b) => b.orderId))).toEqual(new Set(sent.map((s) => s.orderId)));
      for (const region of REGIONS) {
        const r = region.toLowerCase();
        expect(bodies.filter((b) => b.region === r).map((b) => b.orderId), `order of ${region}`).toEqual(sent.filter((s) => s.region === region).map((s) => s.orderId));
      }
      for (const b of bodies) {
        const s = sent.find((x) => x.orderId === b.orderId)!;
        expect(b.correlationId, b.orderId).toBe(s.correlationId);
        expect(b).toMatchObject({ total: 20, warehouse: `${b.region}-1` });
      }
    }, 150_000);

    it('answers an invalid order with a SOAP Client fault, and nothing reaches Kafka', async () => {
      const before = fulfilment.received.length;
      const res = await submitOrder(`O-${id}-bad`, 'MARS', `corr-${id}-bad`);
      expect(res.status).toBe(500);
      expect(res.body).toContain('soap:Client');
      expect(res.body).toContain('VALIDATION_FAILED');
      await new Promise((r) => setTimeout(r, 1500));
      expect(fulfilment.received.length).toBe(before);
    });
  });

  describe.runIf(mode === 'flow')('each flow as its own service', () => {
    it('serves /healthz, its own readiness and (when built) /metrics; only the SOAP flow serves the SOAP route', async () => {
      for (const f of FLOWS) await expectFlowService(svc, f);
      await expectNotServed(svc, 'fulfilment', 'POST', '/soap/erp/orders');
      await expectNotServed(svc, 'kafka-orders-to-regions', 'POST', '/soap/erp/orders');
    });
  });
});
