import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer } from 'kafkajs';
import { inject } from 'vitest';
import { killBroker, restartBroker, TestKafka, unique } from '../../../adapters/kafka/test-support.js';
import type { Driver, Endpoint, Received } from '../driver.js';

function brokers(): string {
  const b = inject('kafkaBrokers');
  if (!b) throw new Error(`no Kafka broker for the test run: ${inject('kafkaError') ?? 'unknown reason'}`);
  return b;
}

/** Kafka: the source consumes a topic the test produces to; the sink produces to a topic the test consumes. */
export const kafkaDriver: Driver = {
  adapter: 'kafka',
  features: {
    source: true,
    sink: true,
    ordered: true,
    persistent: true,
    consumerGroups: true,
    requestReply: false,
    broker: {
      restart: async () => {
        await killBroker();
        await restartBroker();
      },
      stop: killBroker,
      start: restartBroker,
    },
  },
  env: () => ({ KAFKA_BROKERS: brokers() }),
  async open(): Promise<Endpoint> {
    const id = randomUUID().slice(0, 8);
    const kafka = new TestKafka([brokers()]);
    // Right after a broker restart (the previous fault case) metadata can still be settling: retry, bounded.
    const create = async (topic: string): Promise<string> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          return await kafka.createTopic(topic, 1);
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(500);
        }
      }
    };
    // One partition each: the conformance cases check order across the whole stream.
    const inTopic = await create(`conformance.in.${id}`);
    const outTopic = await create(`conformance.out.${id}`);
    await create(`${inTopic}.dlq`);
    const received: Received[] = [];
    let consumer: Consumer | undefined;
    const consume = async (): Promise<void> => {
      consumer = kafka.kafka.consumer({ groupId: unique('conformance-reader'), maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic: outTopic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
          received.push({ body: message.value?.toString('utf8') ?? '', headers });
        },
      });
    };
    return {
      sourceConfig: { brokers: brokers(), topic: inTopic, group_id: `conformance.${id}`, from_beginning: true, redelivery: { initial: '200ms', max: '2s' }, session_timeout: '10s' },
      sinkConfig: { brokers: brokers(), topic: outTopic, key: 'k' },
      async send(body, headers) {
        const deadline = Date.now() + 90_000;
        for (;;) {
          try {
            await kafka.produce(inTopic, [{ key: 'k', value: JSON.stringify({ payload: body }), headers: { ...headers, 'content-type': 'application/json' } }]);
            return {};
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await sleep(250);
          }
        }
      },
      async receive(n, timeoutMs = 20_000) {
        if (!consumer) await consume();
        const deadline = Date.now() + timeoutMs;
        while (received.length < n) {
          if (Date.now() > deadline) throw new Error(`got ${received.length} of ${n} Kafka records within ${timeoutMs} ms`);
          await sleep(25);
        }
        return received;
      },
      async close() {
        await consumer?.disconnect().catch(() => {});
        await kafka.close();
      },
    };
  },
};
