/**
 * Broker faults, against the real RabbitMQ: a broker that is not there at start, a connection cut, a broker
 * restarted mid-stream, a broker away for half a minute. Tests that stop RabbitMQ start it again in `finally` and in
 * `afterAll`, whatever happened, and wait until it accepts connections.
 */
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RetryableError, type ConfigIssue } from '../../src/core/errors.js';
import type { Message } from '../../src/core/message.js';
import type { AmqpSinkConfig, AmqpSourceConfig } from './config.js';
import { AmqpSink } from './sink.js';
import { AmqpSource } from './source.js';
import { holdBroker } from '../../test/support/broker-lock.js';
import { adapterCtx, BROKER_URL, Broker, brokerListening, freePort, message, Proxy, recordingLogger, silent, sleep, sourceCtx, startBroker, stopBroker, unique, waitFor } from './test-support.js';
import { sendContext } from '../../src/runtime/testing.js';

holdBroker('rabbitmq');
const broker = new Broker();
const running: { stop(): Promise<void> }[] = [];
const fast = { reconnect: { initial: '100ms', max: '1s' } } as const;

function startSource(config: AmqpSourceConfig, deliver: (m: Message) => Promise<void>, logger: Logger): AmqpSource {
  const issues: ConfigIssue[] = [];
  const source = new AmqpSource(config, adapterCtx(issues, logger));
  expect(issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  void source.start(sourceCtx(deliver, logger));
  running.push(source);
  return source;
}

function startSink(config: AmqpSinkConfig, logger: Logger): AmqpSink {
  const issues: ConfigIssue[] = [];
  const sink = new AmqpSink(config, adapterCtx(issues, logger));
  expect(issues).toEqual([]);
  void sink.start();
  running.push(sink);
  return sink;
}

/** What the flow's retry policy does for a sink: try again on a retryable failure, until the deadline. */
async function sendWithRetry(sink: AmqpSink, m: Message, deadlineMs = 120_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ctx = sendContext('amqp-fault', silent, AbortSignal.timeout(Math.max(1000, until - Date.now())));
    try {
      await sink.send(m, ctx);
      return;
    } catch (err) {
      if (!(err instanceof RetryableError) || Date.now() > until) throw err;
      await sleep(200);
    }
  }
}

function levelLines(lines: { level: number; msg: string }[], level: number, re: RegExp): string[] {
  return lines.filter((l) => l.level === level && re.test(l.msg)).map((l) => l.msg);
}

beforeAll(async () => {
  if (!(await brokerListening())) await startBroker();
  await broker.open();
}, 120_000);
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
  if (!(await brokerListening())) await startBroker();
  await broker.cleanup();
}, 120_000);
afterAll(async () => {
  if (!(await brokerListening())) await startBroker();
  await broker.close();
}, 120_000);

describe('amqp adapter under broker faults', () => {
  it('starts while the broker refuses connections: not ready, one clear log line each, connects once it appears; and survives a cut connection', async () => {
    const port = await freePort();
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const exchange = unique('refuse-ex');
    const queue = unique('refuse-q');
    broker.track({ exchanges: [exchange], queues: [queue, `${queue}.retry`] });
    const { logger, lines } = recordingLogger();
    const got: Message[] = [];
    const source = startSource({ url, queue, bind: { exchange, routing_key: '#' }, ...fast }, async (m) => void got.push(m), logger);
    const sink = startSink({ url, exchange, routing_key: 'k', ...fast }, logger);

    await sleep(2_000); // several failed attempts
    expect(source.ready()).toBe(false);
    expect(sink.ready()).toBe(false);
    const unreachable = levelLines(lines, 40, /is not reachable/);
    expect(unreachable).toHaveLength(2); // one per connection: the consuming one and the publishing one
    for (const line of unreachable) expect(line).toMatch(new RegExp(`AMQP broker amqp://127.0.0.1:${port}/ is not reachable \\(.*ECONNREFUSED.*\\); connecting in the background`));
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);

    const proxy = new Proxy(port);
    await proxy.start();
    try {
      await waitFor(() => source.ready() && sink.ready(), 5_000, 'source and sink to connect');
      expect(levelLines(lines, 30, /is back after/)).toHaveLength(2);
      await sink.send(message({ n: 1 }), sendContext('amqp-fault', logger, AbortSignal.timeout(5_000)));
      await waitFor(() => got.length === 1);
      // Let message 1's ack (sent just after the flow settled it) reach the broker first: cut before that, and the
      // broker rightly delivers it again (at least once), which is not what this case is about.
      await sleep(300);

      // Cut every connection through the proxy and refuse new ones for a moment.
      await proxy.stop();
      await waitFor(() => !source.ready() && !sink.ready(), 5_000, 'the loss to be noticed');
      expect(levelLines(lines, 40, /lost \(.*\); reconnecting in the background/)).toHaveLength(2);
      const pending = sink.send(message({ n: 2 }), sendContext('amqp-fault', logger, AbortSignal.timeout(15_000)));
      await sleep(1_000);
      await proxy.start();
      await pending; // waited for the reconnect instead of failing at once
      await waitFor(() => source.ready() && got.length === 2, 10_000, 'the second message');
      expect(levelLines(lines, 30, /is back after/)).toHaveLength(4);
    } finally {
      for (const r of running.splice(0).reverse()) await r.stop();
      await proxy.stop();
    }
  }, 60_000);

  it('notices a silent broker through heartbeats and reconnects', async () => {
    const port = await freePort();
    const proxy = new Proxy(port);
    await proxy.start();
    const queue = unique('heartbeat-q');
    broker.track({ queues: [queue, `${queue}.retry`] });
    const { logger, lines } = recordingLogger();
    try {
      const got: Message[] = [];
      const source = startSource({ url: `amqp://guest:guest@127.0.0.1:${port}`, queue, heartbeat: '1s', ...fast }, async (m) => void got.push(m), logger);
      await waitFor(() => source.ready(), 5_000, 'ready');
      proxy.freeze();
      await waitFor(() => !source.ready(), 6_000, 'the missed heartbeats to be noticed');
      expect(levelLines(lines, 40, /lost \(.*[Hh]eartbeat/), JSON.stringify(lines.map((l) => l.msg))).toHaveLength(1);
      proxy.freeze(false);
      await waitFor(() => source.ready(), 10_000, 'the reconnect');
      await broker.publish('', queue, '{"alive":true}');
      await waitFor(() => got.length === 1);
    } finally {
      for (const r of running.splice(0).reverse()) await r.stop();
      await proxy.stop();
    }
  }, 60_000);

  it('loses nothing when RabbitMQ restarts mid-stream', async () => {
    const exchange = unique('restart-ex');
    const queue = unique('restart-q');
    broker.track({ exchanges: [exchange], queues: [queue, `${queue}.retry`] });
    const { logger, lines } = recordingLogger();
    const seen = new Set<number>();
    const source = startSource({ url: BROKER_URL, queue, bind: { exchange, routing_key: '#' }, prefetch: 20, ...fast }, async (m) => {
      await sleep(2);
      seen.add((m.json() as { n: number }).n);
    }, logger);
    const sink = startSink({ url: BROKER_URL, exchange, routing_key: 'restart', ...fast }, logger);
    await waitFor(() => source.ready() && sink.ready(), 10_000, 'ready');

    // Publish steadily (about 100 a second) from before the restart until well after it: every publish the broker
    // confirmed must reach the flow.
    const confirmed = new Set<number>();
    let next = 0;
    let restartDone = false;
    const restarted = (async () => {
      await sleep(1_000);
      try {
        await stopBroker();
        await sleep(2_000);
      } finally {
        await startBroker();
        restartDone = true;
      }
    })();
    const publisher = async (): Promise<void> => {
      while (!restartDone || next < 600) {
        const i = next++;
        await sendWithRetry(sink, message({ n: i }));
        confirmed.add(i);
        await sleep(40);
      }
    };
    try {
      await Promise.all(Array.from({ length: 4 }, publisher));
    } finally {
      await restarted;
    }
    const n = confirmed.size;
    expect(n).toBe(next);
    await waitFor(() => seen.size === n, 60_000, `all ${n} messages`);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(levelLines(lines, 40, /lost \(/).length).toBeGreaterThanOrEqual(2);
    expect(levelLines(lines, 30, /is back after/).length, JSON.stringify(lines.filter((l) => l.level >= 30).map((l) => l.msg))).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it('resumes by itself after the broker is away for 30 seconds, and a send made meanwhile waits for it', async () => {
    const exchange = unique('away-ex');
    const queue = unique('away-q');
    broker.track({ exchanges: [exchange], queues: [queue, `${queue}.retry`] });
    const { logger, lines } = recordingLogger();
    const got: Message[] = [];
    const source = startSource({ url: BROKER_URL, queue, bind: { exchange, routing_key: '#' }, reconnect: { initial: '200ms', max: '5s' } }, async (m) => void got.push(m), logger);
    const sink = startSink({ url: BROKER_URL, exchange, routing_key: 'away', reconnect: { initial: '200ms', max: '5s' } }, logger);
    await waitFor(() => source.ready() && sink.ready(), 10_000, 'ready');

    let pending: Promise<unknown> | undefined;
    try {
      await stopBroker();
      await waitFor(() => !source.ready() && !sink.ready(), 10_000, 'the loss to be noticed');
      pending = sink.send(message({ during: 'outage' }), sendContext('amqp-fault', logger, AbortSignal.timeout(90_000)));
      pending.catch(() => {});
      await sleep(30_000);
      expect(source.ready()).toBe(false);
      expect(sink.ready()).toBe(false);
      expect(await Promise.race([pending.then(() => 'settled', () => 'settled'), sleep(10).then(() => 'waiting')])).toBe('waiting');
    } finally {
      await startBroker();
    }
    await pending;
    await waitFor(() => source.ready() && sink.ready(), 20_000, 'both back');
    await waitFor(() => got.length === 1, 10_000, 'the message sent during the outage');
    expect(got[0]!.json()).toEqual({ during: 'outage' });
    // One line when it went, one when it came back, per connection; the attempts in between stay below info.
    expect(levelLines(lines, 40, /lost \(/)).toHaveLength(2);
    expect(levelLines(lines, 30, /is back after/)).toHaveLength(2);
    expect(lines.filter((l) => l.level >= 40 && !/lost \(|blocks publishing/.test(l.msg))).toEqual([]);
  }, 180_000);
});
