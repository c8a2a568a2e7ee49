/**
 * Helpers for the AMQP adapter's tests, which run against the real RabbitMQ (AMQP_TEST_URL, default
 * amqp://guest:guest@127.0.0.1:5672). Each test names its exchanges and queues with a random suffix and deletes them.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import type { ChannelModel, GetMessage } from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { AdapterContext, FlowResult, SourceContext } from '../../src/core/contracts.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';

export const BROKER_URL = process.env.AMQP_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const BROKER = new URL(BROKER_URL);
export const BROKER_HOST = BROKER.hostname;
export const BROKER_PORT = Number(BROKER.port || 5672);

export const limits = { bodyBytes: 1 << 20, maxDepth: 64 };

export function unique(prefix: string): string {
  return `hubtest.${prefix}.${randomBytes(4).toString('hex')}`;
}

/** A logger that keeps its lines, to check what an operator would read. */
export function recordingLogger(level = 'debug'): { logger: Logger; lines: { level: number; msg: string; [k: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { logger, lines: lines as { level: number; msg: string; [k: string]: unknown }[] };
}

export const silent = pino({ level: 'silent' });

export function adapterCtx(issues: ConfigIssue[] = [], logger: Logger = silent, flow = 'amqp-test'): AdapterContext {
  return { flow, baseDir: '/flows', schemasDir: '/schemas', logger, limits, report: (i) => issues.push(i) };
}

export function sourceCtx(deliver: (m: Message) => Promise<FlowResult | void>, logger: Logger = silent, flow = 'amqp-test'): SourceContext {
  return {
    flow,
    logger,
    http: {} as FastifyInstance,
    limits,
    deliver: async (m) => (await deliver(m)) ?? { replies: [] },
  };
}

export function message(value: unknown, headers: Record<string, string> = {}): Message {
  return new Message({ value, headers, meta: { flow: 'amqp-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A plain amqplib connection the test uses to look at and clean up the broker, independent of the adapter. */
export class Broker {
  #conn: ChannelModel | undefined;
  readonly #queues = new Set<string>();
  readonly #exchanges = new Set<string>();

  async open(): Promise<this> {
    await this.#connection();
    return this;
  }

  /** The test's own connection, opened again after a broker restart took it away. */
  async #connection(): Promise<ChannelModel> {
    if (this.#conn) return this.#conn;
    const conn = await amqp.connect(BROKER_URL);
    conn.on('error', () => {});
    conn.on('close', () => {
      if (this.#conn === conn) this.#conn = undefined;
    });
    this.#conn = conn;
    return conn;
  }

  /** Remembers names to delete in `cleanup`. */
  track(names: { queues?: string[]; exchanges?: string[] }): void {
    for (const q of names.queues ?? []) this.#queues.add(q);
    for (const e of names.exchanges ?? []) this.#exchanges.add(e);
  }

  async channel(): Promise<amqp.ConfirmChannel> {
    const ch = await (await this.#connection()).createConfirmChannel();
    ch.on('error', () => {});
    return ch;
  }

  async publish(exchange: string, routingKey: string, body: string | Buffer, options: amqp.Options.Publish = {}): Promise<void> {
    const ch = await this.channel();
    try {
      ch.publish(exchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), { persistent: true, ...options });
      await ch.waitForConfirms();
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Ready messages in a queue (undefined if it does not exist). */
  async count(queue: string): Promise<number | undefined> {
    const ch = await this.channel();
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } catch {
      return undefined;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Takes every ready message out of a queue (acked). */
  async drain(queue: string): Promise<GetMessage[]> {
    const ch = await this.channel();
    const out: GetMessage[] = [];
    try {
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (!m) break;
        out.push(m);
      }
    } finally {
      await ch.close().catch(() => {});
    }
    return out;
  }

  /** Waits until a queue holds at least n ready messages, then takes them. */
  async take(queue: string, n: number, timeoutMs = 10_000): Promise<GetMessage[]> {
    const got: GetMessage[] = [];
    await waitFor(async () => {
      got.push(...(await this.drain(queue)));
      return got.length >= n;
    }, timeoutMs, `${n} messages in ${queue}`);
    return got;
  }

  /** True if declaring the queue with these arguments agrees with what the broker has. */
  async queueMatches(queue: string, args: Record<string, unknown>): Promise<boolean> {
    const ch = await this.channel();
    try {
      await ch.assertQueue(queue, { durable: true, arguments: args });
      return true;
    } catch {
      return false;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  async cleanup(): Promise<void> {
    for (const q of this.#queues) {
      const ch = await this.channel();
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const e of this.#exchanges) {
      const ch = await this.channel();
      await ch.deleteExchange(e).catch(() => {});
      await ch.close().catch(() => {});
    }
    this.#queues.clear();
    this.#exchanges.clear();
  }

  async close(): Promise<void> {
    await this.cleanup();
    await this.#conn?.close().catch(() => {});
    this.#conn = undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Broker faults

const exec = promisify(execFile);

/** True when something accepts TCP connections on the broker's port. */
export function brokerListening(port = BROKER_PORT): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: BROKER_HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Waits until the broker accepts an AMQP connection (not only TCP). */
export async function waitForBroker(timeoutMs = 90_000): Promise<void> {
  await waitFor(async () => {
    try {
      const c = await amqp.connect(BROKER_URL, { timeout: 2000 });
      c.on('error', () => {});
      await c.close();
      return true;
    } catch {
      return false;
    }
  }, timeoutMs, 'RabbitMQ to accept connections');
}

/** Stops the RabbitMQ application (the Erlang node stays up, so it comes back in seconds). */
export async function stopBroker(): Promise<void> {
  await exec('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
}

/** Starts RabbitMQ again, whatever state it is in, and waits until it accepts connections. */
export async function startBroker(): Promise<void> {
  try {
    await exec('rabbitmqctl', ['start_app'], { timeout: 60_000 });
  } catch {
    // The node itself is down: start it the way the machine does.
    await exec('rabbitmq-server', ['-detached'], { timeout: 60_000 }).catch(() => {});
  }
  await waitForBroker();
}

/** A TCP proxy to the broker on a port of its own: stands in for a broker that is not there yet, then appears. */
export class Proxy {
  #server: Server | undefined;
  #frozen = false;
  readonly #sockets = new Set<Socket>();

  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = netConnect({ host: BROKER_HOST, port: BROKER_PORT });
      this.#sockets.add(client).add(upstream);
      const end = (): void => {
        // A frozen proxy is a silent network: a close on one side does not reach the other either.
        if (this.#frozen) return;
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      // Forwarded by hand rather than piped, so that `freeze` can swallow the traffic while the sockets stay open.
      client.on('data', (chunk: Buffer) => void (this.#frozen || upstream.write(chunk)));
      upstream.on('data', (chunk: Buffer) => void (this.#frozen || client.write(chunk)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  /** Drops every byte both ways without closing anything: a peer gone silent, which only heartbeats reveal. */
  freeze(frozen = true): void {
    this.#frozen = frozen;
  }

  /** Stops listening and cuts every connection through it. */
  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A port nobody listens on (bound once by the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
