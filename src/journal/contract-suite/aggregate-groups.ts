/**
 * The contract suite's AggregateGroups cases: a key's open group, duplicates, sealing once, closed keys, the open
 * group limit, removal, concurrent adders, and groups kept across a close and reopen.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { GroupMember } from '../contract.js';
import { rejection, sleep, type Setup } from './harness.js';

const member = (id = `m-${randomUUID()}`, body = `{"n":"${id}"}`): GroupMember => ({ id, at: new Date().toISOString(), headers: { 'content-type': 'application/json' }, body: Buffer.from(body) });
const scope = (): string => `orders/2:aggregate-${randomUUID()}`;

export function aggregateGroupsCases(setup: Setup): void {
  it('adds members to the open group of their key, once each, and seals it with them in order', async () => {
    const { j } = await setup();
    const s = scope();
    const [a, b] = [member('a'), member('b', 'not json \u00e9')];
    const first = await j.addToGroup(s, 'K-1', a, { newGroupId: 'g-1' });
    expect(first).toMatchObject({ outcome: 'added', group: { id: 'g-1', key: 'K-1', size: 1 } });
    expect(await j.addToGroup(s, 'K-1', b, { newGroupId: 'g-unused' })).toMatchObject({ outcome: 'added', group: { id: 'g-1', size: 2 } });
    expect(await j.addToGroup(s, 'K-1', a, { newGroupId: 'g-unused' })).toMatchObject({ outcome: 'duplicate', group: { id: 'g-1', size: 2 } });
    expect(await j.addToGroup(s, 'K-2', member(), { newGroupId: 'g-2' })).toMatchObject({ outcome: 'added', group: { id: 'g-2', size: 1 } });
    expect((await j.listGroups(s)).map((g) => [g.id, g.key, g.size, g.sealed])).toEqual([['g-1', 'K-1', 2, undefined], ['g-2', 'K-2', 1, undefined]]);

    const sealed = await j.sealGroup(s, 'g-1', { reason: 'count' });
    expect(sealed).toMatchObject({ first: true, group: { id: 'g-1', key: 'K-1', size: 2, sealed: { reason: 'count' } } });
    expect(sealed!.members.map((m) => [m.id, m.body.toString()])).toEqual([['a', '{"n":"a"}'], ['b', 'not json \u00e9']]);
    expect(sealed!.members[0]!.headers).toEqual({ 'content-type': 'application/json' });
    // Sealed again (a restart before its result settled): the same group, not first.
    expect(await j.sealGroup(s, 'g-1', { reason: 'timeout' })).toMatchObject({ first: false, group: { sealed: { reason: 'count' } } });
    // The key's next member opens a new group.
    expect(await j.addToGroup(s, 'K-1', member('c'), { newGroupId: 'g-3' })).toMatchObject({ outcome: 'added', group: { id: 'g-3', size: 1 } });
    expect(await j.removeGroup(s, 'g-1')).toBe(true);
    expect(await j.removeGroup(s, 'g-1')).toBe(false);
    expect(await j.sealGroup(s, 'g-1', { reason: 'count' })).toBeUndefined();
    expect((await j.listGroups(s)).map((g) => g.id)).toEqual(['g-2', 'g-3']);
    expect(await j.listGroups(scope())).toEqual([]);
  });

  it('refuses a late member while its key is closed, and a new group past the open limit', async () => {
    const { j } = await setup();
    const s = scope();
    await j.addToGroup(s, 'K', member(), { newGroupId: 'g-1' });
    await j.sealGroup(s, 'g-1', { reason: 'count', closedTtlMs: 400 });
    expect(await j.addToGroup(s, 'K', member(), { newGroupId: 'g-2', refuseClosed: true })).toEqual({ outcome: 'closed' });
    await sleep(550);
    expect(await j.addToGroup(s, 'K', member(), { newGroupId: 'g-2', refuseClosed: true })).toMatchObject({ outcome: 'added', group: { id: 'g-2' } });
    expect(await j.addToGroup(s, 'L', member(), { newGroupId: 'g-3', maxOpen: 1 })).toEqual({ outcome: 'full' });
    // A member of an open group is taken at the limit.
    expect(await j.addToGroup(s, 'K', member(), { newGroupId: 'g-x', maxOpen: 1 })).toMatchObject({ outcome: 'added', group: { id: 'g-2', size: 2 } });
    expect((await rejection(j.addToGroup(s, '', member(), { newGroupId: 'g-4' }))).code).toBe('JOURNAL_INVALID_ARGUMENT');
  });

  it('puts concurrent members of one key into one group, and gives the seal to one of concurrent sealers', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const s = scope();
    const adds = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? j : other).addToGroup(s, 'K', member(`m${i}`), { newGroupId: `g-${i}` })));
    const ids = new Set(adds.map((a) => (a.outcome === 'added' ? a.group.id : 'refused')));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    const seals = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? j : other).sealGroup(s, id!, { reason: 'count' })));
    expect(seals.filter((x) => x?.first)).toHaveLength(1);
    expect(seals[0]!.members).toHaveLength(10);
  });

  it('keeps open and sealed groups, their members and closed keys across a close and reopen', async () => {
    const { h, j } = await setup();
    const s = scope();
    await j.addToGroup(s, 'open', member('o1'), { newGroupId: 'g-open' });
    await j.addToGroup(s, 'sealed', member('s1'), { newGroupId: 'g-sealed' });
    await j.sealGroup(s, 'g-sealed', { reason: 'timeout', closedTtlMs: 60_000 });
    await j.close();
    const k = await h.open();
    expect((await k.listGroups(s)).map((g) => [g.id, g.size, g.sealed?.reason])).toEqual([['g-open', 1, undefined], ['g-sealed', 1, 'timeout']]);
    expect(await k.addToGroup(s, 'open', member('o1'), { newGroupId: 'g-no' })).toMatchObject({ outcome: 'duplicate' });
    expect(await k.addToGroup(s, 'sealed', member(), { newGroupId: 'g-no', refuseClosed: true })).toEqual({ outcome: 'closed' });
    expect((await k.sealGroup(s, 'g-sealed', { reason: 'count' }))!.members.map((m) => m.id)).toEqual(['s1']);
  });
}
