/**
 * The aggregate step in a real flow runner on a real embedded journal: members stored, completion by count,
 * condition and time, the aggregation expression, late members, the key expression failing, and a restart with a
 * sealed group (emitted again with its id). The journal's side is the contract suite's (AggregateGroups).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sink, SourceContext } from '../../core/contracts.js';
import { Message } from '../../core/message.js';
import type { Journal } from '../../journal/contract.js';
import { openEmbeddedJournal } from '../../journal/embedded.js';
import { FlowRunner } from '../../runtime/flow-runner.js';
import { RetryPoller } from '../../runtime/retry-poller.js';
import { hubError } from '../../core/errors.js';
import { idleSource, testFlow } from '../../runtime/testing.js';
import { buildContext } from '../testing.js';
import aggregate, { type AggregateConfig } from './index.js';

const logger = pino({ level: 'silent' });
const waitFor = async (check: () => boolean, ms = 5_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('aggregate step', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(config: AggregateConfig, dir?: string, send?: Sink['send']) {
    dir ??= await mkdtemp(join(tmpdir(), 'aggregate-'));
    const journal: Journal = await openEmbeddedJournal({ dir });
    const sent: Message[] = [];
    const sink: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: send ?? (async (m) => void sent.push(m)) };
    const ctx = buildContext({ sinks: { out: { requestReply: false } } });
    const step = aggregate.create(config, ctx);
    expect(ctx.issues).toEqual([]);
    let source!: SourceContext;
    const def = testFlow('agg', idleSource(async (c) => void (source = c)), { out: sink }, {
      durable: { attempts: 3, backoff: 'fixed', initialMs: 50, maxMs: 50 },
      steps: [
        { label: '0:aggregate', kind: 'aggregate', run: step },
        { label: '1:to', kind: 'to', run: (m, run) => run.send('out', m).then(() => [m]) },
      ],
    });
    const runner = new FlowRunner(def, logger, journal);
    const poller = new RetryPoller(journal, new Map([['agg', runner]]), logger, { pollMs: 50, leaseMs: 5_000 });
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    poller.start();
    const stop = async () => {
      poller.halt();
      await poller.drained();
      await runner.stop(100);
      await journal.close();
    };
    cleanup.push(async () => {
      await stop().catch(() => {});
      await rm(dir!, { recursive: true, force: true });
    });
    const deliver = (value: unknown) => source.deliver(new Message({ value, meta: { flow: 'agg', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } }));
    return { deliver, sent, journal, stop, dir };
  }

  it('keeps the members of each key and sends one message per group, by count, with the aggregation expression', async () => {
    const { deliver, sent } = await setup({ key: 'orderId', complete: { count: 3 }, jsonata: '{ "orderId": $key, "n": $size, "items": $.item }' });
    for (const [o, item] of [['A', 1], ['B', 1], ['A', 2], ['B', 2], ['A', 3]] as const) expect(await deliver({ orderId: o, item })).toEqual({ replies: [] });
    await waitFor(() => sent.length === 1);
    expect(JSON.parse(sent[0]!.body.toString())).toEqual({ orderId: 'A', n: 3, items: [1, 2, 3] });
    expect(sent[0]!.headers).toMatchObject({ 'aggregate-key': 'A', 'aggregate-size': '3', 'aggregate-reason': 'count' });
    await deliver({ orderId: 'B', item: 3 });
    await waitFor(() => sent.length === 2);
    expect(JSON.parse(sent[1]!.body.toString())).toMatchObject({ orderId: 'B', items: [1, 2, 3] });
    expect(sent[1]!.id).not.toBe(sent[0]!.id);
  });

  it('completes by a condition, by time since the first or the last member', async () => {
    const byWhen = await setup({ key: 'k', complete: { when: 'last = true' } });
    await byWhen.deliver({ k: 1, last: false });
    await byWhen.deliver({ k: 1, last: true });
    await waitFor(() => byWhen.sent.length === 1);
    expect(byWhen.sent[0]!.json()).toEqual([{ k: 1, last: false }, { k: 1, last: true }]);

    const byTime = await setup({ key: 'k', complete: { count: 10, timeout: '300ms' } });
    const began = Date.now();
    await byTime.deliver({ k: 'never-complete' });
    await waitFor(() => byTime.sent.length === 1);
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    expect(byTime.sent[0]!.headers['aggregate-reason']).toBe('timeout');

    const byIdle = await setup({ key: 'k', complete: { idle: '200ms' } });
    for (let i = 0; i < 4; i++) {
      await byIdle.deliver({ k: 'x', i });
      await new Promise((r) => setTimeout(r, 80));
    }
    await waitFor(() => byIdle.sent.length === 1);
    expect(byIdle.sent[0]!.json()).toHaveLength(4);
    expect(byIdle.sent[0]!.headers['aggregate-reason']).toBe('idle');
  });

  it('dead-letters a member whose key fails, leaving its group unharmed; late members as the flow says', async () => {
    const { deliver, sent, journal } = await setup({ key: 'orderId', complete: { count: 2 }, late: 'dead_letter' });
    await deliver({ orderId: 'A' });
    const bad = await deliver({ other: 1 });
    expect(bad.parked).toBe('dead');
    await deliver({ orderId: 'A' });
    await waitFor(() => sent.length === 1);
    expect(sent[0]!.json()).toEqual([{ orderId: 'A' }, { orderId: 'A' }]);
    expect((await deliver({ orderId: 'A' })).parked).toBe('dead');
    const dead = (await journal.query({ flow: 'agg', status: 'dead' })).items.map((d) => d.lastError);
    expect(dead.map((e) => [e?.code, e?.step]).sort()).toEqual([['LATE_MEMBER', '0:aggregate'], ['VALIDATION_FAILED', '0:aggregate']]);
  });

  it('emits a group sealed before a restart again, with its id', async () => {
    const first = await setup({ key: 'k', complete: { count: 2 } });
    await first.deliver({ k: 'r' });
    // Sealed, as if the process died before the group's message was delivered.
    const [open] = await first.journal.listGroups('agg/0:aggregate');
    await first.journal.sealGroup('agg/0:aggregate', open!.id, { reason: 'count' });
    await first.stop();
    const second = await setup({ key: 'k', complete: { count: 2 } }, first.dir);
    await waitFor(() => second.sent.length === 1);
    expect(second.sent[0]!.id).toBe(open!.id);
    for (let i = 0; i < 50 && (await second.journal.listGroups('agg/0:aggregate')).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await second.journal.listGroups('agg/0:aggregate')).toEqual([]);
  });

  it('parks a group message that fails downstream, and its durable retry runs from the aggregate step on', async () => {
    const got: Message[] = [];
    let calls = 0;
    const { deliver } = await setup({ key: 'k', complete: { count: 2 }, jsonata: '{ "k": $key, "n": $size }' }, undefined, async (m) => {
      if (++calls <= 3) throw hubError('DOWNSTREAM_UNAVAILABLE', 'down for a moment');
      got.push(m);
      return undefined;
    });
    await deliver({ k: 'p', v: 1 });
    await deliver({ k: 'p', v: 2 });
    await waitFor(() => got.length === 1);
    // The retry finished the group again from its members, not aggregated it as a member of a new group.
    expect(JSON.parse(got[0]!.body.toString())).toEqual({ k: 'p', n: 2 });
    expect(calls).toBe(4);
  });

  it('reports a configuration that can never complete a group', () => {
    const ctx = buildContext();
    aggregate.create({ key: 'k', complete: { count: 20 }, max_size: 10 }, ctx);
    aggregate.create({ key: '(', complete: {} }, ctx);
    expect(ctx.issues.map((i) => i.path.join('.'))).toEqual(['complete.count', 'key', 'complete']);
  });
});
