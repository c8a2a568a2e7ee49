import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SendContext } from '../../src/core/contracts.js';
import { HubError, PermanentError, RetryableError, type ConfigIssue } from '../../src/core/errors.js';
import type { AmqpSinkConfig } from './config.js';
import amqp from './index.js';
import type { AmqpSink } from './sink.js';
import { adapterCtx, BROKER_URL, Broker, freePort, message, recordingLogger, silent, unique } from './test-support.js';
import { sendContext } from '../../src/runtime/testing.js';

const TRACE = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=abc',
  b3: '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
  'x-request-id': 'req-7f3a',
  'correlation-id': 'corr-1',
};

function sendCtx(signal: AbortSignal = AbortSignal.timeout(15_000)): SendContext {
  return sendContext('amqp-test', silent, signal);
}

const broker = new Broker();
const sinks: AmqpSink[] = [];

async function sinkFor(config: Omit<AmqpSinkConfig, 'url'> & { url?: string }, logger = silent): Promise<AmqpSink> {
  const issues: ConfigIssue[] = [];
  const sink = amqp.sink!.create({ url: BROKER_URL, ...config }, adapterCtx(issues, logger)) as AmqpSink;
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

async function ready(sink: AmqpSink): Promise<void> {
  const until = Date.now() + 10_000;
  while (!sink.ready()) {
    if (Date.now() > until) throw new Error('sink not ready');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  await broker.open();
});
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.stop();
  await broker.cleanup();
});
afterAll(async () => {
  await broker.close();
});

describe('amqp sink', () => {
  it('publishes a persistent, confirmed message with its headers, properties and templated routing', async () => {
    const exchange = unique('sink-ex');
    const queue = unique('sink-q');
    broker.track({ exchanges: [exchange], queues: [queue] });
    const sink = await sinkFor({
      exchange,
      routing_key: '{{ region }}.created',
      headers: { 'x-tenant': '{{ tenant }}', 'x-fixed': 'yes' },
      queues: { [queue]: { bind: { exchange, routing_key: 'eu.#' } } },
    });
    await ready(sink);
    const m = message({ region: 'eu', tenant: 't-9', orderId: 42 }, TRACE);
    await expect(sink.send(m, sendCtx())).resolves.toBeUndefined();

    const [got] = await broker.take(queue, 1);
    expect(JSON.parse(got!.content.toString())).toEqual({ region: 'eu', tenant: 't-9', orderId: 42 });
    expect(got!.fields.routingKey).toBe('eu.created');
    expect(got!.fields.exchange).toBe(exchange);
    expect(got!.properties).toMatchObject({ deliveryMode: 2, contentType: 'application/json', messageId: m.id, correlationId: 'corr-1', appId: 'integration-hub' });
    // The message id, correlation id and content type are properties (above), not headers as well.
    const { 'correlation-id': _correlation, ...trace } = TRACE as Record<string, string>;
    expect(got!.properties.headers).toEqual({ ...trace, 'x-tenant': 't-9', 'x-fixed': 'yes' });
  });

  it('declares a constant exchange as a durable topic exchange, and the queues it is told to, quorum included', async () => {
    const exchange = unique('sink-decl');
    const queue = unique('sink-quorum');
    broker.track({ exchanges: [exchange], queues: [queue] });
    const sink = await sinkFor({ exchange, routing_key: 'a.b', queues: { [queue]: { type: 'quorum', bind: { exchange, routing_key: 'a.*' } } } });
    await ready(sink);
    expect(await broker.queueMatches(queue, { 'x-queue-type': 'quorum' })).toBe(true);
    expect(await broker.queueMatches(queue, { 'x-queue-type': 'classic' })).toBe(false);
    await sink.send(message({ n: 1 }), sendCtx());
    expect(await broker.take(queue, 1)).toHaveLength(1);
  });

  it('fails an unroutable mandatory message permanently (DOWNSTREAM_REJECTED), or as retryable when told to', async () => {
    const exchange = unique('sink-unroutable');
    broker.track({ exchanges: [exchange] });
    const reject = await sinkFor({ exchange, routing_key: 'nobody.listens' });
    await ready(reject);
    const err = await failure(reject.send(message({ a: 1 }), sendCtx()));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('DOWNSTREAM_REJECTED');
    expect(err.message).toMatch(/could not route.*312 NO_ROUTE/);

    const retry = await sinkFor({ exchange, routing_key: 'nobody.listens', unroutable: 'retry' });
    await ready(retry);
    const err2 = await failure(retry.send(message({ a: 1 }), sendCtx()));
    expect(err2).toBeInstanceOf(RetryableError);
    expect(err2.code).toBe('DOWNSTREAM_UNAVAILABLE');

    // Routable messages on the same channel still pass, and an unroutable one among many is the only failure.
    const queue = unique('sink-mixed');
    broker.track({ queues: [queue] });
    const mixed = await sinkFor({ exchange, routing_key: '{{ key }}', queues: { [queue]: { bind: { exchange, routing_key: 'ok' } } } });
    await ready(mixed);
    const results = await Promise.allSettled(['ok', 'ok', 'lost', 'ok', 'lost', 'ok'].map((key) => mixed.send(message({ key }), sendCtx())));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await broker.take(queue, 4)).toHaveLength(4);
  });

  it('without mandatory, the broker drops an unroutable message and the send succeeds', async () => {
    const exchange = unique('sink-nomandatory');
    broker.track({ exchanges: [exchange] });
    const sink = await sinkFor({ exchange, routing_key: 'x', mandatory: false });
    await ready(sink);
    await expect(sink.send(message({ a: 1 }), sendCtx())).resolves.toBeUndefined();
  });

  it('fails a templated exchange that does not exist permanently, without breaking the channel for other sends', async () => {
    const exchange = unique('sink-tmpl');
    const queue = unique('sink-tmpl-q');
    broker.track({ exchanges: [exchange], queues: [queue] });
    const sink = await sinkFor({ exchange: '{{ ex }}', routing_key: 'k', exchanges: { [exchange]: { type: 'direct' } }, queues: { [queue]: { bind: { exchange, routing_key: 'k' } } } });
    await ready(sink);
    const [missing, ok] = await Promise.allSettled([sink.send(message({ ex: `${exchange}.missing` }), sendCtx()), sink.send(message({ ex: exchange }), sendCtx())]);
    expect(missing.status).toBe('rejected');
    expect((missing as PromiseRejectedResult).reason).toBeInstanceOf(PermanentError);
    expect((missing as PromiseRejectedResult).reason.message).toMatch(/does not exist/);
    expect(ok.status).toBe('fulfilled');
    expect(sink.ready()).toBe(true);
    expect(await broker.take(queue, 1)).toHaveLength(1);
  });

  it('publishes to a queue through the default exchange', async () => {
    const queue = unique('sink-default');
    broker.track({ queues: [queue] });
    const sink = await sinkFor({ routing_key: queue, queues: { [queue]: {} } });
    await ready(sink);
    await sink.send(message('hello'), sendCtx());
    const [got] = await broker.take(queue, 1);
    expect(got!.content.toString()).toBe('"hello"');
  });

  it('waits for drain when the channel buffer is full, and every message is still confirmed', async () => {
    const queue = unique('sink-backpressure');
    broker.track({ queues: [queue] });
    const sink = await sinkFor({ routing_key: queue, queues: { [queue]: { arguments: { 'x-max-length-bytes': 512 * 1024 * 1024 } } } });
    await ready(sink);
    // amqplib's per-channel write buffer holds 1024 frames: a burst of sends fills it.
    const big = 'x'.repeat(1024);
    const n = 5000;
    const sends = Array.from({ length: n }, (_, i) => sink.send(message({ i, big }), sendCtx(AbortSignal.timeout(60_000))));
    await Promise.all(sends);
    expect(sink.drainWaits).toBeGreaterThan(0);
    expect(await broker.count(queue)).toBe(n);
  }, 60_000);

  it('does not reject start when the broker is unreachable; send waits, bounded by its signal, then fails as retryable', async () => {
    const { logger, lines } = recordingLogger();
    const port = await freePort();
    const sink = await sinkFor({ url: `amqp://guest:guest@127.0.0.1:${port}`, exchange: 'amq.topic', routing_key: 'x', reconnect: { initial: '50ms', max: '200ms' } }, logger);
    expect(sink.ready()).toBe(false);
    const started = Date.now();
    const err = await failure(sink.send(message({ a: 1 }), sendCtx(AbortSignal.timeout(600))));
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('DOWNSTREAM_UNAVAILABLE');
    expect(err.message).toMatch(/ECONNREFUSED/);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(new RegExp(`AMQP broker amqp://127.0.0.1:${port}/ is not reachable \\(.*ECONNREFUSED.*\\); connecting in the background`));
    expect(JSON.stringify(lines)).not.toContain('guest:guest');
  });

  it('reports config problems at their paths', () => {
    const issues: ConfigIssue[] = [];
    amqp.sink!.create({ url: 'http://x', exchange: 'e', headers: { 'content-type': 'x', 'X-Message-Id': 'y' }, heartbeat: 'soon', routing_key: '{{ ( }}', mandatory: false, unroutable: 'retry', queues: { q: { type: 'quorum', durable: false, arguments: { 'x-queue-type': 'classic' }, bind: { exchange: '' } } } } as never, adapterCtx(issues));
    const at = issues.map((i) => i.path.join('.'));
    expect(at).toEqual(expect.arrayContaining(['url', 'heartbeat', 'routing_key', 'headers.content-type', 'headers.X-Message-Id', 'unroutable', 'queues.q.durable', 'queues.q.arguments.x-queue-type', 'queues.q.bind.exchange']));
  });
});
