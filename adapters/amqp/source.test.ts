import type { ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SendContext } from '../../src/core/contracts.js';
import { hubError, PermanentError, RetryableError, type ConfigIssue } from '../../src/core/errors.js';
import type { Message } from '../../src/core/message.js';
import type { AmqpSinkConfig, AmqpSourceConfig } from './config.js';
import amqp from './index.js';
import type { AmqpSink } from './sink.js';
import { AmqpSource, type AmqpSourceOptions } from './source.js';
import { adapterCtx, BROKER_URL, Broker, message, recordingLogger, silent, sleep, sourceCtx, unique, waitFor } from './test-support.js';
import { sendContext } from '../../src/runtime/testing.js';

const TRACE = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=abc',
  b3: '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
  'x-request-id': 'req-7f3a',
  'correlation-id': 'corr-round-trip',
};

const broker = new Broker();
const running: { stop(): Promise<void> }[] = [];

type Deliver = (m: Message) => Promise<void>;

/** A source whose flow is the test: `deliver` is written by the test, the adapter is real. */
async function startSource(config: Omit<AmqpSourceConfig, 'url'> & { url?: string }, deliver: Deliver, options: AmqpSourceOptions & { logger?: typeof silent } = {}): Promise<AmqpSource> {
  const issues: ConfigIssue[] = [];
  const source = new AmqpSource({ url: BROKER_URL, ...config }, adapterCtx(issues, options.logger ?? silent), options);
  expect(issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  await source.start(sourceCtx(deliver, options.logger ?? silent));
  running.push(source);
  await waitFor(() => source.ready(), 10_000, 'the source to be ready');
  return source;
}

async function startSink(config: Omit<AmqpSinkConfig, 'url'>): Promise<AmqpSink> {
  const issues: ConfigIssue[] = [];
  const sink = amqp.sink!.create({ url: BROKER_URL, ...config }, adapterCtx(issues)) as AmqpSink;
  expect(issues).toEqual([]);
  await sink.start();
  running.push(sink);
  await waitFor(() => sink.ready(), 10_000, 'the sink to be ready');
  return sink;
}

function sendCtx(): SendContext {
  return sendContext('amqp-test', silent, AbortSignal.timeout(20_000));
}

/** Names for one test: an exchange, the source queue and the queues derived from it, all deleted afterwards. */
function names(prefix: string): { exchange: string; dead: string; queue: string } {
  const exchange = unique(`${prefix}-ex`);
  const queue = unique(`${prefix}-q`);
  const dead = `${exchange}.dead`;
  broker.track({ exchanges: [exchange, dead], queues: [queue, `${queue}.dead`, `${queue}.retry`] });
  return { exchange, dead, queue };
}

beforeAll(async () => {
  await broker.open();
});
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
  await broker.cleanup();
});
afterAll(async () => {
  await broker.close();
});

describe('amqp source', () => {
  it('round trip: the sink publishes, the source delivers body, headers and meta, and acks', async () => {
    const { exchange, queue } = names('rt');
    const got: Message[] = [];
    await startSource({ queue, bind: { exchange, routing_key: 'eu.#' }, headers: ['x-tenant'] }, async (m) => void got.push(m));
    const sink = await startSink({ exchange, routing_key: 'eu.{{ kind }}', headers: { 'x-tenant': 'acme' } });
    const sent = message({ kind: 'created', orderId: 7 }, TRACE);
    await sink.send(sent, sendCtx());

    await waitFor(() => got.length === 1);
    const m = got[0]!;
    expect(m.json()).toEqual({ kind: 'created', orderId: 7 });
    expect(m.id).not.toBe(sent.id);
    expect(m.headers).toEqual({ ...TRACE, 'content-type': 'application/json', 'x-tenant': 'acme' });
    expect(m.meta).toMatchObject({ flow: 'amqp-test', source: `amqp:${queue}`, attempt: 1, queue, exchange, routingKey: 'eu.created', redelivered: false, retries: 0, upstreamId: sent.id });
    await sleep(100);
    expect(await broker.count(queue)).toBe(0);
  });

  it('takes content type, correlation id and message id from AMQP properties, with a default content type', async () => {
    const { queue } = names('props');
    const got: Message[] = [];
    await startSource({ queue, content_type: 'text/plain' }, async (m) => void got.push(m));
    await broker.publish('', queue, '<a/>', { contentType: 'application/xml', correlationId: 'corr-prop', messageId: 'up-1' });
    await broker.publish('', queue, 'plain words');
    await waitFor(() => got.length === 2);
    expect(got[0]!.headers).toEqual({ 'content-type': 'application/xml', 'correlation-id': 'corr-prop' });
    expect(got[0]!.meta.upstreamId).toBe('up-1');
    expect(got[0]!.text()).toBe('<a/>');
    expect(got[1]!.headers).toEqual({ 'content-type': 'text/plain', 'correlation-id': got[1]!.id });
    expect(got[1]!.meta.upstreamId).toBeUndefined();
  });

  it('delivers 1000 messages, every one of them', async () => {
    const { exchange, queue } = names('bulk');
    const seen = new Set<string>();
    let deliveries = 0;
    await startSource({ queue, bind: { exchange, routing_key: '#' }, prefetch: 50 }, async (m) => {
      deliveries++;
      seen.add(String((m.json() as { n: number }).n));
      if (deliveries % 7 === 0) await sleep(1);
    });
    const sink = await startSink({ exchange, routing_key: 'bulk' });
    const n = 1000;
    await Promise.all(Array.from({ length: n }, (_, i) => sink.send(message({ n: i }), sendCtx())));
    await waitFor(() => seen.size === n, 30_000, `${n} messages`);
    expect(deliveries).toBe(n);
    await sleep(100);
    expect(await broker.count(queue)).toBe(0);
  }, 60_000);

  it('acks only after deliver resolved: a source closed with a delivery unsettled gives it back, and a late ack does not throw', async () => {
    const { queue } = names('unsettled');
    let release: () => void = () => {};
    const held: Message[] = [];
    const first = await startSource(
      { queue },
      (m) => {
        held.push(m);
        return new Promise<void>((resolve) => (release = resolve));
      },
      { stopGraceMs: 200 },
    );
    await broker.publish('', queue, '{"order":1}', { messageId: 'm-1' });
    await waitFor(() => held.length === 1);
    await sleep(200);
    expect(await broker.count(queue)).toBe(0); // delivered, unacked: not ready for anyone else

    await first.stop(); // the flow never settled it
    release(); // the flow finishes late: the ack goes to a closed channel and must not throw
    await sleep(50);

    const again: Message[] = [];
    await startSource({ queue }, async (m) => void again.push(m));
    await waitFor(() => again.length === 1);
    expect(again[0]!.meta).toMatchObject({ redelivered: true, upstreamId: 'm-1' });
    expect(again[0]!.json()).toEqual({ order: 1 });
  });

  it('coalesces acks of deliveries settled out of order: each acked exactly once, never before it settled, and a held one, only it, is redelivered', async () => {
    const { queue } = names('coalesce');
    const n = 60;
    const heldN = 30; // delivery tag 31: the ones below it form runs acked with `multiple`, the ones above are acked alone

    // Every event in one sequence: a delivery's settle, and each basic.ack the source sends.
    let seq = 0;
    const settledAt = new Map<number, number>();
    const frames: { seq: number; tag: number; n: number; multiple: boolean }[] = [];
    const probe = await broker.channel();
    const proto = Object.getPrototypeOf(probe) as { ack: (m: ConsumeMessage, allUpTo?: boolean) => void };
    await probe.close();
    const own = Object.getOwnPropertyDescriptor(proto, 'ack');
    const ack = proto.ack;
    proto.ack = function (this: unknown, m: ConsumeMessage, allUpTo?: boolean) {
      frames.push({ seq: seq++, tag: m.fields.deliveryTag, n: (JSON.parse(m.content.toString()) as { n: number }).n, multiple: allUpTo === true });
      ack.call(this, m, allUpTo);
    };
    let release: () => void = () => {};
    const delivered: number[] = [];
    try {
      const first = await startSource(
        { queue, prefetch: 100 },
        async (m) => {
          const i = (m.json() as { n: number }).n;
          delivered.push(i);
          if (i === heldN) return new Promise<void>((resolve) => (release = resolve));
          await sleep(Math.floor(Math.random() * 25));
          settledAt.set(i, seq++);
        },
        { stopGraceMs: 200 },
      );
      // One at a time, so that the queue hands them over in this order: message i is delivery tag i + 1.
      for (let i = 0; i < n; i++) await broker.publish('', queue, JSON.stringify({ n: i }));
      await waitFor(() => settledAt.size === n - 1, 10_000, 'every delivery but the held one to settle');
      await sleep(150); // past the hold: everything settled is acked by now, held one or not
      expect(delivered).toHaveLength(n);

      // Replay the acks the way the broker counts them: tag t is message t - 1.
      const unacked = new Set(Array.from({ length: n }, (_, i) => i + 1));
      const problems: string[] = [];
      for (const f of frames) {
        if (f.n !== f.tag - 1) problems.push(`tag ${f.tag} carries message ${f.n}`);
        if (!unacked.has(f.tag)) problems.push(`tag ${f.tag} acked twice`);
        const covered = f.multiple ? [...unacked].filter((t) => t <= f.tag) : [f.tag];
        for (const t of covered) {
          const at = settledAt.get(t - 1);
          if (at === undefined || at > f.seq) problems.push(`tag ${t} acked before it settled`);
          unacked.delete(t);
        }
      }
      expect(problems).toEqual([]);
      expect([...unacked]).toEqual([heldN + 1]);
      expect(frames.length).toBeLessThan(n - 1); // coalesced below the held one
      expect(frames.some((f) => f.multiple)).toBe(true);

      const sent = frames.length;
      await first.stop(); // the held one is still in the flow: the close gives it back
      release(); // settles late: nothing is acked on the closed channel, nothing throws
      await sleep(50);
      expect(frames.length).toBe(sent);
    } finally {
      if (own) Object.defineProperty(proto, 'ack', own);
      else delete (proto as { ack?: unknown }).ack;
    }

    const again: Message[] = [];
    await startSource({ queue }, async (m) => void again.push(m));
    await waitFor(() => again.length === 1);
    await sleep(300);
    expect(again.map((m) => m.json())).toEqual([{ n: heldN }]);
    expect(again[0]!.meta.redelivered).toBe(true);
  });

  it('dead-letters a poison message with its reason, once, while the messages behind it pass', async () => {
    const { exchange, dead, queue } = names('poison');
    const { logger, lines } = recordingLogger();
    const passed: number[] = [];
    let poisonSeen = 0;
    await startSource(
      { queue, bind: { exchange, routing_key: 'k' }, dead_letter: { exchange: dead }, prefetch: 1 },
      async (m) => {
        const { n } = m.json() as { n: number };
        if (n === 2) {
          poisonSeen++;
          const err = hubError('VALIDATION_FAILED', 'the message does not match schema "order.v1": /lines must NOT have fewer than 1 items');
          err.step = '0:validate';
          throw err;
        }
        passed.push(n);
      },
      { logger },
    );
    for (let n = 1; n <= 4; n++) await broker.publish(exchange, 'k', JSON.stringify({ n }), { messageId: `up-${n}`, headers: TRACE });
    await waitFor(() => passed.length === 3);
    expect(passed).toEqual([1, 3, 4]);

    const [dl] = await broker.take(`${queue}.dead`, 1);
    expect(JSON.parse(dl!.content.toString())).toEqual({ n: 2 });
    expect(dl!.properties.messageId).toBe('up-2');
    expect(dl!.properties.deliveryMode).toBe(2);
    expect(dl!.properties.headers).toMatchObject({
      ...TRACE,
      'x-error-code': 'VALIDATION_FAILED',
      'x-error-message': expect.stringContaining('order.v1'),
      'x-error-step': '0:validate',
      'x-flow': 'amqp-test',
      'x-original-exchange': exchange,
      'x-original-routing-key': 'k',
      'x-original-queue': queue,
    });
    await sleep(300);
    expect(poisonSeen).toBe(1);
    expect(await broker.count(queue)).toBe(0);
    expect(lines.some((l) => l.level === 40 && /dead-lettered to exchange/.test(l.msg) && l.code === 'VALIDATION_FAILED')).toBe(true);
  });

  it('rejects without requeue when the reasoned dead letter cannot be published, so a poison message never loops', async () => {
    const { dead, queue } = names('fallback');
    const { logger, lines } = recordingLogger();
    // dead_letter.queue: false and nothing bound: the reasoned publish comes back unroutable, so the source nacks the
    // delivery without requeue and leaves it to the broker's own dead-lettering (x-dead-letter-exchange).
    let seen = 0;
    await startSource(
      { queue, dead_letter: { exchange: dead, queue: false } },
      async () => {
        seen++;
        throw new PermanentError('BAD_JSON', 'not JSON');
      },
      { logger },
    );
    await broker.publish('', queue, '{');
    await waitFor(() => lines.some((l) => l.level === 50 && /rejected for the broker to dead-letter/.test(l.msg)));
    await sleep(300);
    expect(seen).toBe(1);
    expect(await broker.count(queue)).toBe(0);
  });

  it('retries a retryable failure later through the retry queue, not hot, and the messages behind it pass meanwhile', async () => {
    const { queue } = names('retry');
    const attempts: { n: number; at: number; retries: unknown }[] = [];
    await startSource({ queue, retry: { delay: '400ms' }, prefetch: 1 }, async (m) => {
      const { n } = m.json() as { n: number };
      attempts.push({ n, at: Date.now(), retries: m.meta.retries });
      if (n === 1 && attempts.filter((a) => a.n === 1).length < 3) throw new RetryableError('DOWNSTREAM_UNAVAILABLE', 'the ERP answered 503');
    });
    await broker.publish('', queue, '{"n":1}', { messageId: 'r-1', headers: TRACE });
    await broker.publish('', queue, '{"n":2}');
    await waitFor(() => attempts.filter((a) => a.n === 1).length === 3, 10_000, 'three attempts');
    const ones = attempts.filter((a) => a.n === 1);
    expect(ones.map((a) => a.retries)).toEqual([0, 1, 2]);
    expect(ones[1]!.at - ones[0]!.at).toBeGreaterThanOrEqual(350);
    expect(ones[2]!.at - ones[1]!.at).toBeGreaterThanOrEqual(350);
    // The second message did not wait for the first one's retries.
    expect(attempts.findIndex((a) => a.n === 2)).toBe(1);
    await sleep(200);
    expect(await broker.count(queue)).toBe(0);
    expect(await broker.count(`${queue}.retry`)).toBe(0);
  });

  it('does not ack a message the journal cannot take: requeued after the delay, and through the retry queue before a quorum delivery limit', async () => {
    const { queue } = names('journal-away');
    const seen: { retries: unknown }[] = [];
    await startSource({ queue, queue_type: 'quorum', retry: { delay: '50ms' }, prefetch: 1 }, async (m) => {
      seen.push({ retries: m.meta.retries });
      if (seen.length < 13) throw hubError('JOURNAL_UNAVAILABLE', 'Redis is away');
    });
    await broker.publish('', queue, '{"n":1}', { messageId: 'j-1' });
    await waitFor(() => seen.length === 13, 15_000, 'thirteen deliveries');
    // Ten requeues (never acked, the same queue message: its delivery count grows), then the retry queue (a new
    // message, its count starts again), where it is finally taken.
    expect(seen.slice(0, 11).map((x) => x.retries)).toEqual(Array(11).fill(0));
    expect(seen[11]!.retries).toBe(1);
    await sleep(200);
    expect(await broker.count(queue)).toBe(0);
    expect(await broker.count(`${queue}.retry`)).toBe(0);
  });

  it('dead-letters a message that is still failing after retry.max_retries, with its last error', async () => {
    const { dead, queue } = names('exhaust');
    let attempts = 0;
    await startSource({ queue, dead_letter: { exchange: dead }, retry: { delay: '100ms', max_retries: 2 } }, async () => {
      attempts++;
      throw new RetryableError('TIMEOUT', 'the flow did not finish within 100 ms');
    });
    await broker.publish('', queue, '{"slow":true}');
    const [dl] = await broker.take(`${queue}.dead`, 1);
    expect(attempts).toBe(3);
    expect(dl!.properties.headers).toMatchObject({ 'x-error-code': 'TIMEOUT', 'x-retry-count': 2, 'x-original-queue': queue });
  });

  it('when the flow is stopping, gives the delivery back without looping, for the next consumer', async () => {
    const { queue } = names('stopping');
    let refused = 0;
    const first = await startSource({ queue }, async () => {
      refused++;
      throw hubError('FLOW_STOPPING', 'the hub is shutting down and takes no new messages');
    });
    await broker.publish('', queue, '{"a":1}');
    await waitFor(() => refused === 1);
    await sleep(300);
    expect(refused).toBe(1);
    expect(first.ready()).toBe(false);
    expect(await broker.count(queue)).toBe(1);
    await first.stop();
    const got: Message[] = [];
    await startSource({ queue }, async (m) => void got.push(m));
    await waitFor(() => got.length === 1);
  });

  it('declares a quorum queue with its dead-letter and retry queues of the same type', async () => {
    const { exchange, dead, queue } = names('quorum');
    const got: Message[] = [];
    await startSource({ queue, queue_type: 'quorum', bind: { exchange, routing_key: 'q' }, dead_letter: { exchange: dead } }, async (m) => void got.push(m));
    expect(await broker.queueMatches(queue, { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': dead, 'x-dead-letter-routing-key': queue })).toBe(true);
    expect(await broker.queueMatches(`${queue}.dead`, { 'x-queue-type': 'quorum' })).toBe(true);
    expect(await broker.queueMatches(`${queue}.retry`, { 'x-queue-type': 'quorum', 'x-message-ttl': 5000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue, 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' })).toBe(true);
    await broker.publish(exchange, 'q', '{"q":1}');
    await waitFor(() => got.length === 1);
  });

  it('comes back by itself when its queue is deleted under it', async () => {
    const { queue } = names('deleted');
    const { logger, lines } = recordingLogger();
    const got: Message[] = [];
    const source = await startSource({ queue, reconnect: { initial: '50ms', max: '500ms' } }, async (m) => void got.push(m), { logger });
    const ch = await broker.channel();
    await ch.deleteQueue(queue);
    await ch.close();
    await waitFor(() => lines.some((l) => /cancelled the consumer/.test(l.msg)), 5_000, 'the cancel to be logged');
    await waitFor(() => source.ready(), 5_000, 'the source to consume again');
    await broker.publish('', queue, '{"back":true}');
    await waitFor(() => got.length === 1);
  });

  it('stays not ready, logs one error and does not crash when the queue exists with other arguments', async () => {
    const queue = unique('conflict');
    broker.track({ queues: [queue, `${queue}.retry`] });
    const ch = await broker.channel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 10 } });
    await ch.close();
    const { logger, lines } = recordingLogger();
    const source = new AmqpSource({ url: BROKER_URL, queue, reconnect: { initial: '50ms', max: '100ms' } }, adapterCtx([], logger));
    running.push(source);
    await source.start(sourceCtx(async () => {}, logger));
    await sleep(800);
    expect(source.ready()).toBe(false);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(new RegExp(`declaring queue "${queue.replace(/\./g, '\\.')}" failed: .*PRECONDITION.FAILED.*inequivalent arg 'x-max-length'`));
  });
});
