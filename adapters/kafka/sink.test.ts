import { performance } from 'node:perf_hooks';
import { Kafka, type Producer, type ProducerBatch } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SendContext } from '../../src/core/contracts.js';
import { HubError, hubError, type ConfigIssue } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import kafkaAdapter from './index.js';
import type { KafkaSinkConfig } from './config.js';
import type { KafkaSink } from './sink.js';
import type { KafkaSource } from './source.js';
import { adapterCtx, LateBroker, logger, startSink, startSource, TestKafka, unique, waitFor } from './test-support.js';
import { sendContext } from '../../src/runtime/testing.js';

const brokers = inject('kafkaBrokers');
if (!brokers) throw new Error(inject('kafkaError') || 'no Kafka broker for the tests');
const BROKERS = brokers.split(',');

let kafka: TestKafka;
const sinks: KafkaSink[] = [];
const sources: KafkaSource[] = [];
beforeAll(() => {
  kafka = new TestKafka(BROKERS);
});
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await Promise.all(sinks.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await kafka.close();
});

async function sink(config: Partial<KafkaSinkConfig> & { topic: string }): Promise<KafkaSink> {
  const s = await startSink({ brokers: BROKERS, ...config });
  sinks.push(s);
  await waitFor('the sink to connect', () => s.ready());
  return s;
}

function sendCtx(signal: AbortSignal = new AbortController().signal): SendContext {
  return sendContext('kafka-test', logger, signal);
}

const meta = { flow: 'kafka-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 };
const TRACE = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'rojo=00f067aa0ba902b7',
  b3: '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
  'x-request-id': 'req-42',
  'correlation-id': 'corr-9',
};

async function failure(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected the send to fail');
}

describe('kafka sink', () => {
  it('writes the record with templated topic, key and headers, the propagated headers, message id and content type', async () => {
    const base = unique('sink-tpl');
    const topic = await kafka.createTopic(`${base}.eu`);
    const s = await sink({ topic: `${base}.{{ $lowercase(region) }}`, key: '{{ orderId }}', headers: { 'x-tenant': '{{ tenant }}', 'x-fixed': 'yes' } });
    const message = new Message({ value: { orderId: 'O-7', region: 'EU', tenant: 'acme' }, headers: { ...TRACE, 'x-internal': 'stays' }, meta });
    await expect(s.send(message, sendCtx())).resolves.toBeUndefined();
    const [record] = await kafka.read(topic, 1);
    expect(record).toMatchObject({ key: 'O-7', value: '{"orderId":"O-7","region":"EU","tenant":"acme"}' });
    // Headers the flow set (x-internal) leave the hub too; the sink adds its own.
    expect(record!.headers).toEqual({ ...TRACE, 'x-internal': 'stays', 'x-message-id': message.id, 'content-type': 'application/json', 'x-tenant': 'acme', 'x-fixed': 'yes' });
  });

  it('round-trips produce → source → flow → sink → consume with every header carried', async () => {
    const input = await kafka.createTopic(unique('flow-in'), 2);
    const output = await kafka.createTopic(unique('flow-out'), 2);
    const out = await sink({ topic: output, key: '{{ $meta.key }}' });
    const seen: Message[] = [];
    sources.push(
      await startSource({ brokers: BROKERS, topic: input, group_id: unique('group'), from_beginning: true }, async (m) => {
        seen.push(m);
        const changed = m.with({ value: { ...(m.json() as object), seen: true } });
        await out.send(changed, sendCtx());
        return { replies: [] };
      }),
    );
    const { 'correlation-id': correlation, ...trace } = TRACE;
    await kafka.produce(input, [
      { key: 'a', value: '{"n":1}', headers: { ...trace, 'x-correlation-id': correlation, 'x-message-id': 'UPSTREAM-1', 'content-type': 'application/json; charset=utf-8' } },
      { key: 'b', value: '{"n":2}' },
    ]);
    const records = await kafka.read(output, 2);
    const a = records.find((r) => r.key === 'a')!;
    expect(JSON.parse(a.value)).toEqual({ n: 1, seen: true });
    const first = seen.find((m) => m.meta.key === 'a')!;
    expect(first.meta.upstreamId).toBe('UPSTREAM-1');
    expect(a.headers).toEqual({ ...TRACE, 'x-message-id': first.id, 'content-type': 'application/json' });
    const b = records.find((r) => r.key === 'b')!;
    expect(b.headers['correlation-id']).toBe(b.headers['x-message-id']);
  });

  it('batches concurrent sends and answers each caller once its batch is acknowledged', async () => {
    const topic = await kafka.createTopic(unique('sink-batch'), 3);
    const s = await sink({ topic, key: '{{ k }}', linger: '20ms', batch_size: 50 });
    const messages = Array.from({ length: 300 }, (_, i) => new Message({ value: { k: `k${i % 7}`, i }, meta }));
    await Promise.all(messages.map((m) => s.send(m, sendCtx())));
    const records = await kafka.read(topic, 300);
    expect(new Set(records.map((r) => (JSON.parse(r.value) as { i: number }).i)).size).toBe(300);
    for (const key of ['k0', 'k3']) {
      const order = records.filter((r) => r.key === key).map((r) => (JSON.parse(r.value) as { i: number }).i);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
  });

  it('does not write a record whose flow gave up on it before it left: the send rejects with the reason', async () => {
    const topic = await kafka.createTopic(unique('sink-gave-up'));
    const s = await sink({ topic, linger: '500ms' });
    const controller = new AbortController();
    const given = s.send(new Message({ value: { n: 'given-up' }, meta }), sendCtx(controller.signal));
    const kept = s.send(new Message({ value: { n: 'kept' }, meta }), sendCtx());
    // Both wait for the linger; one flow gives up meanwhile.
    controller.abort(hubError('TIMEOUT', 'the flow did not finish in time'));
    expect((await failure(given)).code).toBe('TIMEOUT');
    await kept;
    await s.send(new Message({ value: { n: 'after' }, meta }), sendCtx());
    const records = await kafka.read(topic, 2);
    expect(records.map((r) => (JSON.parse(r.value) as { n: string }).n)).toEqual(['kept', 'after']);
  });

  it('lingers only when idle: sends made while a request is in flight leave the moment it returns, all together', async () => {
    const topic = await kafka.createTopic(unique('sink-busy'), 2);
    const linger = 400;
    const requests: { records: number; start: number; end: number }[] = [];
    let onRequest: (() => void) | undefined;
    // Every produce request of the sinks made meanwhile, timed, through kafkajs' own producer.
    const proto = Kafka.prototype as unknown as { producer: (...args: unknown[]) => Producer };
    const producer = proto.producer;
    proto.producer = function (this: Kafka, ...args: unknown[]): Producer {
      const p = producer.apply(this, args);
      const sendBatch = p.sendBatch.bind(p);
      p.sendBatch = async (batch: ProducerBatch) => {
        const entry = { records: (batch.topicMessages ?? []).reduce((n, t) => n + t.messages.length, 0), start: performance.now(), end: Number.NaN };
        requests.push(entry);
        const hook = onRequest;
        onRequest = undefined;
        hook?.();
        try {
          return await sendBatch(batch);
        } finally {
          entry.end = performance.now();
        }
      };
      return p;
    };
    let s: KafkaSink;
    try {
      s = await sink({ topic, key: '{{ k }}', linger: `${linger}ms`, batch_size: 20 });
    } finally {
      proto.producer = producer;
    }
    const msg = (i: number): Message => new Message({ value: { k: `k${i % 3}`, i }, meta });

    // Idle: the first send waits the linger for company, and a send within it shares the request.
    const t0 = performance.now();
    const idle = [s.send(msg(0), sendCtx())];
    await new Promise((r) => setTimeout(r, 50));
    idle.push(s.send(msg(1), sendCtx()));
    await Promise.all(idle);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(linger - 20);
    expect(requests.map((r) => r.records)).toEqual([2]);

    // Busy: 45 sends made while the next request is in flight go in the requests right after it, without a linger.
    let busy: Promise<undefined>[] = [];
    onRequest = () => (busy = Array.from({ length: 45 }, (_, i) => s.send(msg(10 + i), sendCtx())));
    const t1 = performance.now();
    await s.send(msg(2), sendCtx());
    await Promise.all(busy);
    const elapsed = performance.now() - t1;
    expect(busy).toHaveLength(45);
    // One linger for the first of them (the sink was idle), none after: four requests, capped at batch_size.
    expect(requests.slice(1).map((r) => r.records)).toEqual([1, 20, 20, 5]);
    for (let i = 2; i < requests.length; i++) expect(requests[i]!.start - requests[i - 1]!.end).toBeLessThan(linger / 4);
    expect(elapsed).toBeLessThan(2 * linger);

    const records = await kafka.read(topic, 48);
    for (const key of ['k0', 'k1', 'k2']) {
      const order = records.filter((r) => r.key === key).map((r) => (JSON.parse(r.value) as { i: number }).i);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
  });

  it('refuses a record that is too large (permanent) while the records batched with it are written', async () => {
    const topic = await kafka.createTopic(unique('sink-large'));
    const s = await sink({ topic, linger: '50ms' });
    const big = new Message({ body: Buffer.alloc(2 * 1024 * 1024, 'x'), headers: { 'content-type': 'text/plain' }, meta });
    const small = [1, 2, 3].map((i) => new Message({ value: { i }, meta }));
    const results = await Promise.allSettled([s.send(small[0]!, sendCtx()), s.send(big, sendCtx()), s.send(small[1]!, sendCtx()), s.send(small[2]!, sendCtx())]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as HubError;
    expect(err).toBeInstanceOf(HubError);
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('DOWNSTREAM_REJECTED');
    expect(err.message).toMatch(/MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
    const records = await kafka.read(topic, 3);
    expect(records.map((r) => JSON.parse(r.value))).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
  });

  it('refuses an invalid topic name from a template and a topic that does not exist (permanent)', async () => {
    const s = await sink({ topic: 'orders.{{ region }}' });
    const invalid = await failure(s.send(new Message({ value: { region: 'no such/topic' }, meta }), sendCtx()));
    expect(invalid).toMatchObject({ code: 'DOWNSTREAM_REJECTED', retryable: false });
    const missing = await failure(s.send(new Message({ value: { region: unique('missing') }, meta }), sendCtx()));
    expect(missing).toMatchObject({ code: 'DOWNSTREAM_REJECTED', retryable: false });
    expect(missing.message).toMatch(/UNKNOWN_TOPIC_OR_PARTITION/);
  });

  it('reports config problems at their paths', () => {
    const issues: ConfigIssue[] = [];
    kafkaAdapter.sink!.create({ brokers: ['nohost'], topic: 'bad topic', key: '{{ a + }}', headers: { 'Content-Type': 'x' }, linger: 'soon' }, adapterCtx(issues));
    expect(issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['brokers', 'topic', 'key', 'headers.Content-Type', 'linger']));
  });

  it('starts without a reachable broker: not ready, sends fail retryable, then ready once it is there', async () => {
    const topic = await kafka.createTopic(unique('sink-late'));
    const [host, port] = BROKERS[0]!.split(':') as [string, string];
    const late = new LateBroker({ host, port: Number(port) });
    const lport = await late.reserve();
    try {
      const s = await startSink({ brokers: [`127.0.0.1:${lport}`], topic, connection_timeout: '500ms', timeout: '1s' });
      sinks.push(s);
      expect(s.ready()).toBe(false);
      const err = await failure(s.send(new Message({ value: { early: true }, meta }), sendCtx()));
      expect(err).toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE', retryable: true });
      await late.open();
      await waitFor('ready', () => s.ready(), 40_000);
      await s.send(new Message({ value: { late: true }, meta }), sendCtx());
      const [record] = await kafka.read(topic, 1);
      expect(JSON.parse(record!.value)).toEqual({ late: true });
    } finally {
      await Promise.all(sinks.splice(0).map((s) => s.stop()));
      await late.close();
    }
  });
});
