import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FlowDefinition } from '../config/load-flows.js';
import type { ServiceDefinition } from '../config/service.js';
import type { SendContext, Sink } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import { Cancellation } from './cancellation.js';
import { ALWAYS_NEW, Lane, MessageContext } from './message-context.js';
import { SinkCalls } from './sink-calls.js';
import { idleSource, testFlow } from './testing.js';
import { FlowTracing } from './tracing.js';

// SinkCalls alone, with sinks written here: what one send does around the sink (tries, breaker), not the sink.
const logger = pino({ level: 'silent' });

function sink(send: (m: Message, ctx: SendContext) => Promise<Message | undefined>): Sink & { calls: Message[] } {
  const calls: Message[] = [];
  return { calls, start: async () => {}, stop: async () => {}, ready: () => true, send: (m, ctx) => (calls.push(m), send(m, ctx)) };
}

const down = (): Promise<never> => Promise.reject(hubError('DOWNSTREAM_UNAVAILABLE', 'peer is down'));
const msg = (): Message => new Message({ value: { orderId: 'o-1' }, meta: { flow: 'sinks-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });

function rig(sinks: Record<string, Sink>, over: Partial<FlowDefinition> = {}, requestReply: string[] = []): { calls: SinkCalls; ctx: (lane?: Lane, cancel?: Cancellation) => MessageContext } {
  const def = testFlow('sinks-test', idleSource(), sinks, { retry: { attempts: 3, backoff: 'fixed', initialMs: 1, maxMs: 1 }, ...over }, { sinks: requestReply });
  const calls = new SinkCalls(def, logger, new FlowTracing(def), undefined);
  return { calls, ctx: (lane, cancel = new Cancellation()) => new MessageContext(def.name, logger, msg(), cancel, calls.sender, ALWAYS_NEW, lane) };
}

describe('SinkCalls', () => {
  it('sends once when the sink takes it, and passes its reply on', async () => {
    const out = sink(async (m) => m.with({ value: { ok: true } }));
    const { calls, ctx } = rig({ out });
    const reply = await calls.send('out', msg(), ctx());
    expect(reply?.json()).toEqual({ ok: true });
    expect(out.calls.map((m) => m.meta.attempt)).toEqual([1]);
  });

  it('retries a retryable failure up to errors.retry.attempts, each try with its attempt number, and rejects with the last error', async () => {
    const out = sink(down);
    const { calls, ctx } = rig({ out });
    await expect(calls.send('out', msg(), ctx())).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE', retryable: true });
    expect(out.calls.map((m) => m.meta.attempt)).toEqual([1, 2, 3]);
  });

  it('never retries a permanent failure, nor a sink that throws instead of rejecting', async () => {
    const rejecting = sink(() => Promise.reject(hubError('DOWNSTREAM_REJECTED', 'HTTP 400')));
    const throwing: Sink = {
      ...sink(down),
      send: () => {
        throw hubError('DOWNSTREAM_REJECTED', 'thrown');
      },
    };
    const { calls, ctx } = rig({ rejecting, throwing });
    await expect(calls.send('rejecting', msg(), ctx())).rejects.toMatchObject({ code: 'DOWNSTREAM_REJECTED' });
    await expect(calls.send('throwing', msg(), ctx())).rejects.toMatchObject({ code: 'DOWNSTREAM_REJECTED', message: 'thrown' });
    expect(rejecting.calls).toHaveLength(1);
  });

  it('rejects INTERNAL for a sink the flow does not have', async () => {
    const { calls, ctx } = rig({});
    await expect(calls.send('nope', msg(), ctx())).rejects.toMatchObject({ code: 'INTERNAL', message: 'flow has no sink named "nope"' });
  });

  it('stops retrying once the message is cut short, and once a pipelined write was issued', async () => {
    const cancel = new Cancellation();
    const cutting = sink(() => (cancel.cut(hubError('TIMEOUT', 'the flow did not finish')), down()));
    const issuing = sink((_m, ctx) => (ctx.issued?.(), down()));
    const { calls, ctx } = rig({ cutting, issuing });
    await expect(calls.send('cutting', msg(), ctx(undefined, cancel))).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    expect(cutting.calls).toHaveLength(1);
    let issued = 0;
    await expect(calls.send('issuing', msg(), ctx(new Lane(() => issued++)))).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    expect([issuing.calls.length, issued]).toEqual([1, 1]);
  });

  it('through the hub\'s circuit breaker of a sink: open after its consecutive failures, a send then fails at once with CIRCUIT_OPEN, not retried', async () => {
    const out = sink(down);
    const breaker = { consecutiveErrors: 2, intervalMs: 10_000, ejectionMs: 60_000, maxEjectionPercent: 100 };
    const service = { hops: [{ kind: 'sink', name: 'out', hubBreaker: breaker }] } as unknown as ServiceDefinition;
    const { calls, ctx } = rig({ out }, { service, retry: { attempts: 2, backoff: 'fixed', initialMs: 1, maxMs: 1 } });
    await expect(calls.send('out', msg(), ctx())).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    expect(out.calls).toHaveLength(2);
    await expect(calls.send('out', msg(), ctx())).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', retryable: true });
    expect(out.calls).toHaveLength(2);
  });

  it('before a replay\'s resume point, sends only to request-reply sinks: one-way sinks have the message already', async () => {
    const oneWay = sink(async () => undefined);
    const lookup = sink(async (m) => m.with({ value: { found: true } }));
    const { calls, ctx } = rig({ oneWay, lookup }, {}, ['lookup']);
    const c = ctx();
    expect(await calls.replaySender('oneWay', msg(), c)).toBeUndefined();
    expect((await calls.replaySender('lookup', msg(), c))?.json()).toEqual({ found: true });
    expect([oneWay.calls.length, lookup.calls.length]).toEqual([0, 1]);
  });
});
