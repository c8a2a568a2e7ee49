/**
 * Scenario 1: AMQP -> transform -> Kafka.
 *
 * Load: one AMQP connection publishes N persistent JSON bodies to a fresh durable queue through the default
 * exchange, on a confirm channel with up to 1,000 unconfirmed publishes, each carrying its send time in x-sent-at.
 * Output: a kafkajs consumer (fresh group, from the beginning) reads the fresh output topic in the same process.
 *
 * Pipes:
 * - hub: a flow with an amqp source (prefetch 256, concurrency 256 as the amqp README advises), a transform step
 *   (JSONata) and a kafka sink (acks=all, idempotent, the adapter's batching: linger 5ms, batch_size 200).
 * - raw: amqplib consumer with the same prefetch -> the same transformation in plain JS -> one idempotent kafkajs
 *   producer (acks=-1). Sends are batched the way one would by hand with an idempotent producer (which allows
 *   one request in flight): while a send is in flight, deliveries queue up; when it resolves, everything queued
 *   (at most the prefetch) goes out as the next send, with no linger timer. After a send resolves, its deliveries
 *   are acked with one basic.ack (multiple=true) of the last one: every earlier delivery is in this or an earlier
 *   send, which already resolved (at least once, ack after produce, like the hub).
 *
 * Scenario 3 runs the hub pipe alone, once per journal policy (`HubVariant`).
 */
import { setImmediate as yieldNow } from 'node:timers/promises';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Partitioners, type Admin, type Consumer, type Message as KafkaRecord } from 'kafkajs';
import type { JournalPolicy } from '../src/journal/contract.js';
import { kafkaClient, now, orderBody, Recorder, SENT_AT, SETTINGS, TRANSFORM_JSONATA, transformOrder, uniqueName, within, type RoundResult } from './common.js';
import { startHub, type RunningHub } from './hub.js';
import { traceReport, traceRound } from './trace.js';

export const RAW_DESCRIPTION =
  'raw: amqplib consumer (prefetch P) -> JSON.parse + plain-JS transform -> one idempotent kafkajs producer, acks=-1; ' +
  'deliveries queue while one send is in flight and go out together when it resolves (natural batching, no linger, ' +
  'at most P per send); then one basic.ack multiple=true for the batch';

interface Pipe {
  stop(): Promise<void>;
}

/** The hand-written pipe. */
async function startRaw(queue: string, topic: string): Promise<Pipe> {
  const conn = await amqp.connect(SETTINGS.amqpUrl);
  conn.on('error', () => {});
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  await ch.assertQueue(queue, { durable: true });
  await ch.prefetch(SETTINGS.prefetch);
  const producer = kafkaClient('bench-raw-s1').producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();

  let queued: { msg: ConsumeMessage; record: KafkaRecord }[] = [];
  let inFlight: Promise<void> | undefined;
  const pump = (): void => {
    if (inFlight || queued.length === 0) return;
    const batch = queued.splice(0, SETTINGS.prefetch);
    inFlight = producer
      .send({ topic, acks: -1, messages: batch.map((b) => b.record) })
      .then(
        () => ch.ack(batch[batch.length - 1]!.msg, true),
        (err: unknown) => {
          process.stderr.write(`raw s1: produce failed (${(err as Error).message}); requeueing ${batch.length}\n`);
          for (const b of batch) ch.nack(b.msg, false, true);
        },
      )
      .finally(() => {
        inFlight = undefined;
        pump();
      });
  };
  const { consumerTag } = await ch.consume(
    queue,
    (msg) => {
      if (!msg) return;
      let value: Buffer;
      try {
        value = transformOrder(msg.content);
      } catch {
        ch.nack(msg, false, false);
        return;
      }
      const sentAt = msg.properties.headers?.[SENT_AT] as string | undefined;
      queued.push({ msg, record: { value, headers: { 'content-type': 'application/json', ...(sentAt ? { [SENT_AT]: sentAt } : {}) } } });
      pump();
    },
    { noAck: false },
  );
  return {
    async stop() {
      await ch.cancel(consumerTag).catch(() => {});
      while (inFlight) await inFlight;
      queued = [];
      await conn.close().catch(() => {});
      await producer.disconnect().catch(() => {});
    },
  };
}

/** How the hub pipe runs: the flow's `journal` policy (unset: the flow says nothing, so the default) and its backend. */
export interface HubVariant {
  journal?: JournalPolicy;
  /** The journal on this Redis rather than the embedded store. */
  redisUrl?: string;
}

function hubFlow(name: string, queue: string, topic: string, deadExchange: string, journal: JournalPolicy | undefined): string {
  return `name: ${name}
description: Benchmark flow, AMQP to Kafka with a transformation.
source:
  amqp:
    url: \${env:BENCH_AMQP_URL}
    queue: ${queue}
    prefetch: ${SETTINGS.prefetch}
    headers: [${SENT_AT}]
    dead_letter: { exchange: ${deadExchange}, queue: false }
steps:
  - transform:
      jsonata: '${TRANSFORM_FOR_YAML}'
  - to: out
sinks:
  out:
    kafka:
      brokers: \${env:BENCH_KAFKA_BROKERS}
      topic: ${topic}
concurrency: ${SETTINGS.prefetch}
${journal ? `journal: ${journal}\n` : ''}`;
}

const TRANSFORM_FOR_YAML = TRANSFORM_JSONATA.replaceAll("'", "''");

/** Publishes bodies[0..n) with confirms, at most `window` unconfirmed, yielding to the event loop every 64. */
async function publishAll(conn: ChannelModel, queue: string, bodies: Buffer[], rec: Recorder): Promise<void> {
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  const window = 1_000;
  let outstanding = 0;
  let failed = 0;
  let wake: (() => void) | undefined;
  for (let seq = 0; seq < bodies.length; seq++) {
    while (outstanding >= window) await new Promise<void>((resolve) => (wake = resolve));
    const t = now();
    rec.sent(seq, t);
    outstanding++;
    const written = ch.publish('', queue, bodies[seq]!, { persistent: true, contentType: 'application/json', headers: { [SENT_AT]: t.toFixed(3) } }, (err: unknown) => {
      outstanding--;
      if (err) failed++;
      const w = wake;
      wake = undefined;
      w?.();
    });
    if (!written) await new Promise<void>((resolve) => ch.once('drain', resolve));
    else if (seq % 64 === 63) await yieldNow();
  }
  await ch.waitForConfirms();
  await ch.close();
  if (failed > 0) throw new Error(`${failed} publishes were not confirmed`);
}

/** One round of one pipe: fresh queue and topic, output reader joined before the first send, everything deleted after. */
export async function roundAmqpToKafka(pipe: 'raw' | 'hub', n: number, admin: Admin, loadConn: ChannelModel, variant: HubVariant = {}): Promise<RoundResult> {
  const queue = uniqueName('s1.in');
  const topic = uniqueName('s1.out');
  const deadExchange = uniqueName('s1.dead');
  const readerGroup = uniqueName('s1.reader');
  const bodies = Array.from({ length: n }, (_, i) => orderBody(i));
  const rec = new Recorder(n);
  await admin.createTopics({ topics: [{ topic, numPartitions: SETTINGS.partitions, replicationFactor: 1 }], waitForLeaders: true });

  let reader: Consumer | undefined;
  let pipeHandle: Pipe | undefined;
  try {
    reader = kafkaClient('bench-reader').consumer({ groupId: readerGroup, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
    const joined = new Promise<void>((resolve) => reader!.on(reader!.events.GROUP_JOIN, () => resolve()));
    await reader.connect();
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) rec.receive(m.value ?? Buffer.alloc(0), m.headers?.[SENT_AT]);
      },
    });
    await within(30_000, 'the output reader joining its group', joined);

    let running: RunningHub | undefined;
    if (pipe === 'raw') pipeHandle = await startRaw(queue, topic);
    else {
      const name = `bench-s1-${Date.now().toString(36)}`;
      pipeHandle = running = await startHub(name, hubFlow(name, queue, topic, deadExchange, variant.journal), variant.redisUrl ? { redisUrl: variant.redisUrl } : {});
    }
    traceRound(pipe, running && (() => running.hub.runners));

    const sending = publishAll(loadConn, queue, bodies, rec);
    const complete = await rec.wait(sending, SETTINGS.drainTimeoutMs);
    return { ...rec.result(pipe, complete), trace: traceReport() };
  } finally {
    await pipeHandle?.stop().catch((err: unknown) => process.stderr.write(`bench: stopping the ${pipe} pipe: ${(err as Error).message}\n`));
    await reader?.disconnect().catch(() => {});
    const ch = await loadConn.createChannel();
    ch.on('error', () => {});
    for (const q of [queue, `${queue}.retry`]) await ch.deleteQueue(q).catch(() => {});
    await ch.deleteExchange(deadExchange).catch(() => {});
    await ch.close().catch(() => {});
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => {});
    await admin.deleteGroups([readerGroup]).catch(() => {});
  }
}
