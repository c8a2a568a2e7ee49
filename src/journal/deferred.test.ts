import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeferredJournal } from './deferred.js';
import { openEmbeddedJournal } from './embedded.js';
import { JournalError } from './errors.js';

describe('DeferredJournal', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('rejects UNAVAILABLE until its store answers, keeps trying, then is that journal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deferred-'));
    dirs.push(dir);
    let tries = 0;
    const deferred = new DeferredJournal({
      where: 'a store that comes late',
      retryMs: 20,
      open: async () => {
        if (++tries < 3) throw new JournalError('UNAVAILABLE', 'not yet');
        return openEmbeddedJournal({ dir });
      },
    });
    const j = deferred.journal;
    await expect(j.dedupe('k', 1_000)).rejects.toMatchObject({ failure: 'UNAVAILABLE', message: expect.stringContaining('a store that comes late') });
    expect(deferred.isOpen).toBe(false);
    // Not a thenable: awaiting it gives the journal itself.
    expect(await Promise.resolve(j)).toBe(j);
    expect(await deferred.opened).toBeDefined();
    expect(tries).toBe(3);
    expect(deferred.isOpen).toBe(true);
    expect(await j.dedupe('k', 1_000)).toBe(true);
    expect(await j.dedupe('k', 1_000)).toBe(false);
    await j.close();
    await expect(j.dedupe('k', 1_000)).rejects.toMatchObject({ failure: 'CLOSED' });
  });

  it('closed before its store answered: stops trying, and rejects CLOSED', async () => {
    let tries = 0;
    const deferred = new DeferredJournal({ where: 'a store that never comes', retryMs: 20, open: () => Promise.reject(new JournalError('UNAVAILABLE', `try ${++tries}`)) });
    await new Promise((resolve) => setTimeout(resolve, 70));
    await deferred.journal.close();
    const after = tries;
    expect(await deferred.opened).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 70));
    expect(tries).toBe(after);
    await expect(deferred.journal.get('x')).rejects.toMatchObject({ failure: 'CLOSED' });
  });
});
