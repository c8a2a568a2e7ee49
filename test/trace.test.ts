/**
 * One trace across protocols: the broker example (flows/brokers/) in real hub processes (one hub, or one process
 * per flow) that export their spans over OTLP/HTTP to a receiver this test runs. A SOAP request arrives with a W3C traceparent, a B3 header and an
 * x-request-id; the same trace id must be in the Kafka record's headers, the AMQP message's headers and the
 * traceparent the final REST service receives, each hop naming the hub's sink span as its parent; and the exported
 * spans must be the flow, step and sink spans of that trace, each parented as the hops say.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Recorder } from './support/recorder.js';
import { startHub, type HubProcess } from './support/processes.js';

const id = randomUUID().slice(0, 8);
const AMQP_URL = process.env.AMQP_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string } }[];
}
/** OTLP's SpanKind numbers. */
const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };

/** A loopback OTLP/HTTP receiver: keeps the spans of every JSON export request. */
class OtlpReceiver {
  readonly spans: (OtlpSpan & { service: string })[] = [];
  requests = 0;
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json')) {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
          };
          for (const rs of body.resourceSpans) {
            const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
            for (const ss of rs.scopeSpans) for (const span of ss.spans) this.spans.push({ ...span, service });
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

const FLOWS = ['erp-orders-to-kafka', 'kafka-orders-to-regions', 'fulfilment'] as const;

/**
 * The broker example's three flows in one hub (`hub` mode: service.name "hub") or each in its own `hub run --flow`
 * process (`flow` mode: service.name is the flow), with the test's own Kafka consumer group and AMQP queue beside
 * the flows' own, a REST service and an OTLP receiver.
 */
function scenario(mode: 'hub' | 'flow'): { hubs: HubProcess[]; soapUrl: () => string; fulfilment: Recorder; otlp: OtlpReceiver; kafkaRecords: Record<string, string>[]; amqpMessages: Record<string, unknown>[] } {
  const names = { topic: `trace.${mode}.orders.placed.${id}`, exchange: `trace.${mode}.orders.by-region.${id}` };
  const state = { hubs: [] as HubProcess[], soapUrl: () => state.hubs[0]!.url, fulfilment: new Recorder(), otlp: new OtlpReceiver(), kafkaRecords: [] as Record<string, string>[], amqpMessages: [] as Record<string, unknown>[] };
  let consumer: Consumer | undefined;
  let amqpConnection: amqp.ChannelModel | undefined;

  beforeAll(async () => {
    const brokers = inject('kafkaBrokers');
    if (!brokers) throw new Error(`no Kafka broker for the test run: ${inject('kafkaError') ?? 'unknown reason'}`);
    const kafka = new Kafka({ brokers: [brokers], clientId: 'trace-test', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: names.topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    // The test reads the topic as a second consumer group: the hub's own consumer gets every record too.
    consumer = kafka.consumer({ groupId: `trace-test.${mode}.${id}` });
    await consumer.connect();
    await consumer.subscribe({ topic: names.topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void state.kafkaRecords.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))) });
    await state.fulfilment.start();
    state.fulfilment.status = 202;
    await state.otlp.start();
    const env = {
      KAFKA_BROKERS: brokers,
      AMQP_URL,
      ORDER_EVENTS_TOPIC: names.topic,
      REGION_ROUTER_GROUP: `trace.${mode}.router.${id}`,
      REGION_EXCHANGE: names.exchange,
      FULFILMENT_QUEUE: `trace.${mode}.fulfilment.${id}`,
      FULFILMENT_URL: `${state.fulfilment.url}/fulfilments`,
      OTEL_EXPORTER_OTLP_ENDPOINT: state.otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    const runs = mode === 'hub' ? [['--flows', 'flows/brokers']] : FLOWS.map((f) => ['--flows', 'flows/brokers', '--flow', f]);
    state.hubs.push(...(await Promise.all(runs.map((args) => startHub(args, { env, readyTimeoutMs: 60_000 })))));
    // Ready means the flows' exchange exists: a queue of the test's own is bound beside the fulfilment queue.
    amqpConnection = await amqp.connect(AMQP_URL);
    const channel = await amqpConnection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, names.exchange, 'orders.*');
    await channel.consume(queue, (m) => void (m && state.amqpMessages.push(m.properties.headers ?? {})), { noAck: true });
    await consumer.describeGroup(); // joined before anything is sent
  }, 120_000);

  afterAll(async () => {
    await Promise.all(state.hubs.map((h) => h.stop()));
    await consumer?.disconnect().catch(() => {});
    await amqpConnection?.close().catch(() => {});
    await state.fulfilment.close();
    await state.otlp.close();
  });
  return state;
}

async function until<T>(what: () => T | undefined, ms: number, label: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(50);
  }
}

/** traceparent: version-traceid-parentid-flags. */
function parseTraceparent(value: unknown): { traceId: string; spanId: string; flags: string } {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(value));
  if (!m) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: m[1]!, spanId: m[2]!, flags: m[3]! };
}

describe.each(['hub', 'flow'] as const)('one trace: SOAP → Kafka → RabbitMQ → REST, in %s mode', (mode) => {
  const { hubs, soapUrl, fulfilment, otlp, kafkaRecords, amqpMessages } = scenario(mode);
  it('carries the trace id through every hop, each hop parented on the hub\'s sink span, and exports the flow, step and sink spans of it', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const requestId = `req-${id}`;
    const orderId = `T-${id}`;
    const xml = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="urn:example:order-events"><soap:Body>
      <o:SubmitOrder><o:OrderId>${orderId}</o:OrderId><o:CustomerId>C-1</o:CustomerId><o:Region>EU</o:Region>
        <o:Line><o:Sku>A-1</o:Sku><o:Qty>1</o:Qty><o:Price>5</o:Price></o:Line></o:SubmitOrder></soap:Body></soap:Envelope>`;
    const res = await request(`${soapUrl()}/soap/erp/orders`, {
      method: 'POST',
      headers: {
        'content-type': 'text/xml; charset=utf-8',
        soapaction: '"urn:example:order-events/SubmitOrder"',
        traceparent: `00-${traceId}-${callerSpan}-01`,
        tracestate: 'erp=legacy',
        b3: `${traceId}-${callerSpan}-1`,
        'x-request-id': requestId,
      },
      body: xml,
    });
    expect(res.statusCode, await res.body.text()).toBe(200);

    const [delivered] = await fulfilment.waitFor(1, 60_000);
    const kafka = await until(() => kafkaRecords.find((h) => String(h.traceparent).includes(traceId)), 30_000, 'the Kafka record');
    const rabbit = await until(() => amqpMessages.find((h) => String(h.traceparent).includes(traceId)), 30_000, 'the AMQP message');

    // Each hop: the same trace, the hub's span as the parent (never the caller's span passed on), sampled.
    const hops = { kafka: kafka, amqp: rabbit, rest: delivered!.headers as Record<string, unknown> };
    const parents: Record<string, string> = {};
    for (const [hop, headers] of Object.entries(hops)) {
      const tp = parseTraceparent(headers.traceparent);
      expect(tp.traceId, hop).toBe(traceId);
      expect(tp.spanId, hop).not.toBe(callerSpan);
      expect(tp.flags, hop).toBe('01');
      expect(headers.tracestate, hop).toBe('erp=legacy');
      expect(String(headers.b3), hop).toBe(`${traceId}-${tp.spanId}-1`);
      expect(headers['x-request-id'], hop).toBe(requestId);
      parents[hop] = tp.spanId;
    }
    expect(new Set(Object.values(parents)).size).toBe(3);

    // SIGTERM flushes the batch span processor: every span of the trace is exported by the time the hub exits.
    expect(await Promise.all(hubs.map((h) => h.stop()))).toEqual(hubs.map(() => 0));
    const spans = otlp.spans.filter((s) => s.traceId === traceId);
    const attr = (s: OtlpSpan, key: string): string | undefined => s.attributes?.find((a) => a.key === key)?.value.stringValue;
    const byName = (flow: string, name: string): OtlpSpan => {
      const found = spans.filter((s) => s.name === name && attr(s, 'hub.flow') === flow);
      expect(found, `spans named "${name}" of flow ${flow} in ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
      return found[0]!;
    };
    const childOf = (name: string, parent: OtlpSpan, kind: number): OtlpSpan => {
      const span = byName(attr(parent, 'hub.flow')!, name);
      expect({ parent: span.parentSpanId, kind: span.kind }, name).toEqual({ parent: parent.spanId, kind });
      return span;
    };

    const erp = byName('erp-orders-to-kafka', 'flow erp-orders-to-kafka');
    expect({ parent: erp.parentSpanId, kind: erp.kind }).toEqual({ parent: callerSpan, kind: KIND.SERVER });
    for (const step of ['0:xml_to_json', '1:transform', '2:validate']) childOf(`step ${step}`, erp, KIND.INTERNAL);
    const toKafka = childOf('sink order-events', childOf('step 3:to', erp, KIND.INTERNAL), KIND.PRODUCER);
    expect(toKafka.spanId).toBe(parents.kafka);

    const router = byName('kafka-orders-to-regions', 'flow kafka-orders-to-regions');
    expect({ parent: router.parentSpanId, kind: router.kind }).toEqual({ parent: parents.kafka, kind: KIND.CONSUMER });
    childOf('step 0:validate', router, KIND.INTERNAL);
    const toRabbit = childOf('sink by-region', childOf('step 1:to', router, KIND.INTERNAL), KIND.PRODUCER);
    expect(toRabbit.spanId).toBe(parents.amqp);

    const fulfil = byName('fulfilment', 'flow fulfilment');
    expect({ parent: fulfil.parentSpanId, kind: fulfil.kind }).toEqual({ parent: parents.amqp, kind: KIND.CONSUMER });
    childOf('step 0:transform', fulfil, KIND.INTERNAL);
    const toRest = childOf('sink fulfilment-api', childOf('step 1:to', fulfil, KIND.INTERNAL), KIND.CLIENT);
    expect(toRest.spanId).toBe(parents.rest);

    expect(spans).toHaveLength(14);
    for (const flow of FLOWS) expect(new Set(spans.filter((s) => attr(s, 'hub.flow') === flow).map((s) => s.service)), flow).toEqual(new Set([mode === 'hub' ? 'hub' : flow]));
    expect(attr(toKafka, 'hub.sink.adapter')).toBe('kafka');
  }, 150_000);
});
