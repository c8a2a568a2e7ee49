/**
 * What the replica tests (test/replicas.fault.test.ts, test/restart-ready.fault.test.ts) share: hub processes
 * running test/fixtures/replicas/ on one Redis journal, one Kafka consumer group, one RabbitMQ queue and one REST
 * peer, each test with names of its own; publishing by id on either broker; and counting what the peer got.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { inject } from 'vitest';
import { Broker, BROKER_URL } from '../../adapters/amqp/test-support.js';
import { TestKafka } from '../../adapters/kafka/test-support.js';
import { deleteRedisPrefix, logLines, Peer, publishIds } from './journal-faults.js';
import { ROOT, startHub, type HubProcess } from './processes.js';

export const REPLICAS_CONFIG = join(ROOT, 'test', 'fixtures', 'replicas', 'hub.yaml');
export const SHARED_REDIS = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** What the peer got of a set of ids: sent, delivered (accepted at least once), duplicated (accepted beyond once), lost. */
export interface Tally {
  sent: number;
  delivered: number;
  duplicated: number;
  lost: number;
}

export class ReplicaRig {
  readonly run = randomBytes(3).toString('hex');
  readonly topic: string;
  readonly group: string;
  readonly queue: string;
  readonly prefix: string;
  readonly kafka: TestKafka;
  readonly broker = new Broker();
  readonly hubs: HubProcess[] = [];

  /** `answer`: the peer's status for each try of an id (see Peer). `redisUrl`: the journal (the shared Redis by default). */
  constructor(
    name: string,
    readonly peer: Peer,
    readonly redisUrl = SHARED_REDIS,
  ) {
    const brokers = inject('kafkaBrokers');
    if (!brokers) throw new Error(`no Kafka broker for the test run: ${inject('kafkaError') || 'unknown reason'}`);
    this.kafka = new TestKafka(brokers.split(','));
    this.topic = `hubtest.${name}.${this.run}`;
    this.group = `hubtest.${name}.${this.run}`;
    this.queue = `hubtest.${name}.${this.run}`;
    this.prefix = `hubtest:${name}:${this.run}`;
  }

  /** Opens the test's connections, the peer and the topic (`partitions` of them). */
  async open(partitions: number): Promise<this> {
    await this.broker.open();
    this.broker.track({ queues: [this.queue, `${this.queue}.retry`] });
    await this.peer.start();
    await this.kafka.createTopic(this.topic, partitions);
    return this;
  }

  get env(): NodeJS.ProcessEnv {
    return {
      HUB_CONFIG: REPLICAS_CONFIG,
      REDIS_URL: this.redisUrl,
      HUB_JOURNAL_PREFIX: this.prefix,
      KAFKA_BROKERS: this.kafka.brokers.join(','),
      AMQP_URL: BROKER_URL,
      REPLICAS_TOPIC: this.topic,
      REPLICAS_GROUP: this.group,
      REPLICAS_QUEUE: this.queue,
      REPLICAS_PEER: this.peer.url,
    };
  }

  /** Starts one more replica (a process of its own) and, unless told not to, waits until it is ready. */
  async start(options: { waitReady?: boolean; readyTimeoutMs?: number } = {}): Promise<HubProcess> {
    const hub = await startHub([], { cwd: ROOT, env: this.env, readyTimeoutMs: options.readyTimeoutMs ?? 45_000, ...(options.waitReady === false ? { waitReady: false } : {}) });
    this.hubs.push(hub);
    return hub;
  }

  /** One Kafka record per id, its body `{"id": ...}`, keyed by the id (spread over the partitions). */
  async produce(ids: string[]): Promise<void> {
    await this.kafka.produce(
      this.topic,
      ids.map((id) => ({ key: id, value: JSON.stringify({ id }) })),
    );
  }

  /** One persistent RabbitMQ message per id on the queue, confirmed. */
  async publish(ids: string[]): Promise<void> {
    await publishIds(this.broker, this.queue, ids);
  }

  tally(ids: string[]): Tally {
    let delivered = 0;
    let duplicated = 0;
    for (const id of ids) {
      const n = this.peer.accepted.get(id) ?? 0;
      if (n > 0) delivered++;
      if (n > 1) duplicated += n - 1;
    }
    return { sent: ids.length, delivered, duplicated, lost: ids.length - delivered };
  }

  /** Stops the hubs still running, then removes the topic, queues, journal keys and the peer. */
  async close(): Promise<void> {
    await Promise.all(this.hubs.map((h) => h.stop().catch(() => {})));
    await this.kafka.close();
    await this.broker.cleanup().catch(() => {});
    await this.broker.close().catch(() => {});
    await this.peer.close();
    await deleteRedisPrefix(this.redisUrl, this.prefix).catch(() => {});
  }
}

/** Ids `<kind>-<run>-<n>` for n from `from`, `count` of them. */
export function ids(kind: string, run: string, count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `${kind}-${run}-${String(from + i).padStart(5, '0')}`);
}

/**
 * How long after `since` the hub's process was up and listening (its own log line): the part of a (re)start that is
 * Node starting and loading the flows, long on a machine short of CPU, and nothing the group protocol decides.
 */
export function listeningAfter(hub: HubProcess, since: number): number {
  const [line] = logLines(hub.logs(), 'hub listening on');
  if (!line) throw new Error(`the hub never said it listens:\n${hub.logs()}`);
  return (line.time as number) - since;
}

/** Waits until `check` holds, polling every 50 ms; rejects with `what` when `ms` pass first. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
