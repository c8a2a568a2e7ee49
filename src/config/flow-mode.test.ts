import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHubConfig } from './hub-config.js';
import type { MessageInput } from '../journal/contract.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { JournalError } from '../journal/errors.js';
import { flowJournalDir, servicePort } from './flow-mode.js';
import { FlowScopedJournal } from '../journal/scoped.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flow-mode-'));
  dirs.push(d);
  return d;
}

describe('flow mode settings', () => {
  it('puts the embedded journal in <journal dir>/<flow>, unless HUB_JOURNAL_DIR named the folder exactly', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'hub.yaml'), 'journal: { dir: store }\n');
    expect(flowJournalDir(loadHubConfig({}, {}, dir).journal, 'orders-api')).toBe(join(dir, 'store', 'orders-api'));
    expect(flowJournalDir(loadHubConfig({}, {}, await tempDir()).journal, 'orders-api')).toMatch(/\.hub\/journal\/orders-api$/);
    expect(flowJournalDir(loadHubConfig({}, { HUB_JOURNAL_DIR: '/var/lib/hub/journal' }, dir).journal, 'orders-api')).toBe('/var/lib/hub/journal');
  });

  it('listens on --port or HUB_PORT when given, else on the flow\'s own port when it has one, else hub.yaml\'s', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'hub.yaml'), 'port: 9000\n');
    const file = loadHubConfig({}, {}, dir);
    expect([servicePort(file), servicePort(file, 8181)]).toEqual([9000, 8181]);
    expect(servicePort(loadHubConfig({ port: 7000 }, {}, dir), 8181)).toBe(7000);
    expect(servicePort(loadHubConfig({}, { HUB_PORT: '7001' }, dir), 8181)).toBe(7001);
    expect(servicePort(loadHubConfig({}, {}, await tempDir()), 8181)).toBe(8181);
  });
});

describe('FlowScopedJournal', () => {
  const input = (flow: string): MessageInput => ({ id: `m-${randomUUID()}`, flow, source: 'test', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from('{}') });

  it('shows, changes and counts only its own flow\'s messages, as if the others were not there', async () => {
    const inner = await openEmbeddedJournal({ dir: await tempDir() });
    try {
      const own = input('orders-api');
      const other = input('shipping-quote-soap');
      for (const m of [own, other]) {
        await inner.record(m, [], { maxBodyBytes: 1024 });
        await inner.deadLetter(m.id, { error: { code: 'VALIDATION_FAILED', message: 'bad' }, attempt: 1 });
      }
      const j = new FlowScopedJournal(inner, 'orders-api');
      expect((await j.query({})).items.map((m) => m.id)).toEqual([own.id]);
      expect((await j.query({ flow: 'shipping-quote-soap' })).items).toEqual([]);
      expect(await j.get(other.id)).toBeUndefined();
      expect((await j.get(own.id))?.flow).toBe('orders-api');
      expect((await j.deadLetterGroups()).map((g) => g.flow)).toEqual(['orders-api']);
      expect(await j.deadLetterGroups({ flow: 'shipping-quote-soap' })).toEqual([]);
      const refused = await j.append(other.id, [{ type: 'archived', at: new Date().toISOString() }]).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(JournalError);
      expect((refused as JournalError).code).toBe('JOURNAL_NOT_FOUND');
      const replay = { requestKey: randomUUID(), newId: `m-${randomUUID()}`, by: 'test', target: { to: 'start' as const } };
      expect(((await j.recordReplay({ ...replay, originalId: other.id }).catch((e: unknown) => e)) as JournalError).code).toBe('JOURNAL_NOT_FOUND');
      expect(await j.remove(other.id)).toBe(false);
      expect(await inner.get(other.id)).toBeDefined();
      await inner.recordReplay({ ...replay, requestKey: randomUUID(), originalId: other.id });
      expect((await j.listReplays()).items).toEqual([]);
      expect((await inner.listReplays()).items).toHaveLength(1);
      await j.close(); // a view: the journal stays open
      expect(await inner.get(own.id)).toBeDefined();
    } finally {
      await inner.close();
    }
  });
});
