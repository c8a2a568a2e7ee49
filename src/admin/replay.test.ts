import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sink } from '../core/contracts.js';
import type { Message } from '../core/message.js';
import type { Journal, JournalPolicy } from '../journal/contract.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { FlowRunner } from '../runtime/flow-runner.js';
import { idleSource, testFlow } from '../runtime/testing.js';
import { Replayer } from './replay.js';

// The Replayer with a real FlowRunner and a real embedded journal; only the flow's source and sink are written here.
// What it covers: a booked replay the runner refuses for the hub's own condition (the flow at its limit) has no
// source to keep it, so the Replayer parks it dead rather than lose it.
const logger = pino({ level: 'silent' });

describe('Replayer: a booked replay the flow cannot take is parked, not lost', () => {
  let dir: string;
  let journal: Journal;
  let runner: FlowRunner | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'replayer-'));
    journal = await openEmbeddedJournal({ dir });
  });
  afterEach(async () => {
    await runner?.stop(100);
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['failures', 'all'] as JournalPolicy[])('journal: %s', async (policy) => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const calls: Message[] = [];
    const sink: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: async (m) => {
        calls.push(m);
        await held;
        return undefined;
      },
    };
    const def = testFlow('narrow', idleSource(), { out: sink }, {
      steps: [{ label: '0:to', kind: 'to', run: async (m, ctx) => [(await ctx.send('out', m)) ?? m] }],
      concurrency: 1,
      queue: 0,
      retry: { attempts: 1, backoff: 'fixed', initialMs: 1, maxMs: 1 },
      journal: { record: policy, maxBodyBytes: 4 },
    });
    runner = new FlowRunner(def, logger, journal);
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    const receivedAt = new Date().toISOString();
    for (const id of ['a', 'b']) {
      await journal.record({ id, flow: 'narrow', source: 'test', receivedAt, headers: { 'content-type': 'application/json' }, body: Buffer.from(`{"order":"${id}"}`) }, [{ type: 'dead', at: receivedAt, error: { code: 'DOWNSTREAM_UNAVAILABLE', message: 'down' } }], { maxBodyBytes: 1 << 20 });
    }
    const replayer = new Replayer(journal, [runner], logger);

    const first = replayer.replayOne('a', {}, 'k-a', 'test');
    await new Promise((r) => setTimeout(r, 50));
    // The flow is busy with the first and has no queue: the second is refused with FLOW_OVERLOADED.
    const second = await replayer.replayOne('b', {}, 'k-b', 'test');
    expect(second).toMatchObject({ duplicate: false, outcome: 'dead', error: { code: 'FLOW_OVERLOADED' } });
    const parked = await journal.get(second.newId);
    expect(parked).toMatchObject({ status: 'dead', replayOf: 'b', lastError: { code: 'FLOW_OVERLOADED' }, body: { truncated: false, data: '{"order":"b"}' } });
    // Booked with its safety-net retry (waiting-for-retry), then refused and parked dead.
    expect(parked!.timeline.map((e) => e.type)).toEqual(['received', 'waiting-for-retry', 'failed', 'dead']);
    expect((await journal.get('b'))?.status).toBe('resolved');

    release();
    expect(await first).toMatchObject({ outcome: 'delivered' });
    expect(calls.map((m) => m.meta.replayOf)).toEqual(['a']);
  });
});

describe('Replayer: a replay whose hub dies while it runs is not lost', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'replayer-crash-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['failures', 'none'] as JournalPolicy[])('journal: %s: the edited body is run again from the journal after a restart', async (policy) => {
    const flow = (sink: Sink) =>
      testFlow('crashy', idleSource(), { out: sink }, {
        steps: [{ label: '0:to', kind: 'to', run: async (m, ctx) => [(await ctx.send('out', m)) ?? m] }],
        retry: { attempts: 1, backoff: 'fixed', initialMs: 1, maxMs: 1 },
        timeoutMs: 200,
        journal: { record: policy, maxBodyBytes: 1 << 20 },
      });
    // First life: the downstream never answers, and the process "dies" (its journal closed under it) mid-replay.
    let sent: () => void = () => {};
    const reached = new Promise<void>((resolve) => (sent = resolve));
    const hanging: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: () => (sent(), new Promise(() => {})) };
    const journal1 = await openEmbeddedJournal({ dir });
    const receivedAt = new Date().toISOString();
    await journal1.record({ id: 'orig', flow: 'crashy', source: 'test', receivedAt, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"order":"old"}') }, [{ type: 'dead', at: receivedAt, error: { code: 'DOWNSTREAM_UNAVAILABLE', message: 'down' } }], { maxBodyBytes: 1 << 20 });
    const runner1 = new FlowRunner(flow(hanging), logger, journal1);
    await runner1.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    const replaying = new Replayer(journal1, [runner1], logger, { safetyMs: 100 }).replayOne('orig', { body: '{"order":"fixed"}' }, 'k-crash', 'alice');
    replaying.catch(() => {});
    await reached;
    await journal1.close();

    // Second life: the original is resolved, and the replay, edited body and all, waits in the journal and runs.
    const journal2 = await openEmbeddedJournal({ dir });
    try {
      expect((await journal2.get('orig'))?.status).toBe('resolved');
      const [replay] = (await journal2.listReplays({ originalId: 'orig' })).items;
      const waiting = await journal2.get(replay!.newId);
      expect(waiting).toMatchObject({ replayOf: 'orig', status: 'waiting-for-retry', body: { data: '{"order":"fixed"}', truncated: false } });
      const got: Message[] = [];
      const working: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: async (m) => (got.push(m), undefined) };
      const runner2 = new FlowRunner(flow(working), logger, journal2);
      await runner2.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
      let claims = await journal2.claimDueRetries(10);
      for (let i = 0; claims.length === 0 && i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        claims = await journal2.claimDueRetries(10);
      }
      expect(claims.map((c) => c.id)).toEqual([replay!.newId]);
      await runner2.retry(claims[0]!);
      expect(got.map((m) => [m.id, m.meta.replayOf, m.body.toString()])).toEqual([[replay!.newId, 'orig', '{"order":"fixed"}']]);
      expect((await journal2.get(replay!.newId))?.status).toBe('delivered');
      await runner2.stop(100);
    } finally {
      await journal2.close();
    }
  });
});
