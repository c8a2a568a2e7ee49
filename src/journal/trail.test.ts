import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInput } from './contract.js';
import { openEmbeddedJournal, type EmbeddedJournal } from './embedded.js';
import { MessageTrail } from './trail.js';

describe('MessageTrail: the journal policy per flow', () => {
  let dir: string;
  let journal: EmbeddedJournal;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trail-'));
    journal = await openEmbeddedJournal({ dir });
  });
  afterEach(async () => {
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  });
  const message = (id: string): MessageInput => ({ id, flow: 'f', source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('{}') });
  const now = () => new Date().toISOString();
  const logSize = async () => (await stat(join(dir, 'journal.log')).catch(() => ({ size: 0 }))).size;

  it('failures: a message that succeeds on its first try writes nothing at all', async () => {
    const t = await MessageTrail.begin(journal, { record: 'failures', maxBodyBytes: 100 }, message('ok'));
    await t.event({ type: 'step', at: now(), step: '0:transform' });
    await t.event({ type: 'delivered', at: now(), attempt: 1, step: 'out' });
    expect(t.recorded).toBe(false);
    expect(await journal.get('ok')).toBeUndefined();
    expect(await logSize()).toBe(0);
  });

  it('failures: the first failure creates the record with every event held until then, later events append', async () => {
    const t = await MessageTrail.begin(journal, { record: 'failures', maxBodyBytes: 100 }, message('bad'));
    await t.event({ type: 'step', at: now(), step: '0:transform' });
    await t.event({ type: 'failed', at: now(), attempt: 1, error: { code: 'TIMEOUT', message: 'slow', step: 'sink:out' } });
    await t.event({ type: 'delivered', at: now(), attempt: 2, step: 'out' });
    expect((await journal.get('bad'))!.timeline.map((e) => e.type)).toEqual(['received', 'step', 'failed', 'delivered']);
  });

  it('all: written from receipt; none: nothing, unless the message must be parked', async () => {
    const all = await MessageTrail.begin(journal, { record: 'all', maxBodyBytes: 100 }, message('a'));
    expect((await journal.get('a'))!.timeline.map((e) => e.type)).toEqual(['received']);
    await all.event({ type: 'delivered', at: now(), attempt: 1 });
    expect((await journal.get('a'))!.status).toBe('delivered');

    const none = await MessageTrail.begin(journal, { record: 'none', maxBodyBytes: 100 }, message('n'));
    await none.event({ type: 'failed', at: now(), attempt: 1, error: { code: 'TIMEOUT', message: 'slow' } });
    expect(await journal.get('n')).toBeUndefined();
    await none.ensureRecorded();
    await journal.scheduleRetry('n', { dueAt: now(), attempt: 2 });
    expect((await journal.get('n'))!.status).toBe('waiting-for-retry');
  });
});
