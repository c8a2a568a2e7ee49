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
    expect(parked!.timeline.map((e) => e.type)).toEqual(['received', 'failed', 'dead']);
    expect((await journal.get('b'))?.status).toBe('resolved');

    release();
    expect(await first).toMatchObject({ outcome: 'delivered' });
    expect(calls.map((m) => m.meta.replayOf)).toEqual(['a']);
  });
});
