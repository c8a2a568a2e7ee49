/**
 * The broker dies (kill -9) under a running source → flow → sink chain and comes back: nothing is lost, and the
 * source and sink recover by themselves. Runs in the `faults` project (one file at a time, after the rest) and
 * leaves the broker running.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { SendContext } from '../../src/core/contracts.js';
import type { KafkaSink } from './sink.js';
import type { KafkaSource } from './source.js';
import { holdBroker } from '../../test/support/broker-lock.js';
import { brokerPid, killBroker, logger, restartBroker, startSink, startSource, TestKafka, unique, waitFor } from './test-support.js';
import { sendContext } from '../../src/runtime/testing.js';

const brokers = inject('kafkaBrokers');
const managed = inject('kafkaManaged');
const BROKERS = brokers.split(',');
holdBroker('kafka');

async function ensureBrokerUp(): Promise<void> {
  if (!managed) return;
  const alive = await brokerPid().then(
    () => true,
    () => false,
  );
  if (!alive) await restartBroker();
}

describe.skipIf(!managed)('kafka adapter: the broker is killed and restarted', () => {
  afterAll(ensureBrokerUp, 180_000);

  it('loses nothing and resumes by itself', { timeout: 240_000 }, async () => {
    const kafka = new TestKafka(BROKERS);
    const input = await kafka.createTopic(unique('fault-in'), 2);
    const output = await kafka.createTopic(unique('fault-out'), 2);
    let sink: KafkaSink | undefined;
    let source: KafkaSource | undefined;
    const ctx = (): SendContext => sendContext('kafka-fault', logger, AbortSignal.timeout(10_000));
    try {
      sink = await startSink({ brokers: BROKERS, topic: output, key: '{{ $meta.key }}', timeout: '5s' });
      const out = sink;
      source = await startSource(
        { brokers: BROKERS, topic: input, group_id: unique('group'), from_beginning: true, redelivery: { initial: '200ms', max: '2s' }, session_timeout: '6s' },
        async (m) => {
          await out.send(m, ctx());
          return { replies: [] };
        },
        'kafka-fault',
      );
      const src = source;
      await waitFor('the source to join', () => src.ready(), 30_000);

      const N = 300;
      let produced = 0;
      const produceSome = async (until: number): Promise<void> => {
        while (produced < until) {
          const batch = Array.from({ length: Math.min(10, until - produced) }, (_, j) => ({ key: `k${(produced + j) % 13}`, value: JSON.stringify({ n: produced + j }) }));
          try {
            await kafka.produce(input, batch);
            produced += batch.length;
          } catch {
            await new Promise((r) => setTimeout(r, 300)); // the broker is away: the test's producer waits too
          }
        }
      };
      await produceSome(100);

      // Read the output all along, with its own group: which n arrived (duplicates are allowed, losses are not).
      const arrived = new Set<number>();
      const reader = kafka.kafka.consumer({ groupId: unique('reader'), maxWaitTimeInMs: 200 });
      await reader.connect();
      await reader.subscribe({ topic: output, fromBeginning: true });
      await reader.run({ eachMessage: async ({ message }) => void arrived.add((JSON.parse(message.value!.toString()) as { n: number }).n) });

      await waitFor('some records through the chain', () => arrived.size >= 20, 30_000);
      await killBroker();
      await waitFor('the source to report not ready', () => !src.ready(), 30_000);
      const startedAt = Date.now();
      await restartBroker();
      logger.info({ ms: Date.now() - startedAt }, 'broker back');
      await produceSome(N);

      await waitFor(`all ${N} records in the output (have ${arrived.size})`, () => arrived.size === N, 120_000);
      expect([...arrived].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
      await waitFor('the source to be ready again', () => src.ready(), 60_000);
      await waitFor('the sink to be ready again', () => out.ready(), 60_000);
      await reader.disconnect();
    } finally {
      await ensureBrokerUp();
      await source?.stop();
      await sink?.stop();
      await kafka.close();
    }
  });
});
