import { CALLER_ANSWERED, REFUSALS_KEPT_PER_MINUTE } from './refusals.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlowDefinition } from '../config/load-flows.js';
import type { DeliverOptions, SendContext, Sink, SourceContext } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import type { Journal } from '../journal/contract.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { refuse } from '../kit/gateway/refusal.js';
import { FlowRunner } from './flow-runner.js';
import { RetryPoller } from './retry-poller.js';
import { idleSource, testFlow } from './testing.js';

// The runner with a real embedded journal and the real retry poller; the source and sinks are written here.
const logger = pino({ level: 'silent' });

function sink(send: (m: Message) => Promise<Message | undefined>): Sink & { calls: Message[] } {
  const calls: Message[] = [];
  return { calls, start: async () => {}, stop: async () => {}, ready: () => true, send: (m) => (calls.push(m), send(m)) };
}

const ok = async (): Promise<undefined> => undefined;
const down = async (): Promise<never> => {
  throw hubError('DOWNSTREAM_UNAVAILABLE', 'peer is down');
};

interface Rig {
  runner: FlowRunner;
  deliver: SourceContext['deliver'];
  refused: NonNullable<SourceContext['refused']>;
  poller: RetryPoller;
}

const msg = (value: unknown = { orderId: 'o-1' }): Message => new Message({ value, meta: { flow: 'journal-test', source: 'test:in', receivedAt: new Date().toISOString(), attempt: 1 } });
const toSink = (i: number, name: string): FlowDefinition['steps'][number] => ({ label: `${i}:to`, kind: 'to', run: async (m, ctx) => [(await ctx.send(name, m)) ?? m] });

describe('FlowRunner with a journal: parking, durable retries, dead letters, replay', () => {
  let dir: string;
  let journal: Journal;
  const rigs: Rig[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runner-journal-'));
    journal = await openEmbeddedJournal({ dir });
  });
  afterEach(async () => {
    for (const r of rigs.splice(0)) {
      r.poller.halt();
      await r.runner.stop(100);
      await r.poller.drained();
    }
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function rig(over: Partial<FlowDefinition>, sinks: Record<string, Sink>, requestReply = false): Promise<Rig> {
    let ctx: SourceContext | undefined;
    const def = testFlow('journal-test', idleSource(async (c) => void (ctx = c)), sinks, {
      steps: [toSink(0, 'out')],
      retry: { attempts: 2, backoff: 'fixed', initialMs: 1, maxMs: 1 },
      durable: { attempts: 2, backoff: 'exponential', initialMs: 20, maxMs: 40 },
      ...over,
    }, { source: requestReply });
    const runner = new FlowRunner(def, logger, journal, { pausedRetryMs: 50 });
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    const poller = new RetryPoller(journal, new Map([[runner.name, runner]]), logger, { pollMs: 10 });
    poller.start();
    const r = { runner, deliver: (m: Message, o?: DeliverOptions) => ctx!.deliver(m, o), refused: (...a: Parameters<NonNullable<SourceContext['refused']>>) => ctx!.refused!(...a), poller };
    rigs.push(r);
    return r;
  }

  async function until<T>(what: () => Promise<T | undefined>, ms = 5_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await what();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error('timed out');
      await sleep(10);
    }
  }
  const statusIs = (id: string, status: string) => async () => ((await journal.get(id))?.status === status ? journal.get(id) : undefined);

  it('makes exactly retry.attempts × (1 + durable.attempts) sink calls, parks between runs, then dead with its reason', async () => {
    const out = sink(down);
    const { deliver, runner } = await rig({}, { out });
    const m = msg();
    expect(await deliver(m)).toEqual({ replies: [], parked: 'waiting-for-retry' });
    const rec = await until(statusIs(m.id, 'dead'));
    expect(out.calls).toHaveLength(2 * 3);
    expect(out.calls.map((c) => c.meta.attempt)).toEqual([1, 2, 2, 2, 3, 2]);
    expect(rec.attempts).toBe(3);
    expect(rec.timeline.map((e) => `${e.type}${e.attempt ?? ''}`)).toEqual(['received1', 'failed1', 'waiting-for-retry2', 'failed2', 'waiting-for-retry3', 'failed3', 'dead3']);
    expect(rec.lastError).toEqual({ code: 'DOWNSTREAM_UNAVAILABLE', message: 'peer is down', step: '0:to' });
    expect(await journal.deadLetterGroups()).toMatchObject([{ flow: 'journal-test', step: '0:to', code: 'DOWNSTREAM_UNAVAILABLE', count: 1 }]);
    await sleep(100);
    expect(runner.stats).toMatchObject({ waiting: 2, dead: 1, retried: 2 });
    expect(out.calls).toHaveLength(6);
  });

  it('delivers on a durable retry when the downstream is back, and the record says delivered', async () => {
    // The first run's two tries fail; the downstream is back for the durable retry, however soon it comes.
    let calls = 0;
    const out = sink(async () => {
      if (++calls <= 2) throw hubError('TIMEOUT', 'slow');
      return undefined;
    });
    const { deliver } = await rig({}, { out });
    const m = msg();
    expect((await deliver(m)).parked).toBe('waiting-for-retry');
    const rec = await until(statusIs(m.id, 'delivered'));
    expect(rec.timeline.map((e) => e.type)).toEqual(['received', 'failed', 'waiting-for-retry', 'step', 'delivered']);
    expect(out.calls).toHaveLength(3);
  });

  it('a paused flow\'s durable retries wait, their attempts not counted, and run once it is resumed', async () => {
    let fail = true;
    const out = sink(async () => {
      if (fail) throw hubError('TIMEOUT', 'slow');
      return undefined;
    });
    const { deliver, runner } = await rig({ durable: { attempts: 2, backoff: 'exponential', initialMs: 20, maxMs: 20 } }, { out });
    runner.pause('alice');
    const m = msg();
    // Held, not refused: the test's source waits for no reply.
    const held = deliver(m);
    await sleep(50);
    expect(out.calls).toHaveLength(0);
    runner.resume('alice');
    expect((await held).parked).toBe('waiting-for-retry');
    runner.pause('alice');
    fail = false;
    await sleep(300);
    expect(out.calls).toHaveLength(2);
    const waiting = await journal.get(m.id);
    expect(waiting?.status).toBe('waiting-for-retry');
    expect(waiting?.timeline.filter((e) => e.type === 'waiting-for-retry').every((e) => e.attempt === 2)).toBe(true);
    expect(runner.stats.retried).toBe(0);
    runner.resume('alice');
    const rec = await until(statusIs(m.id, 'delivered'));
    expect(rec.attempts).toBe(2);
    expect(out.calls).toHaveLength(3);
  });

  it('dead-letters a permanent failure at once, with no retry, and sends it to the dead-letter sink with the reason', async () => {
    const out = sink(async () => {
      throw hubError('DOWNSTREAM_REJECTED', 'HTTP 400: missing orderId');
    });
    const dead = sink(ok);
    const { deliver } = await rig({ deadLetterSink: 'dead' }, { out, dead });
    const m = msg();
    expect((await deliver(m)).parked).toBe('dead');
    expect(out.calls).toHaveLength(1);
    expect((await journal.get(m.id))!.status).toBe('dead');
    expect(dead.calls).toHaveLength(1);
    expect(dead.calls[0]!.headers).toMatchObject({ 'x-error-code': 'DOWNSTREAM_REJECTED', 'x-error-message': 'HTTP 400: missing orderId', 'x-error-step': '0:to', 'x-flow': 'journal-test', 'x-attempts': '1' });
    expect(dead.calls[0]!.json()).toEqual({ orderId: 'o-1' });
  });

  it('gives a caller that waits for the reply the error, and journals it as failed, bad input too (so many a minute), saying so on the error', async () => {
    const { deliver } = await rig({}, { out: sink(down) }, true);
    const m = msg();
    await expect(deliver(m)).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE', journal: 'kept' });
    expect(await journal.get(m.id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await journal.get(m.id))!.timeline.at(-1)).toMatchObject({ type: 'failed', detail: CALLER_ANSWERED });
    const bad = await rig({ name: 'journal-bad-input', steps: [{ label: '0:validate', kind: 'validate', run: () => Promise.reject(hubError('VALIDATION_FAILED', 'no orderId')) }] }, {}, true);
    const b = msg();
    await expect(bad.deliver(b)).rejects.toMatchObject({ code: 'VALIDATION_FAILED', journal: 'kept' });
    expect(await journal.get(b.id)).toMatchObject({ status: 'failed', lastError: { code: 'VALIDATION_FAILED' } });
    // Past the flow's allowance of bad input a minute, the caller is told its message was not kept.
    for (let i = 1; i < REFUSALS_KEPT_PER_MINUTE; i++) await expect(bad.deliver(msg())).rejects.toMatchObject({ journal: 'kept' });
    const over = msg();
    await expect(bad.deliver(over)).rejects.toMatchObject({ code: 'VALIDATION_FAILED', journal: 'not kept' });
    expect(await journal.get(over.id)).toBeUndefined();
    const none = await rig({ name: 'journal-none', journal: { record: 'none', maxBodyBytes: 1024 } }, { out: sink(down) }, true);
    await expect(none.deliver(msg())).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE', journal: 'not kept' });
  });

  it('keeps bad input its source refused, but never a request the gateway turned away (auth, rate limit)', async () => {
    const { refused } = await rig({ name: 'journal-refusals' }, { out: sink(ok) }, true);
    const input = (id: string) => ({ id, source: 'rest:POST /orders', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"orderId":') });
    const badJson = hubError('BAD_JSON', 'the body is not JSON');
    await refused(input('refused-bad-json'), badJson);
    expect(badJson.journal).toBe('kept');
    expect(await journal.get('refused-bad-json')).toMatchObject({ flow: 'journal-refusals', status: 'failed', lastError: { code: 'BAD_JSON' } });
    for (const [code, id] of [['AUTH_REQUIRED', 'refused-auth'], ['RATE_LIMITED', 'refused-rate']] as const) {
      const err = refuse(code, 'refused at the gateway', 'the test');
      await refused(input(id), err);
      expect(err.journal).toBe('not kept');
      expect(await journal.get(id)).toBeUndefined();
    }
  });

  it('failures: writes nothing for a message delivered first time; all: records it with each step', async () => {
    const a = await rig({}, { out: sink(ok) });
    const m1 = msg();
    await a.deliver(m1);
    expect(await journal.get(m1.id)).toBeUndefined();
    const b = await rig({ name: 'journal-all', journal: { record: 'all', maxBodyBytes: 4 } }, { out: sink(ok) });
    const m2 = msg();
    await b.deliver(m2);
    const rec = await journal.get(m2.id);
    // Under `all` the sink's try is recorded too (the replies are what `hub messages fixture` mocks sinks with).
    expect(rec!.timeline.map((e) => e.type)).toEqual(['received', 'sink', 'step', 'delivered']);
    expect(rec!.timeline[0]!.meta).toEqual({});
    expect(rec!.timeline[1]).toMatchObject({ step: 'sink:out', call: { sink: 'out', try: 1 } });
    expect(rec!.body).toMatchObject({ truncated: true, size: m2.body.length });
  });

  it('keeps a parked message whole even when its record was made under a smaller body cap', async () => {
    const { deliver } = await rig({ journal: { record: 'all', maxBodyBytes: 4 }, durable: { attempts: 0, backoff: 'exponential', initialMs: 1, maxMs: 1 } }, { out: sink(down) });
    const m = msg({ orderId: 'o-2', lines: [1, 2, 3] });
    expect((await deliver(m)).parked).toBe('dead');
    const rec = await journal.get(m.id);
    expect(rec!.body).toMatchObject({ truncated: false, data: m.body.toString() });
    expect(rec!.timeline.map((e) => e.type)).toEqual(['received', 'sink', 'sink', 'failed', 'dead']);
    // Each try's failure is its own, not the message's error: the record's attempts stay the flow's.
    expect(rec!.timeline.slice(1, 3).map((e) => e.call)).toEqual([1, 2].map((n) => ({ sink: 'out', try: n, failure: { code: 'DOWNSTREAM_UNAVAILABLE', message: expect.any(String) } })));
    expect(rec!.attempts).toBe(1);
  });

  it('rejects JOURNAL_UNAVAILABLE (retryable) when it cannot park, so the source keeps the message', async () => {
    const { deliver } = await rig({}, { out: sink(down) });
    await journal.close();
    await expect(deliver(msg())).rejects.toMatchObject({ code: 'JOURNAL_UNAVAILABLE', retryable: true });
    journal = await openEmbeddedJournal({ dir });
  });

  it('replays from the failed step without calling one-way sinks before it again; straight to a sink', async () => {
    const audit = sink(ok);
    let fail = true;
    const out = sink(async () => {
      if (fail) throw hubError('DOWNSTREAM_REJECTED', 'no');
      return undefined;
    });
    const other = sink(ok);
    const { deliver, runner } = await rig({ steps: [toSink(0, 'audit'), toSink(1, 'out')] }, { audit, out, other });
    const m = msg();
    expect((await deliver(m)).parked).toBe('dead');
    expect(audit.calls).toHaveLength(1);
    fail = false;
    const again = m.with({ id: 'replay-1', meta: { replayOf: m.id } });
    expect((await runner.replay(again, { startAt: 1 })).replies.map((r) => r.id)).toEqual(['replay-1']);
    expect(audit.calls).toHaveLength(1);
    expect(out.calls.at(-1)!.id).toBe('replay-1');
    await runner.replay(m.with({ id: 'replay-2', meta: { replayOf: m.id } }), { sink: 'other' });
    expect(other.calls.map((c) => c.id)).toEqual(['replay-2']);
    expect(() => runner.replay(m, { sink: 'nope' })).toThrow(/no sink named "nope"/);
  });

  it('parks a replay the flow has no room for (it has no source to keep it), where a broker message is handed back', async () => {
    let release: () => void = () => {};
    const held = new Promise<undefined>((resolve) => (release = () => resolve(undefined)));
    const { runner, deliver } = await rig({ concurrency: 1, queue: 0 }, { out: sink(() => held) });
    const busy = deliver(msg());
    await sleep(10);
    await expect(deliver(msg())).rejects.toMatchObject({ code: 'FLOW_OVERLOADED' });
    const replay = msg().with({ id: 'replay-overloaded', meta: { replayOf: 'original' } });
    expect(await runner.replay(replay)).toEqual({ replies: [], parked: 'waiting-for-retry' });
    expect(await journal.get('replay-overloaded')).toMatchObject({ status: 'waiting-for-retry', lastError: { code: 'FLOW_OVERLOADED' } });
    release();
    await busy;
  });

  it('takes no dedupe key for a message handed back to its source: the same order delivered again under a new id passes', async () => {
    let fail: 'stop' | 'reject' | undefined = 'reject';
    const out = sink(async () => {
      if (fail === 'reject') throw hubError('DOWNSTREAM_UNAVAILABLE', 'down');
      return undefined;
    });
    const dedupe: FlowDefinition['steps'][number] = { label: '0:dedupe', kind: 'dedupe', run: async (m, ctx) => ((await ctx.dedupe((m.json() as { orderId: string }).orderId, 60_000)) ? [m] : []) };
    // A caller that waits for the reply gets the error and sends the order again, as a new message.
    const { deliver } = await rig({ steps: [dedupe, toSink(1, 'out')] }, { out }, true);
    await expect(deliver(msg({ orderId: 'o-again' }))).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    fail = undefined;
    const calls = out.calls.length;
    expect((await deliver(msg({ orderId: 'o-again' }))).replies).toHaveLength(1);
    expect(out.calls.length).toBe(calls + 1);
    // Now it was delivered: the key is taken, and a third copy is a duplicate.
    expect(await deliver(msg({ orderId: 'o-again' }))).toEqual({ replies: [] });
    expect(out.calls.length).toBe(calls + 1);
    expect(await journal.dedupeHolder('journal-test\u0000o-again')).toBeDefined();
  });

  it('lets a durable retry through the dedupe check its own first run made, and drops a real duplicate', async () => {
    let fail = true;
    const out = sink(async () => {
      if (fail) throw hubError('DOWNSTREAM_UNAVAILABLE', 'down');
      return undefined;
    });
    const dedupe: FlowDefinition['steps'][number] = { label: '0:dedupe', kind: 'dedupe', run: async (m, ctx) => ((await ctx.dedupe((m.json() as { orderId: string }).orderId, 60_000)) ? [m] : []) };
    const { deliver } = await rig({ steps: [dedupe, toSink(1, 'out')] }, { out });
    const m = msg({ orderId: 'o-dup' });
    expect((await deliver(m)).parked).toBe('waiting-for-retry');
    fail = false;
    await until(statusIs(m.id, 'delivered'));
    const calls = out.calls.length;
    expect(await deliver(msg({ orderId: 'o-dup' }))).toEqual({ replies: [] });
    expect(out.calls).toHaveLength(calls);
  });
  it('runs a retry whose record says failed: the hub died after writing the failure, before parking it again', async () => {
    // The durable retry of try 2 failed and was written (`failed`), then the process died before releaseRetry: the
    // retry is still in the journal (due again once the claim is gone), and the message must run again, not be
    // taken for finished.
    const m = msg({ orderId: 'o-crash' });
    await journal.record({ id: m.id, flow: 'journal-test', source: 'test:in', receivedAt: m.meta.receivedAt, headers: m.headers, body: m.body }, [{ type: 'received', at: m.meta.receivedAt, attempt: 1 }], { maxBodyBytes: 65536 });
    await journal.scheduleRetry(m.id, { dueAt: new Date(Date.now() + 50).toISOString(), attempt: 2, error: { code: 'TIMEOUT', message: 'slow' } });
    await journal.append(m.id, [{ type: 'failed', at: new Date().toISOString(), attempt: 2, error: { code: 'TIMEOUT', message: 'slow' } }]);
    const out = sink(ok);
    await rig({}, { out });
    const rec = await until(statusIs(m.id, 'delivered'));
    expect(out.calls.map((c) => c.json())).toEqual([{ orderId: 'o-crash' }]);
    expect(rec.timeline.map((e) => e.type)).toEqual(['received', 'waiting-for-retry', 'failed', 'step', 'delivered']);
    expect(await journal.claimDueRetries(10)).toEqual([]);
  });

  describe('ordered pipelining (DeliverOptions.onIssued)', () => {
    /** A sink that says its write is issued, then confirms or fails as `confirm` says. */
    function issuing(confirm: (m: Message) => Promise<undefined>): Sink & { calls: Message[]; sawIssued: boolean[] } {
      const calls: Message[] = [];
      const sawIssued: boolean[] = [];
      return {
        calls,
        sawIssued,
        start: async () => {},
        stop: async () => {},
        ready: () => true,
        send: (m: Message, ctx: SendContext) => {
          calls.push(m);
          sawIssued.push(ctx.issued !== undefined);
          ctx.issued?.();
          return confirm(m);
        },
      };
    }
    const toOut = { label: '0:to', kind: 'to', config: 'out', run: async (m: Message, ctx: Parameters<FlowDefinition['steps'][number]['run']>[1]) => [(await ctx.send('out', m)) ?? m] };

    it('tells the source once the one sink write of a `to`-only flow is issued, before the confirm', async () => {
      let confirm: () => void = () => {};
      const out = issuing(() => new Promise<undefined>((r) => (confirm = () => r(undefined))));
      const { deliver } = await rig({ steps: [{ label: '0:set_headers', kind: 'set_headers', run: (m: Message) => [m] }, { ...toOut, label: '1:to' }] }, { out });
      let issued = 0;
      const settled = deliver(msg(), { onIssued: () => issued++ });
      await until(async () => (issued === 1 ? true : undefined));
      expect(out.calls).toHaveLength(1);
      confirm();
      await settled;
      expect(issued).toBe(1);
    });

    it('never pipelines a flow whose steps may send more than once or do I/O before the end', async () => {
      const out = issuing(ok);
      const split = { label: '0:split', kind: 'split', run: (m: Message) => [m, m.with({ id: 'second' })] };
      const { deliver } = await rig({ steps: [split, { ...toOut, label: '1:to' }] }, { out });
      let issued = 0;
      await deliver(msg(), { onIssued: () => issued++ });
      expect(out.calls).toHaveLength(2);
      expect(out.sawIssued).toEqual([false, false]);
      expect(issued).toBe(0);
    });

    it('a write that failed after it was issued is neither retried in the flow nor parked: the source gets the error back', async () => {
      const out = issuing(down);
      const { deliver, runner } = await rig({ steps: [toOut] }, { out });
      const m = msg({ orderId: 'o-pipelined' });
      await expect(deliver(m, { onIssued: () => {} })).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
      expect(out.calls).toHaveLength(1);
      expect(runner.stats).toMatchObject({ waiting: 0, dead: 0 });
      expect((await journal.get(m.id))?.status).not.toBe('waiting-for-retry');
    });

    it('a send that failed before its write was issued is retried as usual, and parked when the retries are used up', async () => {
      const calls: Message[] = [];
      const out: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: (m) => (calls.push(m), down()) };
      const { deliver, runner } = await rig({ steps: [toOut] }, { out });
      let issued = 0;
      const result = await deliver(msg(), { onIssued: () => issued++ });
      expect(result.parked).toBe('waiting-for-retry');
      expect(calls).toHaveLength(2);
      expect(issued).toBe(0);
      expect(runner.stats.waiting).toBe(1);
    });
  });
});
