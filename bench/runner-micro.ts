/**
 * `node dist/bench/runner-micro.js`: the hub's own cost per message, with no broker. A flow of scenario 1's shape
 * (source -> JSONata transform -> one-way sink) runs in a Hub in this process; its source and sink are in memory:
 * the source makes each message as the AMQP source does (new id, inbound headers, meta) and keeps up to
 * `concurrency` in the flow; the sink batches records as the Kafka sink does (outbound headers, a record per
 * message) and answers a batch a tick later. Beside it, the same work by hand (parse, transform, stringify, a record
 * per message, a batch answered a tick later) gives the floor. Prints CPU µs per message for both, and the ratio.
 *
 * Environment: MICRO_N (messages per round, 200000), MICRO_ROUNDS (5), MICRO_NO_TRANSFORM=1 (a flow of one `to`),
 * MICRO_STEPS=1 (first, the flow's steps called in a loop without the runner; `only`: just that). For a profile:
 * `node --cpu-prof dist/bench/runner-micro.js`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { builtinRegistry } from '../src/builtins.js';
import { isoNow } from '../src/core/clock.js';
import type { AdapterRegistration, SourceContext } from '../src/core/contracts.js';
import { newId } from '../src/core/id.js';
import { Message } from '../src/core/message.js';
import { inboundHeaders, MESSAGE_ID_HEADER, outboundHeaders } from '../src/kit/propagation.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { Hub } from '../src/hub.js';
import { orderBody, TRANSFORM_JSONATA, transformOrder } from './common.js';

const N = Number(process.env.MICRO_N ?? 200_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const CONCURRENCY = 256;
const BATCH = 200;

interface Record_ {
  value: Buffer;
  headers: Record<string, string>;
}

/** Answers a batch of records a tick later, like a producer whose request returns at once. */
class Batcher {
  #queue: { record: Record_; done: () => void }[] = [];
  #scheduled = false;
  records = 0;
  push(record: Record_, done: () => void): void {
    this.#queue.push({ record, done });
    if (this.#queue.length >= BATCH) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#flush();
      });
    }
  }
  #flush(): void {
    const batch = this.#queue.splice(0);
    if (batch.length === 0) return;
    this.records += batch.length;
    setImmediate(() => {
      for (const b of batch) b.done();
    });
  }
}

/** Feeds `n` bodies to `handle`, at most CONCURRENCY unsettled, as a broker consumer with a prefetch would. */
async function feed(n: number, bodies: Buffer[], handle: (body: Buffer, settled: () => void) => void): Promise<void> {
  let next = 0;
  let open = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  const settled = (): void => {
    open--;
    if (next === n && open === 0) finish();
    else pump();
  };
  let pumping = false;
  const pump = (): void => {
    if (pumping) return;
    pumping = true;
    while (open < CONCURRENCY && next < n) {
      open++;
      handle(bodies[next++ % bodies.length]!, settled);
    }
    pumping = false;
  };
  // Deliveries arrive from the socket in chunks: a macrotask at a time, like amqplib's frames.
  const tick = (): void => {
    pump();
    if (next < n) setImmediate(tick);
  };
  tick();
  await done;
}

/** A message as the AMQP source makes one: a new id, the propagated headers, the transport's facts in meta. */
function inbound(body: Buffer): Message {
  const id = newId();
  const headers = inboundHeaders({ 'x-sent-at': '1' }, id);
  headers['content-type'] = 'application/json';
  return new Message({ id, body, headers, owned: true, meta: { flow: 'micro', source: 'memory:q', receivedAt: isoNow(), attempt: 1, queue: 'q', exchange: '', routingKey: 'q', redelivered: false, retries: 0 } });
}

function measure(label: string, run: () => Promise<void>): Promise<number> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  return run().then(() => {
    const used = process.cpuUsage(cpu);
    const us = (used.user + used.system) / N;
    process.stdout.write(`${label.padEnd(6)} ${us.toFixed(2).padStart(7)} µs/msg  ${((N / (performance.now() - t)) * 1000).toFixed(0).padStart(8)} msgs/s\n`);
    return us;
  });
}

async function main(): Promise<void> {
  const bodies = Array.from({ length: 1000 }, (_, i) => orderBody(i));
  const batcher = new Batcher();
  let sourceCtx: SourceContext | undefined;
  const memory: AdapterRegistration = {
    name: 'memory',
    description: 'micro-benchmark source and sink',
    source: {
      schema: { type: 'object' },
      create: () => ({ start: async (ctx) => void (sourceCtx = ctx), stop: async () => {}, ready: () => true }),
    },
    sink: {
      schema: { type: 'object' },
      create: () => ({
        start: async () => {},
        stop: async () => {},
        ready: () => true,
        send: (message) => {
          const headers = outboundHeaders(message.headers);
          headers[MESSAGE_ID_HEADER] = message.id;
          if (message.contentType) headers['content-type'] = message.contentType;
          return new Promise<undefined>((resolve) => batcher.push({ value: message.body, headers }, () => resolve(undefined)));
        },
      }),
    },
  };
  const registry = builtinRegistry().registerAdapter(memory, 'bench');
  const dir = mkdtempSync(join(tmpdir(), 'hub-micro-'));
  writeFileSync(
    join(dir, 'micro.yaml'),
    `name: micro
source:
  memory: {}
steps:
${process.env.MICRO_NO_TRANSFORM ? '' : `  - transform:\n      jsonata: '${TRANSFORM_JSONATA.replaceAll("'", "''")}'\n`}  - to: out
sinks:
  out:
    memory: {}
concurrency: ${CONCURRENCY}
`,
  );
  const config = defaultHubConfig({ port: 0, flowsDir: dir, schemasDir: resolve(PROJECT_ROOT, 'schemas'), logLevel: 'warn', journal: { dir: join(dir, '.journal') }, admin: { token: 'x'.repeat(32) } });
  const hub = await Hub.build({ config, registry, logger: pino({ level: 'warn' }), env: {} });
  await hub.listen();
  const ctx = sourceCtx!;
  const hubRound = (): Promise<void> =>
    feed(N, bodies, (body, settled) => {
      ctx.deliver(inbound(body)).then(settled, (err: unknown) => {
        process.stderr.write(`failed: ${(err as Error).message}\n`);
        settled();
      });
    });
  const rawRound = (): Promise<void> =>
    feed(N, bodies, (body, settled) => {
      batcher.push({ value: transformOrder(body), headers: { 'content-type': 'application/json' } }, settled);
    });
  // The flow's own steps called in a loop, without the runner: what the steps cost by themselves.
  const def = hub.runners[0]!.def;
  const sink = def.sinks.get('out')!.instance;
  const signal = new AbortController().signal;
  const stepsRound = (): Promise<void> =>
    feed(N, bodies, (body, settled) => {
      let message = inbound(body);
      const ctx = { flow: 'micro', logger: ctx0.logger, signal, aborted: false, send: (_: string, m: Message) => sink.send(m, ctx), dedupe: () => Promise.resolve(true) };
      void (async () => {
        for (const step of def.steps) message = (await step.run(message, ctx))[0]!;
        settled();
      })();
    });
  const ctx0 = { logger: pino({ level: 'warn' }) };
  if (process.env.MICRO_STEPS) {
    const us: number[] = [];
    for (let r = 0; r < ROUNDS; r++) us.push(await measure('steps', stepsRound));
    if (process.env.MICRO_STEPS === 'only') process.exit(0);
  }
  const hubUs: number[] = [];
  const rawUs: number[] = [];
  await measure('warm', hubRound);
  await measure('warm', rawRound);
  for (let r = 0; r < ROUNDS; r++) {
    rawUs.push(await measure('raw', rawRound));
    hubUs.push(await measure('hub', hubRound));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`median: raw ${median(rawUs).toFixed(2)} µs/msg, hub ${median(hubUs).toFixed(2)} µs/msg, hub - raw ${(median(hubUs) - median(rawUs)).toFixed(2)} µs/msg\n`);
  await hub.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
