import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Sink, SourceContext } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { FlowRunner } from './flow-runner.js';
import { RetryPoller } from './retry-poller.js';
import { idleSource, testFlow } from './testing.js';

describe('RetryPoller', () => {
  it('keeps its claim while a retry runs longer than the lease: the retry runs once, not again by a second claim', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'poller-'));
    const journal = await openEmbeddedJournal({ dir, leaseMs: 300 });
    const calls: number[] = [];
    const out: Sink = {
      start: async () => {},
      stop: async () => {},
      ready: () => true,
      async send(m) {
        calls.push(m.meta.attempt);
        if (calls.length === 1) throw hubError('DOWNSTREAM_UNAVAILABLE', 'down');
        await sleep(1_000); // the retry: more than three leases long
        return undefined;
      },
    };
    let ctx: SourceContext | undefined;
    const def = testFlow('poller-test', idleSource(async (c) => void (ctx = c)), { out }, {
      steps: [{ label: '0:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] }],
      retry: { attempts: 1, backoff: 'fixed', initialMs: 1, maxMs: 1 },
      durable: { attempts: 3, backoff: 'exponential', initialMs: 10, maxMs: 10 },
    });
    const runner = new FlowRunner(def, pino({ level: 'silent' }), journal);
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    const poller = new RetryPoller(journal, new Map([[runner.name, runner]]), pino({ level: 'silent' }), { pollMs: 20, leaseMs: 300 });
    poller.start();
    try {
      const m = new Message({ value: { a: 1 }, meta: { flow: 'poller-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });
      expect((await ctx!.deliver(m)).parked).toBe('waiting-for-retry');
      const deadline = Date.now() + 5_000;
      while ((await journal.get(m.id))?.status !== 'delivered' && Date.now() < deadline) await sleep(50);
      await sleep(500);
      expect(calls).toEqual([1, 2]);
      expect(await journal.get(m.id)).toMatchObject({ status: 'delivered', attempts: 2 });
    } finally {
      poller.halt();
      await runner.stop(100);
      await poller.drained();
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('claims only the retries of the flows it runs: another flow\'s stay due for a process that runs that flow', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'poller-'));
    const journal = await openEmbeddedJournal({ dir });
    const sent: string[] = [];
    const out: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: async (m) => void sent.push(m.id) };
    const runner = new FlowRunner(testFlow('mine', idleSource(async () => {}), { out }, { steps: [{ label: '0:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] }] }), pino({ level: 'silent' }), journal);
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    const poller = new RetryPoller(journal, new Map([[runner.name, runner]]), pino({ level: 'silent' }), { pollMs: 20 });
    const park = async (flow: string): Promise<string> => {
      const m = new Message({ value: { flow }, meta: { flow, source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });
      await journal.record({ id: m.id, flow, source: 'test', receivedAt: m.meta.receivedAt, headers: m.headers, body: m.body }, [], { maxBodyBytes: 1024 });
      await journal.scheduleRetry(m.id, { dueAt: new Date(Date.now() - 1).toISOString(), attempt: 2 });
      return m.id;
    };
    const mine = await park('mine');
    const theirs = await park('theirs');
    poller.start();
    try {
      const deadline = Date.now() + 5_000;
      while ((await journal.get(mine))?.status !== 'delivered' && Date.now() < deadline) await sleep(20);
      await sleep(100); // several more polls
      expect(sent).toEqual([mine]);
      expect(await journal.claimDueRetries(10)).toEqual([expect.objectContaining({ id: theirs, flow: 'theirs' })]);
    } finally {
      poller.halt();
      await runner.stop(100);
      await poller.drained();
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says the journal is unavailable when a claim goes unanswered, and that it is back once the answer comes; the claimed retries then run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'poller-'));
    const journal = await openEmbeddedJournal({ dir });
    const sent: string[] = [];
    const out: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: async (m) => void sent.push(m.id) };
    const runner = new FlowRunner(testFlow('hung', idleSource(async () => {}), { out }, { steps: [{ label: '0:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] }] }), pino({ level: 'silent' }), journal);
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    // A store that went away under a claim already sent: the answer comes only when it is back (as a Redis worker's does).
    let answer: () => void = () => {};
    const back = new Promise<void>((resolve) => (answer = resolve));
    let claims = 0;
    const hanging = new Proxy(journal, {
      get(target, key, receiver) {
        if (key !== 'claimDueRetries') return Reflect.get(target, key, receiver) as unknown;
        return async (limit: number, options?: { flows?: readonly string[] }) => {
          if (claims++ === 0) await back;
          return target.claimDueRetries(limit, options);
        };
      },
    });
    const lines: { msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    const poller = new RetryPoller(hanging, new Map([[runner.name, runner]]), logger, { pollMs: 20, unansweredMs: 200 });
    const m = new Message({ value: { a: 1 }, meta: { flow: 'hung', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });
    await journal.record({ id: m.id, flow: 'hung', source: 'test', receivedAt: m.meta.receivedAt, headers: m.headers, body: m.body }, [], { maxBodyBytes: 1024 });
    await journal.scheduleRetry(m.id, { dueAt: new Date(Date.now() - 1).toISOString(), attempt: 2 });
    poller.start();
    const said = (text: string): number => lines.filter((l) => l.msg.startsWith(text)).length;
    try {
      await sleep(600);
      expect(said('the journal is unavailable')).toBe(1);
      expect(said('the journal is back')).toBe(0);
      expect(claims).toBe(1); // no second claim while the first is unanswered
      answer();
      const deadline = Date.now() + 5_000;
      while ((await journal.get(m.id))?.status !== 'delivered' && Date.now() < deadline) await sleep(20);
      expect(sent).toEqual([m.id]);
      expect(said('the journal is unavailable')).toBe(1);
      expect(said('the journal is back')).toBe(1);
    } finally {
      poller.halt();
      await runner.stop(100);
      await poller.drained();
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
