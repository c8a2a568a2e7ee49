/**
 * Test helpers shared by the Kafka adapter's tests (not part of the adapter). The broker is the real one from
 * test/support/kafka-global-setup.ts; only the flow is faked, by the test's own `deliver`.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, Partitioners, type Admin, type IHeaders, type Producer } from 'kafkajs';
import { pino } from 'pino';
import type { AdapterContext, FlowResult, HubLimits, SourceContext } from '../../src/core/contracts.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import type { Message } from '../../src/core/message.js';
import kafka from './index.js';
import type { KafkaSinkConfig, KafkaSourceConfig } from './config.js';
import type { KafkaSink } from './sink.js';
import type { KafkaSource } from './source.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const logger = pino({ level: process.env.KAFKA_TEST_LOG ?? 'silent' });
export const limits: HubLimits = { bodyBytes: 1 << 20, maxDepth: 64 };

/** A name no other test uses: topics and groups are per test. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function adapterCtx(issues: ConfigIssue[] = [], flow = 'kafka-test'): AdapterContext {
  return { flow, baseDir: ROOT, schemasDir: join(ROOT, 'schemas'), logger, limits, report: (i) => issues.push(i) };
}

export type Deliver = (message: Message) => Promise<FlowResult>;

/** A source built through the registration, started with a SourceContext whose `deliver` the test writes. */
export async function startSource(config: KafkaSourceConfig, deliver: Deliver, flow = 'kafka-test'): Promise<KafkaSource> {
  const issues: ConfigIssue[] = [];
  const source = kafka.source!.create(config, adapterCtx(issues, flow)) as KafkaSource;
  if (issues.length > 0) throw new Error(`config issues: ${JSON.stringify(issues)}`);
  const ctx: SourceContext = { flow, logger, limits, http: undefined as never, deliver };
  await source.start(ctx);
  return source;
}

export async function startSink(config: KafkaSinkConfig): Promise<KafkaSink> {
  const issues: ConfigIssue[] = [];
  const sink = kafka.sink!.create(config, adapterCtx(issues)) as KafkaSink;
  if (issues.length > 0) throw new Error(`config issues: ${JSON.stringify(issues)}`);
  await sink.start();
  return sink;
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A plain kafkajs client for the test's own producing, consuming and administration. */
export class TestKafka {
  readonly kafka: Kafka;
  #admin: Admin | undefined;
  #producer: Producer | undefined;
  readonly #topics = new Set<string>();

  constructor(readonly brokers: string[]) {
    this.kafka = new Kafka({ clientId: 'hub-tests', brokers, logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });
  }

  async admin(): Promise<Admin> {
    if (!this.#admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.#admin = admin;
    }
    return this.#admin;
  }

  async createTopic(topic: string, partitions = 1): Promise<string> {
    const admin = await this.admin();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    this.#topics.add(topic);
    return topic;
  }

  async produce(topic: string, records: { key?: string; value: string | Buffer; headers?: IHeaders; partition?: number }[]): Promise<void> {
    if (!this.#producer) {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      this.#producer = producer;
    }
    await this.#producer.send({ topic, acks: -1, messages: records });
  }

  /** Reads `count` records of a topic from the beginning with a throwaway group. */
  async read(topic: string, count: number, timeoutMs = 20_000): Promise<{ partition: number; offset: string; key: string | null; value: string; headers: Record<string, string> }[]> {
    const consumer = this.kafka.consumer({ groupId: unique('reader'), maxWaitTimeInMs: 200 });
    const got: { partition: number; offset: string; key: string | null; value: string; headers: Record<string, string> }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
          got.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? '', headers });
        },
      });
      await waitFor(`${count} records in ${topic} (have ${got.length})`, () => got.length >= count, timeoutMs);
    } finally {
      await consumer.disconnect();
    }
    return got;
  }

  /** The group's committed offset per partition ("-1" for none). */
  async committed(groupId: string, topic: string): Promise<Record<number, string>> {
    const admin = await this.admin();
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries((entry?.partitions ?? []).map((p) => [p.partition, p.offset]));
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    if (admin && this.#topics.size > 0) await admin.deleteTopics({ topics: [...this.#topics] }).catch(() => {});
    await this.#producer?.disconnect().catch(() => {});
    await admin?.disconnect().catch(() => {});
  }
}

const run = promisify(execFile);
const SCRIPT = join(ROOT, 'scripts', 'kafka.sh');

/** The test broker's PID (fault tests only: the broker scripts/kafka.sh started). */
export async function brokerPid(): Promise<number> {
  const { stdout } = await run('bash', [SCRIPT, 'pid']);
  return Number(stdout.trim());
}

/** kill -9 of exactly the test broker, then wait until it is gone. */
export async function killBroker(): Promise<void> {
  const pid = await brokerPid();
  process.kill(pid, 'SIGKILL');
  await waitFor('the broker to die', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
}

/** Starts the test broker again on its data (nothing wiped). */
export async function restartBroker(): Promise<void> {
  await run('bash', [SCRIPT, 'start'], { timeout: 180_000 });
}

/**
 * A TCP port that forwards to the broker only once `open()` is called: a broker that is "not there yet" for the
 * client's bootstrap, without stopping the shared one. (After bootstrap the client talks to the advertised address.)
 */
export class LateBroker {
  readonly #sockets = new Set<Socket>();
  readonly #server = createServer((socket) => {
    const upstream = connect(this.target.port, this.target.host);
    this.#sockets.add(socket).add(upstream);
    socket.pipe(upstream).pipe(socket);
    const end = (): void => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', end);
    upstream.on('error', end);
  });
  port = 0;

  constructor(readonly target: { host: string; port: number }) {}

  /** Picks a free port and leaves it closed: connections are refused until open(). */
  async reserve(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as AddressInfo).port;
    this.#server.close();
    await once(this.#server, 'close');
    return this.port;
  }

  async open(): Promise<void> {
    this.#server.listen(this.port, '127.0.0.1');
    await once(this.#server, 'listening');
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    for (const s of this.#sockets) s.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }
}
