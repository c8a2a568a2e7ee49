/**
 * What both scenarios share: settings from the environment, the message bodies, the receive-side bookkeeping
 * (latency per message, throughput from first send to last receive), and the table.
 */
import { randomBytes } from 'node:crypto';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';

export const SETTINGS = {
  amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  kafkaBrokers: (process.env.KAFKA_BROKERS ?? process.env.KAFKA_BROKERS_FOR_BENCH ?? `127.0.0.1:${process.env.KAFKA_PORT ?? '19092'}`).split(',').map((b) => b.trim()),
  /** Messages per measured round. */
  n: positiveInt(process.env.BENCH_N, 20_000),
  /** Messages per warm-up round. */
  warmupN: positiveInt(process.env.BENCH_WARMUP_N, 5_000),
  /** Measured rounds per pipe (the median is reported). */
  rounds: positiveInt(process.env.BENCH_ROUNDS, 3),
  /** Longest a round may take once the last message was sent, before it is reported as timed out. */
  drainTimeoutMs: positiveInt(process.env.BENCH_DRAIN_TIMEOUT_MS, 60_000),
  /** Bytes of each JSON body (about). */
  bodyBytes: positiveInt(process.env.BENCH_BODY_BYTES, 300),
  prefetch: positiveInt(process.env.BENCH_PREFETCH, 256),
  partitions: positiveInt(process.env.BENCH_PARTITIONS, 4),
  /** "1,2,3,4,5": which scenarios run. */
  scenarios: (process.env.BENCH_SCENARIOS ?? '1,2,3,4,5').split(',').map((s) => s.trim()),
  /**
   * Which pipes run, e.g. "raw,hub,strict" (strict is scenario 2's one-at-a-time raw pipe) or "none,failures" (scenario
   * 3's journal policies); unset: every pipe of each scenario.
   */
  pipes: process.env.BENCH_PIPES?.split(',').map((s) => s.trim()),
  /** Scenario 3 adds `all` on the Redis journal backend when this is set (keys under a unique prefix, deleted after). */
  redisUrl: process.env.REDIS_URL || undefined,
};

function positiveInt(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}

/** A name no earlier run used: bench.<what>.<time>.<random>. */
export function uniqueName(what: string): string {
  return `bench.${what}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

/** The header carrying each message's send time (performance.now() of this process, ms with µs). */
export const SENT_AT = 'x-sent-at';

export function now(): number {
  return performance.now();
}

const REGIONS = ['eu', 'us', 'apac', 'latam'];

/** A JSON order of about SETTINGS.bodyBytes bytes carrying its sequence number. */
export function orderBody(seq: number): Buffer {
  const order = {
    seq,
    orderId: `ORD-${String(seq).padStart(8, '0')}`,
    customerId: `C-${String(seq % 1000).padStart(4, '0')}`,
    region: REGIONS[seq % REGIONS.length],
    currency: 'EUR',
    lines: [
      { sku: 'A-100', qty: 2, price: 19.5 },
      { sku: 'B-200', qty: 1, price: 120 },
      { sku: 'C-300', qty: 5, price: 3.25 },
    ],
    note: '',
  };
  const base = Buffer.byteLength(JSON.stringify(order));
  order.note = 'x'.repeat(Math.max(0, SETTINGS.bodyBytes - base));
  return Buffer.from(JSON.stringify(order));
}

/** The transformation of scenario 1, in JSONata for the hub ... */
export const TRANSFORM_JSONATA = '{ "seq": seq, "orderId": orderId, "customerId": customerId, "region": region, "total": $sum(lines.(qty * price)), "items": $count(lines) }';

interface OrderLine {
  qty: number;
  price: number;
}
interface Order {
  seq: number;
  orderId: string;
  customerId: string;
  region: string;
  lines: OrderLine[];
}

/** ... and the same in plain JS for the raw pipe. */
export function transformOrder(body: Buffer): Buffer {
  const o = JSON.parse(body.toString('utf8')) as Order;
  let total = 0;
  for (const l of o.lines) total += l.qty * l.price;
  return Buffer.from(JSON.stringify({ seq: o.seq, orderId: o.orderId, customerId: o.customerId, region: o.region, total, items: o.lines.length }));
}

/**
 * The receive side of one round: each distinct message's latency (receive time minus the send time in its header,
 * or the send time the load generator noted for its sequence number when a pipe did not carry the header), and
 * the time of the last receive.
 */
export class Recorder {
  readonly sentAt: Float64Array;
  readonly #latency: Float64Array;
  readonly #seen: Uint8Array;
  received = 0;
  duplicates = 0;
  /** How many latencies came from the header (the rest from the load generator's table). */
  fromHeader = 0;
  firstSend = Number.NaN;
  lastSend = Number.NaN;
  lastReceive = Number.NaN;
  #done: () => void = () => {};
  readonly done: Promise<void>;
  #cpu: NodeJS.CpuUsage | undefined;
  #elu: EventLoopUtilization | undefined;

  constructor(readonly n: number) {
    this.sentAt = new Float64Array(n);
    this.#latency = new Float64Array(n);
    this.#seen = new Uint8Array(n);
    this.done = new Promise((resolve) => (this.#done = resolve));
  }

  sent(seq: number, at: number): void {
    this.sentAt[seq] = at;
    if (Number.isNaN(this.firstSend)) {
      this.firstSend = at;
      this.#cpu = process.cpuUsage();
      this.#elu = performance.eventLoopUtilization();
    }
    this.lastSend = at;
  }

  /** One output message; `header` is the x-sent-at header's value if it arrived. */
  receive(body: Buffer, header: unknown): void {
    const at = now();
    let seq: number;
    try {
      seq = (JSON.parse(body.toString('utf8')) as { seq: number }).seq;
    } catch {
      return;
    }
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.n) return;
    if (this.#seen[seq]) {
      this.duplicates++;
      return;
    }
    this.#seen[seq] = 1;
    const text = Buffer.isBuffer(header) ? header.toString('utf8') : typeof header === 'string' ? header : undefined;
    const sent = text === undefined ? Number.NaN : Number(text);
    const carried = Number.isFinite(sent);
    if (carried) this.fromHeader++;
    this.#latency[this.received++] = at - (carried ? sent : this.sentAt[seq]!);
    this.lastReceive = at;
    if (this.received === this.n) this.#done();
  }

  /** Resolves when every message arrived, or `timeoutMs` after the last send (then `complete` is false). */
  async wait(sending: Promise<void>, timeoutMs: number): Promise<boolean> {
    await sending;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const complete = await Promise.race([this.done.then(() => true), timedOut]);
    clearTimeout(timer);
    return complete;
  }

  result(pipe: string, complete: boolean): RoundResult {
    const lat = this.#latency.slice(0, this.received).sort();
    const elapsed = this.lastReceive - this.firstSend;
    const cpu = process.cpuUsage(this.#cpu);
    const elu = this.#elu ? performance.eventLoopUtilization(this.#elu).utilization : Number.NaN;
    return {
      pipe,
      n: this.n,
      received: this.received,
      duplicates: this.duplicates,
      complete,
      throughput: this.received > 0 ? (this.received / elapsed) * 1000 : 0,
      p50: percentile(lat, 0.5),
      p99: percentile(lat, 0.99),
      sendRate: this.n > 1 ? ((this.n - 1) / (this.lastSend - this.firstSend)) * 1000 : 0,
      elapsedMs: elapsed,
      fromHeader: this.fromHeader,
      cpuUsPerMsg: this.received > 0 ? (cpu.user + cpu.system) / this.received : Number.NaN,
      elu,
    };
  }
}

export interface RoundResult {
  pipe: string;
  n: number;
  received: number;
  duplicates: number;
  complete: boolean;
  /** Messages per second from the first send to the last receive. */
  throughput: number;
  p50: number;
  p99: number;
  /** How fast the load generator sent (with its confirms/acks). */
  sendRate: number;
  elapsedMs: number;
  fromHeader: number;
  /** CPU time of this whole process (pipe, load generator, reader) per message, in µs. */
  cpuUsPerMsg: number;
  /** Share of the round the event loop was busy (1 = saturated). */
  elu: number;
  /** BENCH_TRACE=1: what the trace saw in this round. */
  trace?: string;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A kafkajs client for the bench's own work (admin, load, readers) and for the raw pipes, quiet unless broken. */
export function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: SETTINGS.kafkaBrokers, logLevel: logLevel.ERROR, retry: { initialRetryTime: 100, retries: 8 } });
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects after `ms` with a message naming what did not happen in time. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it holds or `ms` pass. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(25);
  }
}
