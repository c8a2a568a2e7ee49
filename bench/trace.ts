/**
 * BENCH_TRACE=1: where the time goes, measured from outside the runtime (nothing in src/ or adapters/ changes).
 *
 * - Every kafkajs producer made in this process (the hub's sink uses the same kafkajs module) is wrapped: each
 *   send/sendBatch is timed and its record count noted, by client id.
 * - Every amqplib confirm-channel publish is timed from the call to its confirm callback.
 * - The hub's flows are sampled every 2 ms: messages in flight (FlowRunner.stats.inFlight).
 * `report()` prints one line per round and resets.
 */
import { Kafka, type Producer, type ProducerBatch, type ProducerRecord } from 'kafkajs';
import type { ChannelModel } from 'amqplib';
import { fmt, now } from './common.js';

export const TRACE = process.env.BENCH_TRACE === '1';

interface SendStats {
  requests: number;
  records: number;
  ms: number;
  maxRecords: number;
}
const sends = new Map<string, SendStats>();
let publishes = { count: 0, ms: 0 };
let inFlight = { samples: 0, sum: 0, max: 0 };
let sampler: NodeJS.Timeout | undefined;

function note(client: string, records: number, ms: number): void {
  let s = sends.get(client);
  if (!s) sends.set(client, (s = { requests: 0, records: 0, ms: 0, maxRecords: 0 }));
  s.requests++;
  s.records += records;
  s.ms += ms;
  s.maxRecords = Math.max(s.maxRecords, records);
}

export function installTrace(): void {
  if (!TRACE) return;
  const proto = Kafka.prototype as unknown as { producer: (...args: unknown[]) => Producer };
  const original = proto.producer;
  proto.producer = function (this: Kafka, ...args: unknown[]): Producer {
    const producer = original.apply(this, args);
    // The pipes' producers (the hub's sink, the raw pipe) are idempotent; the load generator's is not.
    const id = (args[0] as { idempotent?: boolean } | undefined)?.idempotent ? 'pipe' : 'load';
    const send = producer.send.bind(producer);
    const sendBatch = producer.sendBatch.bind(producer);
    producer.send = async (record: ProducerRecord) => {
      const t = now();
      try {
        return await send(record);
      } finally {
        note(tag(id), record.messages.length, now() - t);
      }
    };
    producer.sendBatch = async (batch: ProducerBatch) => {
      const t = now();
      try {
        return await sendBatch(batch);
      } finally {
        note(tag(id), (batch.topicMessages ?? []).reduce((n, tm) => n + tm.messages.length, 0), now() - t);
      }
    };
    return producer;
  };
}

/** amqplib's ConfirmChannel (not exported by the package): each publish timed from the call to its confirm. */
export async function installAmqpTrace(conn: ChannelModel): Promise<void> {
  if (!TRACE) return;
  const ch = await conn.createConfirmChannel();
  const proto = Object.getPrototypeOf(ch) as { publish: (...a: unknown[]) => boolean };
  await ch.close();
  const publish = proto.publish;
  proto.publish = function (this: unknown, ...a: unknown[]): boolean {
    const cb = a[4] as ((err: unknown, ok: unknown) => void) | undefined;
    const t = now();
    a[4] = (err: unknown, ok: unknown) => {
      publishes.count++;
      publishes.ms += now() - t;
      cb?.(err, ok);
    };
    return publish.apply(this, a);
  };
}

/** Which pipe a producer belongs to: set before each round. */
let current = '';
function tag(client: string): string {
  return `${current}:${client}`;
}

export function traceRound(pipe: string, runners?: () => { stats: { inFlight: number } }[]): void {
  if (!TRACE) return;
  current = pipe;
  clearInterval(sampler);
  if (runners) {
    sampler = setInterval(() => {
      for (const r of runners()) {
        inFlight.samples++;
        inFlight.sum += r.stats.inFlight;
        inFlight.max = Math.max(inFlight.max, r.stats.inFlight);
      }
    }, 2);
    sampler.unref();
  }
}

export function traceReport(): string {
  if (!TRACE) return '';
  clearInterval(sampler);
  sampler = undefined;
  const parts: string[] = [];
  for (const [client, s] of sends) {
    if (!client.startsWith(`${current}:`)) continue;
    parts.push(`produce[${client.slice(current.length + 1)}] ${s.requests} req, ${fmt(s.records / s.requests, 1)} rec/req (max ${s.maxRecords}), ${fmt(s.ms / s.requests, 2)} ms/req`);
  }
  if (publishes.count) parts.push(`amqp confirm ${fmt(publishes.ms / publishes.count, 2)} ms avg over ${fmt(publishes.count)} publishes`);
  if (inFlight.samples) parts.push(`hub in flight avg ${fmt(inFlight.sum / inFlight.samples, 1)} max ${inFlight.max}`);
  sends.clear();
  publishes = { count: 0, ms: 0 };
  inFlight = { samples: 0, sum: 0, max: 0 };
  return parts.join('; ');
}
