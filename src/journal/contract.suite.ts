/**
 * The journal contract suite: every backend runs these same cases against its real store (embedded.test.ts,
 * redis.test.ts), one set of cases per role (contract-suite/), then the whole journal's close and reopen. A backend
 * passes a harness factory; each test gets a store of its own and destroys it after.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Journal } from './contract.js';
import { adminAuditCases } from './contract-suite/admin-audit.js';
import { aggregateGroupsCases } from './contract-suite/aggregate-groups.js';
import { dedupeKeysCases } from './contract-suite/dedupe-keys.js';
import { at, CAP, message, received, rejection, type HarnessFactory, type HarnessOptions, type JournalHarness } from './contract-suite/harness.js';
import { messageLogCases } from './contract-suite/message-log.js';
import { replayBookCases } from './contract-suite/replay-book.js';
import { retryQueueCases } from './contract-suite/retry-queue.js';

export type { HarnessFactory, HarnessOptions, JournalHarness } from './contract-suite/harness.js';

export function journalContractSuite(name: string, factory: HarnessFactory): void {
  describe(`journal contract: ${name}`, () => {
    const harnesses: JournalHarness[] = [];
    afterEach(async () => {
      await Promise.all(harnesses.splice(0).map((h) => h.destroy()));
    });
    async function setup(options: HarnessOptions = {}): Promise<{ h: JournalHarness; j: Journal }> {
      const h = await factory(options);
      harnesses.push(h);
      return { h, j: await h.open() };
    }

    describe('MessageLog', () => messageLogCases(setup));
    describe('RetryQueue', () => retryQueueCases(setup));
    describe('ReplayBook', () => replayBookCases(setup));
    describe('DedupeKeys', () => dedupeKeysCases(setup));
    describe('AdminAudit', () => adminAuditCases(setup));
    describe('AggregateGroups', () => aggregateGroupsCases(setup));

    describe('ReplayJobStore', () => {
      it('keeps replay jobs whole, newest first, with their results in order, across a close and reopen', async () => {
        const { h, j } = await setup();
        await j.saveReplayJob({ id: 'job-1', startedAt: '2030-05-01T00:00:00.000Z', state: 'running', counts: { done: 0 } });
        await j.saveReplayJob({ id: 'job-2', startedAt: '2030-05-02T00:00:00.000Z', state: 'running' });
        await j.saveReplayJob({ id: 'job-1', startedAt: '2030-05-01T00:00:00.000Z', state: 'paused', counts: { done: 2 } });
        await j.appendReplayJobResults('job-1', [{ id: 'm-1', at: at(), outcome: 'delivered', newId: 'n-1' }, { id: 'm-2', at: at(), outcome: 'removed' }]);
        await j.appendReplayJobResults('job-1', [{ id: 'm-3', at: at(), outcome: 'failed', reason: 'CONFLICT: x' }]);
        expect((await j.listReplayJobs()).map((x) => x.id)).toEqual(['job-2', 'job-1']);
        expect(await j.getReplayJob('job-1')).toEqual({ id: 'job-1', startedAt: '2030-05-01T00:00:00.000Z', state: 'paused', counts: { done: 2 } });
        expect(await j.getReplayJob('nope')).toBeUndefined();
        expect((await j.replayJobResults('job-1', { offset: 1, limit: 5 })).items.map((r) => r.id)).toEqual(['m-2', 'm-3']);
        expect((await rejection(j.saveReplayJob({ id: '', startedAt: 'x' }))).code).toBe('JOURNAL_INVALID_ARGUMENT');
        await j.close();
        const k = await h.open();
        expect((await k.getReplayJob('job-1'))?.state).toBe('paused');
        expect(await k.replayJobResults('job-1')).toMatchObject({ total: 3 });
      });
    });

    describe('Journal: close and reopen', () => {
      it('keeps records, retries, dead letters, replays and dedupe keys across a close and reopen', async () => {
        const { h, j } = await setup();
        const waiting = message();
        const dead = message();
        const replayed = message();
        for (const m of [waiting, dead, replayed]) await j.record(m, [received()], CAP);
        await j.scheduleRetry(waiting.id, { dueAt: at(-1), attempt: 2 });
        await j.deadLetter(dead.id, { error: { code: 'BAD_JSON', message: 'unexpected token', step: '0:transform' }, attempt: 1, at: '2030-04-01T00:00:00.000Z' });
        await j.recordReplay({ requestKey: 'restart-key', originalId: replayed.id, newId: 'n-restart', by: 'ops', target: { to: 'start' } });
        expect(await j.dedupe('restart-dedupe', 60_000, 'm-owner')).toBe(true);
        const before = await j.get(dead.id);
        await j.close();
        expect((await rejection(j.get(dead.id))).code).toBe('JOURNAL_CLOSED');

        const k = await h.open();
        expect(await k.get(dead.id)).toEqual(before);
        expect(await k.deadLetterGroups()).toEqual([{ flow: 'orders', step: '0:transform', code: 'BAD_JSON', count: 1, firstSeen: '2030-04-01T00:00:00.000Z', lastSeen: '2030-04-01T00:00:00.000Z' }]);
        expect((await k.get(replayed.id))!.status).toBe('resolved');
        expect(await k.statusCounts()).toEqual([{ flow: 'orders', counts: { 'waiting-for-retry': 1, dead: 1, resolved: 1 } }]);
        expect((await k.recordReplay({ requestKey: 'restart-key', originalId: replayed.id, newId: 'n-2', by: 'ops', target: { to: 'start' } })).accepted).toBe(false);
        expect(await k.dedupe('restart-dedupe', 60_000)).toBe(false);
        expect(await k.dedupe('restart-dedupe', 60_000, 'm-owner')).toBe(true);
        const [claim] = await k.claimDueRetries(5);
        expect(claim).toMatchObject({ id: waiting.id, attempt: 2 });
        await k.completeRetry(claim!);
      });
    });
  });
}
