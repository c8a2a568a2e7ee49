import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FlowDefinition } from '../config/load-flows.js';
import type { SendContext, Sink, SourceContext } from '../core/contracts.js';
import { hubError, type HubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import { FlowRunner } from './flow-runner.js';
import { idleSource, testFlow } from './testing.js';

// The runner alone, with a source and sinks written here (the runner is what is under test).
function sink(send: (m: Message, ctx: SendContext) => Promise<Message | undefined>): Sink {
  return { start: async () => {}, stop: async () => {}, ready: () => true, send };
}

function flow(over: Partial<FlowDefinition> & { sinks?: FlowDefinition['sinks'] }, requestReply = true): { runner: FlowRunner; deliver: (m: Message) => ReturnType<SourceContext['deliver']> } {
  let ctx: SourceContext | undefined;
  const def = testFlow('runner-test', idleSource(async (c) => void (ctx = c)), {}, { queue: 10, ...over }, { source: requestReply });
  const runner = new FlowRunner(def, pino({ level: 'silent' }));
  void runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
  return { runner, deliver: (m) => ctx!.deliver(m) };
}

const msg = (value: unknown = { a: 1 }): Message => new Message({ value, meta: { flow: 'runner-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });

const toOut: FlowDefinition['steps'] = [{ label: '0:to', kind: 'to', run: async (m, ctx) => [(await ctx.send('out', m)) ?? m] }];

describe('FlowRunner', () => {
  it('retries a retryable sink failure up to the policy, with the attempt number, then succeeds', async () => {
    const attempts: number[] = [];
    const out = sink(async (m) => {
      attempts.push(m.meta.attempt);
      if (attempts.length < 3) throw hubError('DOWNSTREAM_UNAVAILABLE', 'down');
      return m.with({ value: { ok: true } });
    });
    const { deliver, runner } = flow({ steps: toOut, sinks: new Map([['out', { adapter: 'test', instance: out, requestReply: true, config: {} }]]) });
    await new Promise((r) => setImmediate(r));
    const { replies } = await deliver(msg());
    expect(attempts).toEqual([1, 2, 3]);
    expect(replies.map((r) => r.json())).toEqual([{ ok: true }]);
    expect(runner.stats).toMatchObject({ received: 1, completed: 1, failed: 0, inFlight: 0 });
    expect(runner.meter.snapshot()).toMatchObject({ samples: 1, p99Ms: expect.any(Number) });
  });

  it('names the failing step and never retries a permanent failure', async () => {
    let calls = 0;
    const out = sink(async () => {
      calls++;
      throw hubError('DOWNSTREAM_REJECTED', 'no');
    });
    const { deliver, runner } = flow({ steps: toOut, sinks: new Map([['out', { adapter: 'test', instance: out, requestReply: false, config: {} }]]) });
    await new Promise((r) => setImmediate(r));
    await expect(deliver(msg())).rejects.toMatchObject({ code: 'DOWNSTREAM_REJECTED', step: '0:to' });
    expect(calls).toBe(1);
    expect(runner.stats.lastError).toMatchObject({ code: 'DOWNSTREAM_REJECTED', step: '0:to' });
  });

  it('cuts a message short at the flow timeout: TIMEOUT, and the sink sees its signal aborted with that reason', async () => {
    let seen: unknown;
    const out = sink(
      (_m, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            seen = ctx.signal.reason;
            reject(ctx.signal.reason as HubError);
          });
        }),
    );
    const { deliver } = flow({ steps: toOut, timeoutMs: 50, sinks: new Map([['out', { adapter: 'test', instance: out, requestReply: false, config: {} }]]) });
    await new Promise((r) => setImmediate(r));
    await expect(deliver(msg())).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(seen).toMatchObject({ code: 'TIMEOUT' });
  });

  it('times out each message at its own deadline, on one timer: staggered messages are cut in turn, quick ones never', async () => {
    const hold = sink((m, ctx) => ((m.json() as { quick?: boolean }).quick ? Promise.resolve(undefined) : new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as HubError)))));
    const { deliver } = flow({ steps: toOut, timeoutMs: 120, sinks: new Map([['out', { adapter: 'test', instance: hold, requestReply: false, config: {} }]]) });
    await new Promise((r) => setImmediate(r));
    const cutAfter = async (m: Message): Promise<number> => {
      const start = performance.now();
      await expect(deliver(m)).rejects.toMatchObject({ code: 'TIMEOUT' });
      return performance.now() - start;
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const cuts = [cutAfter(msg())];
    await pause(50);
    cuts.push(cutAfter(msg()));
    await expect(deliver(msg({ quick: true }))).resolves.toBeDefined();
    await pause(50);
    cuts.push(cutAfter(msg()));
    // Each one ran its full timeout (none was cut at an earlier message's deadline), and not much longer.
    for (const took of await Promise.all(cuts)) {
      expect(took).toBeGreaterThanOrEqual(115);
      expect(took).toBeLessThan(400);
    }
    // With nothing in flight the timer is gone; the next message arms it again.
    expect(await cutAfter(msg())).toBeGreaterThanOrEqual(115);
  });

  it('on stop, waits for the grace period, then settles what is left as FLOW_STOPPING and refuses new messages', async () => {
    const out = sink((_m, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as HubError))));
    const { deliver, runner } = flow({ steps: toOut, sinks: new Map([['out', { adapter: 'test', instance: out, requestReply: false, config: {} }]]) });
    await new Promise((r) => setImmediate(r));
    const pending = deliver(msg());
    pending.catch(() => {});
    const started = Date.now();
    await runner.stop(100);
    await expect(pending).rejects.toMatchObject({ code: 'FLOW_STOPPING' });
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(deliver(msg())).rejects.toMatchObject({ code: 'FLOW_STOPPING' });
  });

  it('paused, a request-reply source gets FLOW_PAUSED (retryable, 503); resumed, it is served again', async () => {
    const calls: Message[] = [];
    const { deliver, runner } = flow({ steps: toOut, sinks: new Map([['out', { adapter: 'test', instance: sink(async (m) => void calls.push(m)), requestReply: false, config: {} }]]) });
    await new Promise((r) => setImmediate(r));
    expect(runner.pause('alice')).toBe(true);
    expect(runner.pause('bob')).toBe(false);
    expect(runner.paused).toMatchObject({ by: 'alice', held: 0 });
    await expect(deliver(msg())).rejects.toMatchObject({ code: 'FLOW_PAUSED', retryable: true, spec: { status: 503, fault: 'server' } });
    expect(calls).toHaveLength(0);
    expect(runner.stats.received).toBe(0);
    expect(runner.resume('alice')).toBe(true);
    expect(runner.resume('alice')).toBe(false);
    expect(runner.paused).toBeUndefined();
    await deliver(msg());
    expect(calls).toHaveLength(1);
  });

  it('paused, a broker source\'s deliveries are held (nothing runs) until resume, however long; paused again, new ones wait again', async () => {
    const calls: Message[] = [];
    const { deliver, runner } = flow({ steps: toOut, sinks: new Map([['out', { adapter: 'test', instance: sink(async (m) => void calls.push(m)), requestReply: false, config: {} }]]) }, false);
    await new Promise((r) => setImmediate(r));
    runner.pause('alice');
    let settled = 0;
    const held = [deliver(msg()), deliver(msg())].map((p) => p.then(() => settled++));
    await new Promise((r) => setTimeout(r, 100));
    expect([settled, calls.length, runner.paused?.held, runner.stats.received]).toEqual([0, 0, 2, 0]);
    runner.resume('alice');
    await Promise.all(held);
    expect([settled, calls.length, runner.stats.completed]).toEqual([2, 2, 2]);
    runner.pause('alice');
    const later = deliver(msg());
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toHaveLength(2);
    runner.resume('alice');
    await later;
    expect(calls).toHaveLength(3);
  });

  it('stop works while paused: held deliveries settle as FLOW_STOPPING (the broker gets them back) and stop does not wait for a resume', async () => {
    const calls: Message[] = [];
    const { deliver, runner } = flow({ steps: toOut, sinks: new Map([['out', { adapter: 'test', instance: sink(async (m) => void calls.push(m)), requestReply: false, config: {} }]]) }, false);
    await new Promise((r) => setImmediate(r));
    runner.pause('alice');
    const held = deliver(msg());
    held.catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    await runner.stop(5_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(held).rejects.toMatchObject({ code: 'FLOW_STOPPING' });
    expect(calls).toHaveLength(0);
  });

  it('drops a message a step filters, and builds replies from the reply block', async () => {
    const { deliver } = flow({ steps: [{ label: '0:filter', kind: 'filter', run: (m) => ((m.json() as { keep: boolean }).keep ? [m] : []) }], reply: { expression: undefined, status: 202 } });
    await new Promise((r) => setImmediate(r));
    expect((await deliver(msg({ keep: false }))).replies).toEqual([]);
    const { replies } = await deliver(msg({ keep: true }));
    expect(replies[0]!.meta.status).toBe(202);
  });
});
