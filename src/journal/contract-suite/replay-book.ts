/**
 * The contract suite's ReplayBook cases: the booking (link, resolution, audit entry with hashes), one acceptance per
 * request key, the replay audit's pages.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { sha256 } from '../shared.js';
import { CAP, message, received, type Setup } from './harness.js';

export function replayBookCases(setup: Setup): void {
  it('links the new id to the original, resolves the original and writes the audit entry', async () => {
    const { j } = await setup();
    const original = message();
    await j.record(original, [received()], CAP);
    await j.deadLetter(original.id, { error: { code: 'VALIDATION_FAILED', message: 'bad', step: '1:validate' }, attempt: 1 });
    const edited = Buffer.from('{"orderId":"A-1","lines":[1]}');
    const newId = `m-${randomUUID()}`;
    const out = await j.recordReplay({ requestKey: 'req-1', originalId: original.id, newId, by: 'alice', target: { to: 'failed-step', step: '1:validate' }, editedBody: edited, note: 'added a line' });
    expect(out.accepted).toBe(true);
    expect(out.replay).toMatchObject({
      requestKey: 'req-1',
      originalId: original.id,
      newId,
      flow: 'orders',
      by: 'alice',
      target: { to: 'failed-step', step: '1:validate' },
      edited: true,
      bodyHashBefore: sha256(original.body),
      bodyHashAfter: sha256(edited),
      note: 'added a line',
    });
    const rec = await j.get(original.id);
    expect(rec).toMatchObject({ status: 'resolved', replayedAs: [newId] });
    expect(rec!.timeline.slice(-2).map((e) => e.type)).toEqual(['replayed', 'resolved']);
    expect(rec!.timeline.at(-2)!.detail).toBe(newId);
    expect(await j.getReplay('req-1')).toEqual(out.replay);
    expect(await j.getReplay('req-unknown')).toBeUndefined();

    // The replayed message is recorded like any other, carrying its link.
    await j.record(message({ id: newId, replayOf: original.id }), [received()], CAP);
    expect((await j.query({ flow: 'orders' })).items.find((i) => i.id === newId)).toMatchObject({ replayOf: original.id });
  });

  it('accepts the same replay request key once, even when submitted twice at the same time', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const original = message();
    await j.record(original, [received()], CAP);
    const request = (newId: string) => ({ requestKey: 'same-key', originalId: original.id, newId, by: 'bob', target: { to: 'start' as const } });
    const [a, b] = await Promise.all([j.recordReplay(request('m-new-1')), other.recordReplay(request('m-new-2'))]);
    expect([a!.accepted, b!.accepted].sort()).toEqual([false, true]);
    expect(a!.replay.newId).toBe(b!.replay.newId);
    const again = await j.recordReplay(request('m-new-3'));
    expect(again).toEqual({ accepted: false, replay: a!.replay });
    expect((await j.get(original.id))!.replayedAs).toEqual([a!.replay.newId]);
    expect((await j.listReplays({ originalId: original.id })).items).toHaveLength(1);
  });

  it('lists the audit newest first, by original, paged', async () => {
    const { j } = await setup();
    const a = message();
    const b = message();
    for (const m of [a, b]) await j.record(m, [received()], CAP);
    const times = ['2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z', '2030-03-03T00:00:00.000Z'];
    await j.recordReplay({ requestKey: 'k1', originalId: a.id, newId: 'n1', by: 'ops', at: times[0], target: { to: 'start' } });
    await j.recordReplay({ requestKey: 'k2', originalId: b.id, newId: 'n2', by: 'ops', at: times[1], target: { to: 'start' } });
    await j.recordReplay({ requestKey: 'k3', originalId: a.id, newId: 'n3', by: 'ops', at: times[2], target: { to: 'start', sink: 'orders-v2' } });
    const first = await j.listReplays({ limit: 2 });
    expect(first.items.map((r) => r.requestKey)).toEqual(['k3', 'k2']);
    expect((await j.listReplays({ limit: 2, cursor: first.next! })).items.map((r) => r.requestKey)).toEqual(['k1']);
    expect((await j.listReplays({ originalId: a.id })).items.map((r) => r.newId)).toEqual(['n3', 'n1']);
    expect((await j.get(a.id))!.replayedAs).toEqual(['n1', 'n3']);
    expect((await j.listReplays({ originalId: a.id })).items[0]).toMatchObject({ edited: false, bodyHashAfter: sha256(a.body), target: { sink: 'orders-v2' } });
  });
}
