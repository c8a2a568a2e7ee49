/**
 * Ordered pipelining end to end, in a real hub with the real brokers: a Kafka source feeding a `to`-only flow whose
 * AMQP sink says when each publish is on its channel (SendContext.issued), so a partition has several records in
 * the flow at once. Checked: the records reach the queue in offset order per partition, more records are in the
 * flow at once than there are partitions, and every partition is committed to its end.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { builtinRegistry } from '../../src/builtins.js';
import { defaultHubConfig } from '../../src/config/hub-config.js';
import { Hub } from '../../src/hub.js';
import { Broker, BROKER_URL } from '../amqp/test-support.js';
import { ROOT, TestKafka, unique, waitFor } from './test-support.js';

const brokers = inject('kafkaBrokers');
if (!brokers) throw new Error(inject('kafkaError') || 'no Kafka broker for the tests');

const PARTITIONS = 3;
const PER_PARTITION = 200;

describe('kafka source to amqp sink, pipelined in a hub', () => {
  let kafka: TestKafka;
  let amqp: Broker;
  let hub: Hub | undefined;
  let dir: string;
  const topic = unique('pipe-e2e');
  const group = unique('group');
  const exchange = unique('pipe-e2e.out');
  const queue = unique('pipe-e2e.q');

  beforeAll(async () => {
    kafka = new TestKafka(brokers.split(','));
    amqp = await new Broker().open();
    amqp.track({ queues: [queue], exchanges: [exchange] });
    const ch = await amqp.channel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, 'out');
    await ch.close();
    await kafka.createTopic(topic, PARTITIONS);
    dir = mkdtempSync(join(tmpdir(), 'kafka-pipelining-'));
    writeFileSync(
      join(dir, 'pipelined.yaml'),
      `name: pipelined
source:
  kafka: { brokers: "${brokers}", topic: ${topic}, group_id: ${group}, from_beginning: true, max_in_flight: 64 }
steps:
  - set_headers: { x-seen: "yes" }
  - to: out
sinks:
  out:
    amqp: { url: "\${env:AMQP_URL}", exchange: ${exchange}, routing_key: out }
concurrency: 64
`,
    );
    hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir: dir, schemasDir: join(ROOT, 'schemas'), logLevel: 'silent', shutdownGraceMs: 2000, journal: { dir: join(dir, '.journal') } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { AMQP_URL: BROKER_URL },
    });
    await hub.listen();
    await waitFor('the flow ready', () => hub!.runners.every((r) => r.ready()), 30_000);
  }, 60_000);

  afterAll(async () => {
    await hub?.stop();
    await amqp?.cleanup();
    await kafka?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes in offset order per partition with several records of a partition in flight, and commits every partition to its end', async () => {
    const runner = hub!.runners[0]!;
    let maxInFlight = 0;
    const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, runner.stats.inFlight)), 1);
    try {
      const records = Array.from({ length: PARTITIONS * PER_PARTITION }, (_, j) => ({ partition: j % PARTITIONS, value: JSON.stringify({ partition: j % PARTITIONS, seq: Math.floor(j / PARTITIONS) }) }));
      for (let i = 0; i < records.length; i += 150) await kafka.produce(topic, records.slice(i, i + 150));
      const got = await amqp.take(queue, records.length, 60_000);
      const seqs = new Map<number, number[]>();
      for (const m of got) {
        const { partition, seq } = JSON.parse(m.content.toString('utf8')) as { partition: number; seq: number };
        expect(m.properties.headers?.['x-seen']).toBe('yes');
        seqs.set(partition, [...(seqs.get(partition) ?? []), seq]);
      }
      expect([...seqs.keys()].sort()).toEqual([0, 1, 2]);
      for (const list of seqs.values()) expect(list).toEqual(Array.from({ length: PER_PARTITION }, (_, i) => i));
      await waitFor('every partition committed to its end', async () => Object.values(await kafka.committed(group, topic)).every((o) => o === String(PER_PARTITION)), 30_000);
    } finally {
      clearInterval(sampler);
    }
    expect(maxInFlight).toBeGreaterThan(PARTITIONS);
  }, 120_000);
});
