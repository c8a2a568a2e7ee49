/**
 * Scenario 2: Kafka -> AMQP.
 *
 * Load: one kafkajs producer (acks=-1) writes N JSON bodies to a fresh topic with P partitions (record i to
 * partition i % P), in requests of 500 records one after another, each record carrying its send time in x-sent-at.
 * Output: an amqplib consumer (no-ack) reads the fresh queue bound to the fresh exchange, in the same process.
 *
 * Pipes, all ordered per partition and committing only offsets whose publishes were confirmed:
 * - hub: a flow with a kafka source (fresh group, ordered: the adapter's default, which pipelines this `to`-only
 *   flow; max_in_flight and the flow's concurrency at the prefetch, 256, as scenario 1's flow) and an amqp sink
 *   (publisher confirms, persistent, mandatory: the adapter's defaults) to the exchange. The source keeps x-sent-at,
 *   so the hub's latencies come from the header like the raw pipes'.
 * - raw: kafkajs eachBatch (P partitions at once) -> every record of the batch published in offset order on one
 *   amqplib confirm channel, persistent, without waiting in between -> all confirms awaited -> resolveOffset(last)
 *   -> commit (kafkajs commits resolved offsets at the end of the batch). Order within a partition holds because
 *   a channel delivers publishes to a queue in publish order; after a failure the batch is fetched and published
 *   again from its first unconfirmed record (duplicates possible, like the hub).
 * - strict (raw, for reference): kafkajs eachMessage (P partitions at once) -> publish -> await its confirm ->
 *   next record: one record in flight per partition, the hub's ordered discipline before pipelining, by hand.
 */
import amqp, { type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import type { Admin, Producer } from 'kafkajs';
import { kafkaClient, now, orderBody, Recorder, SENT_AT, SETTINGS, uniqueName, within, type RoundResult } from './common.js';
import { startHub, type RunningHub } from './hub.js';
import { traceReport, traceRound } from './trace.js';

export const RAW_DESCRIPTION =
  'raw: kafkajs eachBatch (P partitions concurrently) -> publish every record of the batch in order on one confirm ' +
  'channel (persistent) -> await all confirms -> resolveOffset(last) -> commit';
export const STRICT_DESCRIPTION = 'strict: kafkajs eachMessage (P partitions concurrently) -> publish -> await its confirm -> next; commit after';

const ROUTING_KEY = 'bench';

interface Pipe {
  stop(): Promise<void>;
}

/** A publish on a confirm channel as a promise of its confirm; waits for 'drain' first when the buffer is full. */
class Publisher {
  #drained: Promise<void> | undefined;
  constructor(readonly ch: ConfirmChannel) {}

  async publish(exchange: string, body: Buffer, options: Options.Publish): Promise<void> {
    while (this.#drained) await this.#drained;
    return new Promise<void>((resolve, reject) => {
      const written = this.ch.publish(exchange, ROUTING_KEY, body, options, (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
      if (!written && !this.#drained) this.#drained = new Promise<void>((release) => this.ch.once('drain', () => ((this.#drained = undefined), release())));
    });
  }
}

function options(sentAt: Buffer | string | undefined): Options.Publish {
  return { persistent: true, contentType: 'application/json', headers: sentAt === undefined ? {} : { [SENT_AT]: sentAt.toString() } };
}

async function startRaw(mode: 'raw' | 'strict', topic: string, groupId: string, exchange: string): Promise<Pipe> {
  const conn = await amqp.connect(SETTINGS.amqpUrl);
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  const publisher = new Publisher(ch);
  const consumer = kafkaClient(`bench-${mode}-s2`).consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  if (mode === 'raw') {
    await consumer.run({
      partitionsConsumedConcurrently: SETTINGS.partitions,
      eachBatchAutoResolve: false,
      autoCommit: true,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
        const confirms: Promise<void>[] = [];
        let last: string | undefined;
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break;
          confirms.push(publisher.publish(exchange, m.value ?? Buffer.alloc(0), options(m.headers?.[SENT_AT] as Buffer | undefined)));
          last = m.offset;
        }
        await Promise.all(confirms);
        if (last !== undefined) resolveOffset(last);
        await commitOffsetsIfNecessary();
        await heartbeat();
      },
    });
  } else {
    await consumer.run({
      partitionsConsumedConcurrently: SETTINGS.partitions,
      autoCommit: true,
      eachMessage: async ({ message: m }) => {
        await publisher.publish(exchange, m.value ?? Buffer.alloc(0), options(m.headers?.[SENT_AT] as Buffer | undefined));
      },
    });
  }
  await within(30_000, `the ${mode} consumer joining its group`, joined);
  return {
    async stop() {
      await consumer.disconnect().catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}

function hubFlow(name: string, topic: string, groupId: string, exchange: string): string {
  return `name: ${name}
description: Benchmark flow, Kafka to AMQP.
source:
  kafka:
    brokers: \${env:BENCH_KAFKA_BROKERS}
    topic: ${topic}
    group_id: ${groupId}
    from_beginning: true
    max_in_flight: ${SETTINGS.prefetch}
    headers: [${SENT_AT}]
steps:
  - to: out
sinks:
  out:
    amqp:
      url: \${env:BENCH_AMQP_URL}
      exchange: ${exchange}
      routing_key: ${ROUTING_KEY}
concurrency: ${SETTINGS.prefetch}
`;
}

/** Produces bodies[0..n) in requests of 500 with acks=-1, record i to partition i % P. */
async function produceAll(producer: Producer, topic: string, bodies: Buffer[], rec: Recorder): Promise<void> {
  const chunk = 500;
  for (let start = 0; start < bodies.length; start += chunk) {
    const messages = [];
    for (let seq = start; seq < Math.min(bodies.length, start + chunk); seq++) {
      const t = now();
      rec.sent(seq, t);
      messages.push({ partition: seq % SETTINGS.partitions, value: bodies[seq]!, headers: { [SENT_AT]: t.toFixed(3), 'content-type': 'application/json' } });
    }
    await producer.send({ topic, acks: -1, messages });
  }
}

export async function roundKafkaToAmqp(pipe: 'raw' | 'hub' | 'strict', n: number, admin: Admin, amqpConn: ChannelModel): Promise<RoundResult> {
  const topic = uniqueName('s2.in');
  const groupId = uniqueName('s2.group');
  const exchange = uniqueName('s2.out');
  const queue = uniqueName('s2.out.q');
  const bodies = Array.from({ length: n }, (_, i) => orderBody(i));
  const rec = new Recorder(n);
  await admin.createTopics({ topics: [{ topic, numPartitions: SETTINGS.partitions, replicationFactor: 1 }], waitForLeaders: true });
  const ch = await amqpConn.createChannel();
  ch.on('error', () => {});
  let pipeHandle: Pipe | undefined;
  let producer: Producer | undefined;
  try {
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, ROUTING_KEY);
    await ch.consume(queue, (msg) => msg && rec.receive(msg.content, msg.properties.headers?.[SENT_AT]), { noAck: true });

    let running: RunningHub | undefined;
    if (pipe === 'hub') {
      const name = `bench-s2-${Date.now().toString(36)}`;
      pipeHandle = running = await startHub(name, hubFlow(name, topic, groupId, exchange));
    } else pipeHandle = await startRaw(pipe, topic, groupId, exchange);
    traceRound(pipe, running && (() => running.hub.runners));

    // A producer per round: kafkajs keeps refreshing metadata for every topic it ever wrote to, and fails once one
    // of them (an earlier round's) is deleted.
    producer = kafkaClient('bench-load').producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const sending = produceAll(producer, topic, bodies, rec);
    const complete = await rec.wait(sending, SETTINGS.drainTimeoutMs);
    return { ...rec.result(pipe, complete), trace: traceReport() };
  } finally {
    await producer?.disconnect().catch(() => {});
    await pipeHandle?.stop().catch((err: unknown) => process.stderr.write(`bench: stopping the ${pipe} pipe: ${(err as Error).message}\n`));
    await ch.deleteQueue(queue).catch(() => {});
    await ch.deleteExchange(exchange).catch(() => {});
    await ch.close().catch(() => {});
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
  }
}
