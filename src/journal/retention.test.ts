import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { MessageStatus, TimelineEvent } from './contract.js';
import { openEmbeddedJournal } from './embedded.js';
import { RetentionSweeper } from './retention.js';

describe('RetentionSweeper', () => {
  it('removes settled records past their status retention (from their last change) and keeps the rest, dead and waiting ones always', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'retention-'));
    const journal = await openEmbeddedJournal({ dir });
    try {
      const day = 86_400_000;
      const now = Date.parse('2030-06-30T00:00:00.000Z');
      const made: Record<string, MessageStatus> = {};
      // `changedDays`: how long ago its last event was (received `ageDays` ago).
      const put = async (id: string, ageDays: number, last: TimelineEvent['type'], changedDays = ageDays): Promise<void> => {
        const receivedAt = new Date(now - ageDays * day).toISOString();
        const at = new Date(now - changedDays * day).toISOString();
        await journal.record({ id, flow: 'f', source: 's', receivedAt, headers: {}, body: Buffer.from('{}') }, [{ type: 'received', at: receivedAt }], { maxBodyBytes: 100 });
        if (last === 'waiting-for-retry') await journal.scheduleRetry(id, { dueAt: new Date(now + day).toISOString(), attempt: 2 });
        else if (last === 'dead') await journal.deadLetter(id, { error: { code: 'TIMEOUT', message: 'x' }, attempt: 1 });
        else await journal.append(id, [{ type: last, at }]);
        made[id] = last as MessageStatus;
      };
      for (let i = 0; i < 30; i++) await put(`old-delivered-${i}`, 10, 'delivered');
      await put('new-delivered', 1, 'delivered');
      await put('old-resolved', 10, 'resolved');
      await put('older-resolved', 40, 'resolved');
      await put('old-failed', 10, 'failed');
      // The clock runs from the last change: received long ago, archived yesterday, it stays its 30 days.
      await put('old-archived-yesterday', 400, 'archived', 1);
      await put('old-archived-long-ago', 400, 'archived', 40);
      await put('old-dead', 400, 'dead');
      await put('old-waiting', 400, 'waiting-for-retry');
      // Failed again during a retry whose release has not been written yet: its retry still waits, so it stays.
      await put('old-failed-retrying', 40, 'waiting-for-retry');
      await journal.append('old-failed-retrying', [{ type: 'failed', at: new Date(now).toISOString(), attempt: 2, error: { code: 'TIMEOUT', message: 'x' } }]);
      const sweeper = new RetentionSweeper(journal, { delivered: 7 * day, resolved: 30 * day, failed: 30 * day, archived: 30 * day }, pino({ level: 'silent' }));
      expect(await sweeper.sweep(now)).toBe(32);
      const left = [];
      for (const id of Object.keys(made)) if (await journal.get(id)) left.push(id);
      expect(left.sort()).toEqual(['new-delivered', 'old-archived-yesterday', 'old-dead', 'old-failed', 'old-failed-retrying', 'old-resolved', 'old-waiting']);
      expect(await sweeper.sweep(now)).toBe(0);
    } finally {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
