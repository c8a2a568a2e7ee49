/**
 * `node --expose-gc dist/bench/inflight.js`: what the runner keeps per message in flight. A flow of one `to`
 * (pipelined, as an ordered broker source delivers) holds N messages whose sink writes are out and unconfirmed; the
 * heap's growth over them, after a full collection, divided by N. Every object a message keeps alive while it waits
 * for its confirm is copied by each young-generation collection, so this is what the garbage collector pays per
 * message at hundreds in flight. The sink's own promise per message (its confirm) is counted too.
 *
 * Environment: INFLIGHT_N (messages, 5000), INFLIGHT_ROUNDS (5).
 */
import { pino } from 'pino';
import type { SendContext, Sink, SourceContext } from '../src/core/contracts.js';
import { Message } from '../src/core/message.js';
import { FlowRunner } from '../src/runtime/flow-runner.js';
import { idleSource, testFlow } from '../src/runtime/testing.js';
import to from '../src/steps/to/index.js';

const N = Number(process.env.INFLIGHT_N ?? 5_000);
const ROUNDS = Number(process.env.INFLIGHT_ROUNDS ?? 5);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run it with node --expose-gc');
  process.exit(2);
}

const held: (() => void)[] = [];
const sink: Sink = {
  start: async () => {},
  stop: async () => {},
  ready: () => true,
  send: (_m: Message, ctx: SendContext) =>
    new Promise<undefined>((resolve) => {
      ctx.issued?.();
      held.push(() => resolve(undefined));
    }),
};
let source: SourceContext | undefined;
const logger = pino({ level: 'silent' });
const def = testFlow('inflight', idleSource(async (c) => void (source = c)), { out: sink }, { concurrency: N * 2, queue: N * 2 });
def.steps = [{ label: '0:to', kind: 'to', config: 'out', run: to.create('out', { report: () => {}, sinks: def.sinks, flow: 'inflight', logger } as never) }];
const runner = new FlowRunner(def, logger);
await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });

const body = Buffer.from(JSON.stringify({ orderId: 'A-1', region: 'eu', total: 12.5 }));
const options = { onIssued: () => {} };
const message = (i: number): Message =>
  new Message({ id: `m${i}`, body, headers: { 'content-type': 'application/json', 'correlation-id': `c${i}` }, owned: true, meta: { flow: 'inflight', source: 'bench', receivedAt: new Date().toISOString(), attempt: 1 } });

async function round(): Promise<number> {
  const messages = Array.from({ length: N }, (_, i) => message(i));
  gc!();
  const before = process.memoryUsage().heapUsed;
  const deliveries = messages.map((m) => source!.deliver(m, options));
  await new Promise((r) => setImmediate(r));
  gc!();
  const after = process.memoryUsage().heapUsed;
  for (const release of held.splice(0)) release();
  await Promise.all(deliveries);
  return (after - before) / N;
}

for (let i = 0; i < 3; i++) await round();
const bytes: number[] = [];
for (let i = 0; i < ROUNDS; i++) bytes.push(await round());
bytes.sort((a, b) => a - b);
console.log(`bytes the runner keeps per message in flight (${N} messages, ${ROUNDS} rounds): median ${Math.round(bytes[Math.floor(bytes.length / 2)]!)} (${bytes.map((b) => Math.round(b)).join(', ')})`);
await runner.stop();
