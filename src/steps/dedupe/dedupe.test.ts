import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openEmbeddedJournal } from '../../journal/embedded.js';
import { build, jsonMessage, runContext } from '../testing.js';
import dedupe from './index.js';

describe('dedupe', () => {
  it('passes the first message with a key and drops the next ones within the time to live', async () => {
    const { step, issues } = build(dedupe, { key: 'orderId', ttl: '1h' });
    expect(issues).toEqual([]);
    const run = runContext();
    const first = jsonMessage({ orderId: 'o-1' });
    expect(await step(first, run)).toEqual([first]);
    expect(await step(jsonMessage({ orderId: 'o-1', again: true }), run)).toEqual([]);
    expect(await step(jsonMessage({ orderId: 'o-2' }), run)).toHaveLength(1);
    expect(await step(jsonMessage({ orderId: 7 }), run)).toHaveLength(1);
  });

  it('keeps its keys in the journal, so a reopened journal still knows them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dedupe-'));
    try {
      const { step } = build(dedupe, { key: 'order.id & "-" & order.version' });
      let journal = await openEmbeddedJournal({ dir });
      expect(await step(jsonMessage({ order: { id: 'a', version: 1 } }), runContext({}, (k, ttl) => journal.dedupe(k, ttl)))).toHaveLength(1);
      await journal.close();
      journal = await openEmbeddedJournal({ dir });
      const run = runContext({}, (k, ttl) => journal.dedupe(k, ttl));
      expect(await step(jsonMessage({ order: { id: 'a', version: 1 } }), run)).toEqual([]);
      expect(await step(jsonMessage({ order: { id: 'a', version: 2 } }), run)).toHaveLength(1);
      await journal.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails VALIDATION_FAILED (permanent) for a message without a usable key', async () => {
    const { step } = build(dedupe, { key: 'orderId' });
    for (const body of [{}, { orderId: '' }, { orderId: { nested: 1 } }, { orderId: 'x'.repeat(513) }]) {
      await expect(async () => step(jsonMessage(body), runContext())).rejects.toMatchObject({ code: 'VALIDATION_FAILED', retryable: false });
    }
  });

  it('reports a key that does not compile and a bad time to live', () => {
    expect(build(dedupe, { key: 'a = = b' }).issues).toEqual([{ path: ['key'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) }]);
    expect(build(dedupe, { key: 'a', ttl: 'soon' }).issues).toEqual([{ path: ['ttl'], message: expect.any(String) }]);
  });
});
