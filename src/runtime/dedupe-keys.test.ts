import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Message } from '../core/message.js';
import type { Journal } from '../journal/contract.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { DedupeKeys } from './dedupe-keys.js';

const logger = pino({ level: 'silent' });
const msg = (): Message => new Message({ value: { orderId: 'o-1' }, meta: { flow: 'keys-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });

describe('DedupeKeys', () => {
  it('a key is free, then reserved by the message running with it: its own retry passes; another message waits for its outcome', async () => {
    const keys = new DedupeKeys('keys-test', undefined, logger);
    const first = msg();
    expect(keys.took(first)).toBe(false);
    expect(await keys.check(first, 'o-1', 60_000)).toBe(true);
    expect(keys.took(first)).toBe(true);
    expect(await keys.check(first, 'o-1', 60_000)).toBe(true);
    expect(await keys.check(msg(), 'o-2', 60_000)).toBe(true);
    // Delivered: the waiting copy is a duplicate.
    const copy = keys.check(msg(), 'o-1', 60_000);
    await sleep(60);
    await keys.settle(first, true);
    expect(await copy).toBe(false);
  });

  it('a message waiting on a reserved key takes it when the holder fails, or when the holder\'s lease runs out (its replica died)', async () => {
    const keys = new DedupeKeys('keys-test', undefined, logger, 300);
    const first = msg();
    await keys.check(first, 'o-1', 60_000);
    const second = msg();
    const waiting = keys.check(second, 'o-1', 60_000);
    await sleep(60);
    await keys.settle(first, false);
    expect(await waiting).toBe(true);
    // The second never settles (killed): the third passes once its lease is over.
    const started = Date.now();
    expect(await keys.check(msg(), 'o-1', 60_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('stops waiting when its run is cut, leaving the key to whoever comes next', async () => {
    const keys = new DedupeKeys('keys-test', undefined, logger, 60_000);
    const first = msg();
    await keys.check(first, 'o-1', 60_000);
    const run = { aborted: false };
    const second = msg();
    const waiting = keys.check(second, 'o-1', 60_000, run);
    await sleep(60);
    run.aborted = true;
    await expect(waiting).rejects.toMatchObject({ retryable: true });
    expect(keys.took(second)).toBe(false);
    await keys.settle(first, false);
    expect(await keys.check(msg(), 'o-1', 60_000)).toBe(true);
  });

  it('given up when its message settles undelivered (handed back): the next copy passes', async () => {
    const keys = new DedupeKeys('keys-test', undefined, logger);
    const first = msg();
    await keys.check(first, 'o-1', 60_000);
    await keys.settle(first, false);
    expect(keys.took(first)).toBe(false);
    expect(await keys.check(msg(), 'o-1', 60_000)).toBe(true);
  });

  it('kept for its time to live when its message settles delivered or parked: a copy is a duplicate, until the time runs out', async () => {
    const keys = new DedupeKeys('keys-test', undefined, logger);
    const first = msg();
    await keys.check(first, 'o-1', 50);
    await keys.settle(first, true);
    expect(await keys.check(msg(), 'o-1', 50)).toBe(false);
    // The owner's own durable retry passes the key it holds.
    expect(await keys.check(first, 'o-1', 50)).toBe(true);
    await keys.settle(first, true);
    await sleep(70);
    expect(await keys.check(msg(), 'o-1', 50)).toBe(true);
  });

  describe('with a journal', () => {
    let dir: string;
    let journal: Journal;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'dedupe-keys-'));
      journal = await openEmbeddedJournal({ dir });
    });
    afterEach(async () => {
      await journal.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    });

    it('reserves the key in the journal as the message arrives and keeps it when it settles, under its flow: another copy is a duplicate, another flow\'s is not', async () => {
      const keys = new DedupeKeys('keys-test', journal, logger);
      const first = msg();
      await keys.check(first, 'o-1', 60_000);
      expect(await journal.reserveDedupe('keys-test\u0000o-1', 'someone-else', 60_000)).toBe('busy');
      await keys.settle(first, true);
      expect(await journal.dedupeHolder('keys-test\u0000o-1')).toBe(first.id);
      expect(await journal.reserveDedupe('keys-test\u0000o-1', 'someone-else', 60_000)).toBe('held');
      const elsewhere = new DedupeKeys('keys-test', journal, logger);
      expect(await elsewhere.check(msg(), 'o-1', 60_000)).toBe(false);
      expect(await new DedupeKeys('other-flow', journal, logger).check(msg(), 'o-1', 60_000)).toBe(true);
    });

    it('gives the reservation up when its message is handed back: the key is free in the journal', async () => {
      const keys = new DedupeKeys('keys-test', journal, logger);
      const first = msg();
      await keys.check(first, 'o-3', 60_000);
      await keys.settle(first, false);
      expect(await journal.dedupeHolder('keys-test\u0000o-3')).toBeUndefined();
    });

    it('rejects JOURNAL_UNAVAILABLE when the journal cannot say, holding nothing for the message; settling then only logs', async () => {
      const warnings: string[] = [];
      const keys = new DedupeKeys('keys-test', journal, pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }));
      const first = msg();
      await keys.check(first, 'o-1', 60_000);
      await journal.close();
      await expect(keys.check(msg(), 'o-2', 60_000)).rejects.toMatchObject({ code: 'JOURNAL_UNAVAILABLE', retryable: true });
      // Had the failed check kept its running key, this copy would be a duplicate (false) before the journal is asked.
      await expect(keys.check(msg(), 'o-2', 60_000)).rejects.toMatchObject({ code: 'JOURNAL_UNAVAILABLE' });
      await expect(keys.settle(first, true)).resolves.toBeUndefined();
      expect(keys.took(first)).toBe(false);
      expect(warnings.join('')).toContain('could not keep a dedupe key of a settled message');
    });
  });
});
