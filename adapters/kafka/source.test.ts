import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeliverOptions, FlowResult } from '../../src/core/contracts.js';
import { hubError, PermanentError } from '../../src/core/errors.js';
import type { Message } from '../../src/core/message.js';
import type { KafkaSourceConfig } from './config.js';
import type { KafkaSource } from './source.js';
import { LateBroker, startSource, TestKafka, unique, waitFor, type Deliver } from './test-support.js';

const brokers = inject('kafkaBrokers');
if (!brokers) throw new Error(inject('kafkaError') || 'no Kafka broker for the tests');
const BROKERS = brokers.split(',');
const ok: FlowResult = { replies: [] };

let kafka: TestKafka;
const sources: KafkaSource[] = [];
beforeAll(() => {
  kafka = new TestKafka(BROKERS);
});
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await kafka.close();
});

async function source(config: Partial<KafkaSourceConfig> & { topic: string }, deliver: Deliver): Promise<KafkaSource> {
  const s = await startSource({ brokers: BROKERS, group_id: unique('group'), from_beginning: true, redelivery: { initial: '50ms', max: '200ms' }, ...config }, deliver);
  sources.push(s);
  return s;
}

const TRACE = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'rojo=00f067aa0ba902b7',
  b3: '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
  'x-request-id': 'req-42',
};

describe('kafka source', () => {
  it('maps key, headers, timestamp, partition and offset into the message and commits what the flow settled', async () => {
    const topic = await kafka.createTopic(unique('src-map'));
    const group = unique('group');
    await kafka.produce(topic, [
      { key: 'order-1', value: '{"orderId":1}', headers: { ...TRACE, 'x-correlation-id': 'corr-1', 'x-message-id': '01UPSTREAMID', 'content-type': 'application/vnd.order+json', 'x-private': 'dropped' } },
      { value: '<a/>', headers: { 'content-type': 'application/xml' } },
      { value: '{"plain":true}' },
    ]);
    const got: Message[] = [];
    const s = await source({ topic, group_id: group }, async (m) => {
      got.push(m);
      return ok;
    });
    await waitFor('three messages', () => got.length === 3);
    const [first, second, third] = got as [Message, Message, Message];
    expect(first.json()).toEqual({ orderId: 1 });
    expect(first.headers).toEqual({ ...TRACE, 'correlation-id': 'corr-1', 'content-type': 'application/vnd.order+json' });
    expect(first.meta).toMatchObject({ flow: 'kafka-test', source: `kafka:${topic}`, topic, partition: 0, offset: '0', key: 'order-1', upstreamId: '01UPSTREAMID', attempt: 1 });
    expect(Date.now() - Date.parse(first.meta.timestamp as string)).toBeLessThan(60_000);
    expect(first.id).not.toBe('01UPSTREAMID');
    expect(second.contentType).toBe('application/xml');
    expect(second.meta).toMatchObject({ offset: '1', key: null });
    expect(third.contentType).toBe('application/json');
    expect(third.headers['correlation-id']).toBe(third.id);
    expect(s.ready()).toBe(true);
    await waitFor('the commit', async () => (await kafka.committed(group, topic))[0] === '3');
  });

  it('keeps the further headers named in `headers` and drops the others', async () => {
    const topic = await kafka.createTopic(unique('src-keep'));
    await kafka.produce(topic, [{ value: '{"a":1}', headers: { 'X-Tenant': 'acme', 'x-private': 'dropped', traceparent: TRACE.traceparent } }]);
    const got: Message[] = [];
    await source({ topic, headers: ['x-tenant'] }, async (m) => {
      got.push(m);
      return ok;
    });
    await waitFor('the record', () => got.length === 1);
    expect(got[0]!.headers).toMatchObject({ 'x-tenant': 'acme', traceparent: TRACE.traceparent });
    expect(got[0]!.headers['x-private']).toBeUndefined();
  });

  it('delivers 500 messages over 4 partitions exactly once, in order per partition', async () => {
    const topic = await kafka.createTopic(unique('src-500'), 4);
    const group = unique('group');
    const records = Array.from({ length: 500 }, (_, i) => ({ key: `k${i % 37}`, value: JSON.stringify({ i }) }));
    for (let i = 0; i < records.length; i += 100) await kafka.produce(topic, records.slice(i, i + 100));
    const seen = new Map<number, number[]>();
    const ids = new Set<string>();
    let inFlight = 0;
    let maxInFlight = 0;
    await source({ topic, group_id: group, max_in_flight: 4 }, async (m) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, Math.random() * 2));
      const p = m.meta.partition as number;
      seen.set(p, [...(seen.get(p) ?? []), Number(m.meta.offset)]);
      ids.add((m.json() as { i: number }).i.toString());
      inFlight--;
      return ok;
    });
    await waitFor('500 messages', () => [...seen.values()].reduce((n, l) => n + l.length, 0) >= 500, 60_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(ids.size).toBe(500);
    expect([...seen.values()].reduce((n, l) => n + l.length, 0)).toBe(500);
    for (const offsets of seen.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
    expect(maxInFlight).toBeLessThanOrEqual(4);
    await waitFor('every partition committed to its end', async () => {
      const committed = await kafka.committed(group, topic);
      return [...seen].every(([p, offsets]) => committed[p] === String(offsets.length));
    });
  });

  it('commits only up to the lowest unsettled offset; a restart redelivers from there', async () => {
    const topic = await kafka.createTopic(unique('src-lowest'));
    const group = unique('group');
    await kafka.produce(topic, Array.from({ length: 10 }, (_, i) => ({ value: JSON.stringify({ i }) })));
    const settled: number[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const first = await source({ topic, group_id: group, ordered: false, max_in_flight: 16 }, async (m) => {
      const offset = Number(m.meta.offset);
      if (offset === 3) await held;
      settled.push(offset);
      return ok;
    });
    await waitFor('the nine others to settle', () => settled.length === 9);
    await waitFor('the commit to stop at 3', async () => (await kafka.committed(group, topic))[0] === '3');
    await new Promise((r) => setTimeout(r, 300));
    expect((await kafka.committed(group, topic))[0]).toBe('3');
    await first.stop(); // with 3 still in the flow: a crash as far as Kafka can tell
    release();

    const again: number[] = [];
    await source({ topic, group_id: group, ordered: false }, async (m) => {
      again.push(Number(m.meta.offset));
      return ok;
    });
    await waitFor('3..9 again', () => again.length >= 7);
    await new Promise((r) => setTimeout(r, 300));
    expect([...again].sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    await waitFor('the commit to reach the end', async () => (await kafka.committed(group, topic))[0] === '10');
  });

  it('sends a poison message to the dead-letter topic with its reason while the messages behind it pass', async () => {
    const topic = await kafka.createTopic(unique('src-poison'));
    await kafka.createTopic(`${topic}.dlq`);
    const group = unique('group');
    await kafka.produce(topic, [0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: JSON.stringify({ i }), headers: { traceparent: TRACE.traceparent } })));
    const passed: number[] = [];
    let poisonId = '';
    await source({ topic, group_id: group }, async (m) => {
      const { i } = m.json() as { i: number };
      if (i === 2) {
        poisonId = m.id;
        const err = new PermanentError('VALIDATION_FAILED', 'the message does not match schema "order.v1": /i must be odd');
        err.step = '1:validate';
        throw err;
      }
      passed.push(i);
      return ok;
    });
    const [dead] = await kafka.read(`${topic}.dlq`, 1);
    await waitFor('the others', () => passed.length === 4);
    expect(passed).toEqual([0, 1, 3, 4]);
    expect(dead).toMatchObject({ key: 'k2', value: '{"i":2}' });
    expect(dead!.headers).toMatchObject({
      traceparent: TRACE.traceparent,
      'x-dlq-error-code': 'VALIDATION_FAILED',
      'x-dlq-error-message': expect.stringContaining('does not match schema'),
      'x-dlq-error-step': '1:validate',
      'x-dlq-flow': 'kafka-test',
      'x-dlq-original-topic': topic,
      'x-dlq-original-partition': '0',
      'x-dlq-original-offset': '2',
      'x-dlq-message-id': poisonId,
    });
    await waitFor('the commit past the poison', async () => (await kafka.committed(group, topic))[0] === '5');
  });

  it('holds a message whose dead-letter topic is missing, and dead-letters it once the topic exists', async () => {
    const topic = await kafka.createTopic(unique('src-nodlq'));
    const group = unique('group');
    await kafka.produce(topic, [{ value: '{"bad":true}' }, { value: '{"good":true}' }]);
    const passed: unknown[] = [];
    await source({ topic, group_id: group, dead_letter_topic: `${topic}.parked` }, async (m) => {
      if ((m.json() as { bad?: boolean }).bad) throw new PermanentError('VALIDATION_FAILED', 'bad');
      passed.push(m.json());
      return ok;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(passed).toEqual([]); // never dropped, never skipped: the partition waits
    // Nothing committed past the held record (the commit timer may commit its own offset: it comes again).
    expect(['-1', '0']).toContain((await kafka.committed(group, topic))[0]);
    await kafka.createTopic(`${topic}.parked`);
    const [dead] = await kafka.read(`${topic}.parked`, 1, 30_000);
    expect(dead!.headers['x-dlq-error-code']).toBe('VALIDATION_FAILED');
    await waitFor('the good one', () => passed.length === 1, 30_000);
  });

  it('redelivers the same message after a retryable failure, keeping the order', async () => {
    const topic = await kafka.createTopic(unique('src-retry'));
    const group = unique('group');
    await kafka.produce(topic, [0, 1, 2, 3].map((i) => ({ value: JSON.stringify({ i }) })));
    const calls: { i: number; id: string; attempt: number }[] = [];
    let failures = 0;
    await source({ topic, group_id: group }, async (m) => {
      const { i } = m.json() as { i: number };
      calls.push({ i, id: m.id, attempt: (m.meta.deliveries as number | undefined) ?? 1 });
      if (i === 1 && failures < 2) {
        failures++;
        await waitFor('nothing', () => true);
        throw hubError(failures === 1 ? 'FLOW_OVERLOADED' : 'DOWNSTREAM_UNAVAILABLE', 'not now');
      }
      return ok;
    });
    await waitFor('all four', () => calls.filter((c) => c.i === 3).length === 1);
    expect(calls.map((c) => c.i)).toEqual([0, 1, 1, 1, 2, 3]);
    const ones = calls.filter((c) => c.i === 1);
    expect(new Set(ones.map((c) => c.id)).size).toBe(1);
    // The source counts its deliveries of the record; the flow's attempt (durable retries) is not the source's.
    expect(ones.map((c) => c.attempt)).toEqual([1, 2, 3]);
    await waitFor('the commit', async () => (await kafka.committed(group, topic))[0] === '4');
  });

  it('does not take more than max_in_flight messages at once when order is not kept', async () => {
    const topic = await kafka.createTopic(unique('src-bound'), 2);
    await kafka.produce(topic, Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i }) })));
    let inFlight = 0;
    let max = 0;
    let done = 0;
    await source({ topic, ordered: false, max_in_flight: 5 }, async () => {
      max = Math.max(max, ++inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight--;
      done++;
      return ok;
    });
    await waitFor('all 60', () => done === 60, 30_000);
    expect(max).toBeLessThanOrEqual(5);
    expect(max).toBeGreaterThan(1);
  });

  it('starts without a reachable broker: not ready, then ready and consuming once the broker is there', async () => {
    const topic = await kafka.createTopic(unique('src-late'));
    await kafka.produce(topic, [{ value: '{"late":true}' }]);
    const [host, port] = BROKERS[0]!.split(':') as [string, string];
    const late = new LateBroker({ host, port: Number(port) });
    const lport = await late.reserve();
    const got: unknown[] = [];
    try {
      const s = await startSource({ brokers: [`127.0.0.1:${lport}`], topic, group_id: unique('group'), from_beginning: true, connection_timeout: '500ms' }, async (m) => {
        got.push(m.json());
        return ok;
      });
      sources.push(s);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(s.ready()).toBe(false);
      await late.open();
      await waitFor('ready', () => s.ready(), 40_000);
      await waitFor('the message', () => got.length === 1, 20_000);
      expect(got).toEqual([{ late: true }]);
    } finally {
      await Promise.all(sources.splice(0).map((s) => s.stop()));
      await late.close();
    }
  });
});

/**
 * Ordered pipelining: `deliver` here plays a flow whose sink says when its write is issued (DeliverOptions.onIssued),
 * so the source may hand over a partition's next record before the previous one is confirmed.
 */
describe('kafka source, ordered pipelining', () => {
  type PipelinedDeliver = (m: Message, options?: DeliverOptions) => Promise<FlowResult>;
  const pipelined = (config: Partial<KafkaSourceConfig> & { topic: string }, deliver: PipelinedDeliver): Promise<KafkaSource> => source(config, deliver as Deliver);
  const offsetOf = (m: Message): number => Number(m.meta.offset);
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('hands records over in offset order per partition, several in flight at once, and commits every partition to its end', async () => {
    const topic = await kafka.createTopic(unique('pipe-order'), 2);
    const group = unique('group');
    await kafka.produce(topic, Array.from({ length: 400 }, (_, i) => ({ partition: i % 2, value: JSON.stringify({ i }) })));
    const issuedOrder = new Map<number, number[]>();
    const inFlight = new Map<number, number>();
    let maxPerPartition = 0;
    let total = 0;
    let maxTotal = 0;
    let settled = 0;
    await pipelined({ topic, group_id: group, max_in_flight: 32 }, async (m, options) => {
      const p = m.meta.partition as number;
      issuedOrder.set(p, [...(issuedOrder.get(p) ?? []), offsetOf(m)]);
      inFlight.set(p, (inFlight.get(p) ?? 0) + 1);
      maxPerPartition = Math.max(maxPerPartition, inFlight.get(p)!);
      maxTotal = Math.max(maxTotal, ++total);
      options?.onIssued?.();
      // Confirms come back in any order.
      await sleep(Math.random() * 8);
      inFlight.set(p, inFlight.get(p)! - 1);
      total--;
      settled++;
      return ok;
    });
    await waitFor('400 settled', () => settled >= 400, 60_000);
    for (const offsets of issuedOrder.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
    expect(maxPerPartition).toBeGreaterThan(1);
    expect(maxTotal).toBeLessThanOrEqual(32);
    await waitFor('both partitions committed to 200', async () => {
      const committed = await kafka.committed(group, topic);
      return committed[0] === '200' && committed[1] === '200';
    });
  });

  it('never commits past an unconfirmed record while the ones behind it are confirmed', async () => {
    const topic = await kafka.createTopic(unique('pipe-mark'));
    const group = unique('group');
    await kafka.produce(topic, Array.from({ length: 10 }, (_, i) => ({ value: JSON.stringify({ i }) })));
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const settled: number[] = [];
    await pipelined({ topic, group_id: group }, async (m, options) => {
      options?.onIssued?.();
      if (offsetOf(m) === 3) await held;
      settled.push(offsetOf(m));
      return ok;
    });
    await waitFor('the nine others to settle', () => settled.length === 9);
    await waitFor('the commit at 3', async () => (await kafka.committed(group, topic))[0] === '3');
    await sleep(300);
    expect((await kafka.committed(group, topic))[0]).toBe('3');
    release();
    await waitFor('the commit at the end', async () => (await kafka.committed(group, topic))[0] === '10');
    expect(settled).toHaveLength(10);
  });

  it('after a retryable failure in the middle of a window, delivers that record and every one behind it again, in order, and commits nothing past it before', async () => {
    const topic = await kafka.createTopic(unique('pipe-fail'));
    const group = unique('group');
    await kafka.produce(topic, Array.from({ length: 12 }, (_, i) => ({ value: JSON.stringify({ i }) })));
    const calls: { offset: number; deliveries: number; pipelined: boolean }[] = [];
    let failed = false;
    let committedWhileRetried: string | undefined;
    await pipelined({ topic, group_id: group }, async (m, options) => {
      const offset = offsetOf(m);
      calls.push({ offset, deliveries: (m.meta.deliveries as number | undefined) ?? 1, pipelined: options?.onIssued !== undefined });
      options?.onIssued?.();
      if (offset === 4 && !failed) {
        // The records behind it get out and are confirmed before it fails.
        await waitFor('the ones behind it', () => calls.some((c) => c.offset === 7));
        await sleep(100);
        failed = true;
        throw hubError('DOWNSTREAM_UNAVAILABLE', 'the confirm did not come');
      }
      if (offset === 4) committedWhileRetried = (await kafka.committed(group, topic))[0];
      return ok;
    });
    await waitFor('everything through to 11 after the failure', () => failed && calls.filter((c) => c.offset === 11).length >= 1 && calls.some((c) => c.offset === 4 && c.deliveries === 2));
    await waitFor('the commit at the end', async () => (await kafka.committed(group, topic))[0] === '12');
    const again = calls.findIndex((c) => c.offset === 4 && c.deliveries === 2);
    const first = calls.slice(0, again).map((c) => c.offset);
    expect(first).toEqual(first.map((_, i) => i));
    expect(first.length).toBeGreaterThan(5);
    // 4 comes again on its own (the flow's own retries then apply to it), then everything behind it, in order.
    expect(calls[again]!.pipelined).toBe(false);
    expect(calls.slice(again).map((c) => c.offset)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(Number(committedWhileRetried ?? '-1')).toBeLessThanOrEqual(4);
  });

  it('stopping in the middle of a window commits what settled below the first unsettled record; a restart delivers from there, in order', async () => {
    const topic = await kafka.createTopic(unique('pipe-stop'));
    const group = unique('group');
    await kafka.produce(topic, Array.from({ length: 20 }, (_, i) => ({ value: JSON.stringify({ i }) })));
    const first: number[] = [];
    let release: () => void = () => {};
    const never = new Promise<void>((r) => (release = r));
    const s = await pipelined({ topic, group_id: group }, async (m, options) => {
      first.push(offsetOf(m));
      options?.onIssued?.();
      // 5 and 7 hang (their confirms never come before the stop); the others confirm.
      if (offsetOf(m) === 5 || offsetOf(m) === 7) await never;
      return ok;
    });
    await waitFor('records behind 7 handed over', () => first.includes(9));
    await sleep(200);
    sources.splice(sources.indexOf(s), 1);
    await s.stop();
    release();
    expect((await kafka.committed(group, topic))[0]).toBe('5');

    const again: number[] = [];
    await pipelined({ topic, group_id: group }, async (m, options) => {
      again.push(offsetOf(m));
      options?.onIssued?.();
      return ok;
    });
    await waitFor('5..19 again', () => again.length >= 15);
    expect(again).toEqual(Array.from({ length: 15 }, (_, i) => i + 5));
    await waitFor('the commit at the end', async () => (await kafka.committed(group, topic))[0] === '20');
  });
});
