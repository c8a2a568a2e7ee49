/**
 * The contract suite's DedupeKeys cases: time to live, owners, one winner among concurrent takers.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { sleep, type Setup } from './harness.js';

export function dedupeKeysCases(setup: Setup): void {
  it('is true for a new key, false within its time to live, and true again after it', async () => {
    const { j } = await setup();
    const key = `order:${randomUUID()}`;
    expect(await j.dedupe(key, 400)).toBe(true);
    expect(await j.dedupe(key, 400)).toBe(false);
    expect(await j.dedupe(`${key}:other`, 400)).toBe(true);
    await sleep(550);
    expect(await j.dedupe(key, 400)).toBe(true);
    expect(await j.dedupe(key, 400)).toBe(false);
  });

  it('lets the owner of a key through again (a retry of the message that took it), nobody else', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const key = `owned-${randomUUID()}`;
    expect(await j.dedupe(key, 60_000, 'm-1')).toBe(true);
    expect(await other.dedupe(key, 60_000, 'm-1')).toBe(true);
    expect(await other.dedupe(key, 60_000, 'm-2')).toBe(false);
    expect(await j.dedupe(key, 60_000)).toBe(false);
    expect(await other.dedupeHolder(key)).toBe('m-1');
    expect(await j.dedupeHolder(`free-${randomUUID()}`)).toBeUndefined();
    // The owner's call starts the time to live again, for as long as it says, longer or shorter.
    const short = `short-${randomUUID()}`;
    expect(await j.dedupe(short, 300, 'm-1')).toBe(true);
    expect(await j.dedupe(short, 60_000, 'm-1')).toBe(true);
    await sleep(450);
    expect(await other.dedupe(short, 60_000, 'm-2')).toBe(false);
    expect(await j.dedupe(short, 1, 'm-1')).toBe(true);
    await sleep(20);
    expect(await other.dedupe(short, 60_000, 'm-2')).toBe(true);
  });

  it('gives true to exactly one of concurrent calls with one key', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const key = `k-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? j : other).dedupe(key, 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('reserves a free key for one owner: the owner passes again, another finds it busy, then held once kept, free once given up', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const key = `res-${randomUUID()}`;
    expect(await j.reserveDedupe(key, 'm-1', 60_000)).toBe('reserved');
    expect(await other.reserveDedupe(key, 'm-1', 60_000)).toBe('reserved');
    expect(await other.reserveDedupe(key, 'm-2', 60_000)).toBe('busy');
    expect(await other.dedupeHolder(key)).toBe('m-1');
    // Another owner cannot keep a key reserved by someone else; the reserving owner can.
    expect(await other.dedupe(key, 60_000, 'm-2')).toBe(false);
    expect(await j.dedupe(key, 60_000, 'm-1')).toBe(true);
    expect(await other.reserveDedupe(key, 'm-2', 60_000)).toBe('held');
    expect(await other.reserveDedupe(key, 'm-1', 60_000)).toBe('reserved');
    // Giving up a kept key changes nothing.
    await j.releaseDedupe(key, 'm-1');
    expect(await other.dedupeHolder(key)).toBe('m-1');

    const failed = `rel-${randomUUID()}`;
    expect(await j.reserveDedupe(failed, 'm-1', 60_000)).toBe('reserved');
    await other.releaseDedupe(failed, 'm-2');
    expect(await j.reserveDedupe(failed, 'm-2', 60_000)).toBe('busy');
    await other.releaseDedupe(failed, 'm-1');
    expect(await j.dedupeHolder(failed)).toBeUndefined();
    expect(await other.reserveDedupe(failed, 'm-2', 60_000)).toBe('reserved');
    await expect(j.reserveDedupe('', 'm-1', 1_000)).rejects.toMatchObject({ code: 'JOURNAL_INVALID_ARGUMENT' });
    await expect(j.reserveDedupe(failed, '', 1_000)).rejects.toMatchObject({ code: 'JOURNAL_INVALID_ARGUMENT' });
    await expect(j.reserveDedupe(failed, 'm-1', 0)).rejects.toMatchObject({ code: 'JOURNAL_INVALID_ARGUMENT' });
  });

  it('frees a reservation whose lease ran out (its replica died mid-message)', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const key = `lease-${randomUUID()}`;
    expect(await j.reserveDedupe(key, 'm-dead', 200)).toBe('reserved');
    expect(await other.reserveDedupe(key, 'm-2', 60_000)).toBe('busy');
    await sleep(300);
    expect(await other.reserveDedupe(key, 'm-2', 60_000)).toBe('reserved');
  });

  it('gives "reserved" to exactly one of concurrent reservations of one key by different owners, across stores', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const key = `race-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? j : other).reserveDedupe(key, `m-${i}`, 60_000)));
    expect(results.filter((r) => r === 'reserved')).toHaveLength(1);
    expect(results.filter((r) => r === 'busy')).toHaveLength(9);
  });
}
