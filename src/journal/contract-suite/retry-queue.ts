/**
 * The contract suite's RetryQueue cases: due times, one claimer per retry, leases that run out or are extended,
 * release, and claims limited to some flows.
 */
import { expect, it } from 'vitest';
import type { RetryClaim } from '../contract.js';
import { at, CAP, claimAll, failed, message, received, rejection, sleep, type Setup } from './harness.js';

export function retryQueueCases(setup: Setup): void {
  it('holds a retry until it is due, hands it out once, and forgets it when completed', async () => {
    const { j } = await setup();
    const soon = message();
    const later = message();
    for (const m of [soon, later]) await j.record(m, [received(), failed('TIMEOUT', 'slow')], CAP);
    await j.scheduleRetry(soon.id, { dueAt: at(300), attempt: 2, error: { code: 'TIMEOUT', message: 'slow' } });
    await j.scheduleRetry(later.id, { dueAt: at(60_000), attempt: 2 });
    expect(await j.get(soon.id)).toMatchObject({ status: 'waiting-for-retry', attempts: 2 });
    expect((await j.get(soon.id))!.timeline.at(-1)).toMatchObject({ type: 'waiting-for-retry', attempt: 2 });
    expect(await j.claimDueRetries(10)).toEqual([]);
    await sleep(400);
    const [claim, ...rest] = await j.claimDueRetries(10);
    expect(rest).toEqual([]);
    expect(claim).toMatchObject({ id: soon.id, flow: 'orders', attempt: 2 });
    expect(await j.claimDueRetries(10)).toEqual([]);
    await j.completeRetry(claim!);
    await j.append(soon.id, [{ type: 'delivered', at: at(), attempt: 2 }]);
    expect((await j.get(soon.id))!.status).toBe('delivered');
    expect(await j.claimDueRetries(10)).toEqual([]);
    expect((await rejection(j.completeRetry(claim!))).code).toBe('JOURNAL_NOT_FOUND');
  });

  it('takes a released retry back: due again at a new time, or at once', async () => {
    const { j } = await setup();
    const m = message();
    await j.record(m, [received()], CAP);
    await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
    const [first] = await j.claimDueRetries(1);
    await j.releaseRetry(first!, { dueAt: at(300), attempt: 3, error: { code: 'TIMEOUT', message: 'still slow' } });
    expect(await j.get(m.id)).toMatchObject({ status: 'waiting-for-retry', attempts: 3, lastError: { message: 'still slow' } });
    expect(await j.claimDueRetries(1)).toEqual([]);
    await sleep(400);
    const [second] = await j.claimDueRetries(1);
    expect(second).toMatchObject({ id: m.id, attempt: 3 });
    await j.releaseRetry(second!); // a stopping replica gives it back untouched
    const [third] = await j.claimDueRetries(1);
    expect(third).toMatchObject({ id: m.id, attempt: 3 });
    await j.completeRetry(third!);
  });

  it('hands a claim whose lease ran out to the next caller, and the old claim is no longer held', async () => {
    const { j } = await setup({ leaseMs: 1000 });
    const m = message();
    await j.record(m, [received()], CAP);
    await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
    const [stale] = await j.claimDueRetries(1);
    expect(stale).toBeDefined();
    let again: RetryClaim[] = [];
    for (let i = 0; i < 40 && again.length === 0; i++) {
      await sleep(100);
      again = await j.claimDueRetries(1);
    }
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ id: m.id, attempt: 2 });
    expect((await rejection(j.completeRetry(stale!))).code).toBe('JOURNAL_NOT_FOUND');
    await j.completeRetry(again[0]!);
  });


  it('keeps a claim that is extended past its lease, and refuses to extend one no longer held', async () => {
    const { h, j } = await setup({ leaseMs: 1000 });
    const other = h.shared ? await h.open() : j;
    const m = message();
    await j.record(m, [received()], CAP);
    await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
    const [claim] = await j.claimDueRetries(1);
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      await j.extendRetry(claim!);
      expect(await other.claimDueRetries(1)).toEqual([]);
    }
    await j.releaseRetry(claim!, { dueAt: at(60_000), attempt: 3 });
    expect((await rejection(j.extendRetry(claim!))).code).toBe('JOURNAL_NOT_FOUND');
    expect(await j.get(m.id)).toMatchObject({ status: 'waiting-for-retry', attempts: 3 });
  });

  it('gives each due retry to exactly one of several concurrent claimers', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const ms = Array.from({ length: 24 }, () => message());
    for (const m of ms) {
      await j.record(m, [received()], CAP);
      await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
    }
    const [a, b, c] = await Promise.all([claimAll(j, 3), claimAll(other, 3), claimAll(other, 2)]);
    const claimed = [...a!, ...b!, ...c!].map((cl) => cl.id);
    expect(claimed.sort()).toEqual(ms.map((m) => m.id).sort());
    if (h.shared) expect(a!.length).toBeGreaterThan(0);
    await Promise.all([...a!.map((cl) => j.completeRetry(cl)), ...b!.map((cl) => other.completeRetry(cl)), ...c!.map((cl) => other.completeRetry(cl))]);
    expect(await j.claimDueRetries(10)).toEqual([]);
  });

  it('claims only the named flows\' retries and leaves the others due for their own claimer, untouched', async () => {
    const { h, j } = await setup();
    const other = h.shared ? await h.open() : j;
    const orders = [message({ flow: 'orders' }), message({ flow: 'orders' })];
    const quotes = [message({ flow: 'quotes' }), message({ flow: 'quotes' })];
    for (const m of [...orders, ...quotes]) {
      await j.record(m, [received()], CAP);
      await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
    }
    expect(await j.claimDueRetries(10, { flows: [] })).toEqual([]);
    const mine = await j.claimDueRetries(10, { flows: ['orders'] });
    expect(mine.map((c) => c.id).sort()).toEqual(orders.map((m) => m.id).sort());
    expect(await j.claimDueRetries(10, { flows: ['orders'] })).toEqual([]);
    // The other flow's retries were never claimed: its own claimer gets them at once, not after a lease.
    const theirs = await other.claimDueRetries(10, { flows: ['quotes', 'nobody'] });
    expect(theirs.map((c) => ({ id: c.id, flow: c.flow }))).toEqual(expect.arrayContaining(quotes.map((m) => ({ id: m.id, flow: 'quotes' }))));
    expect(theirs).toHaveLength(2);
    for (const m of quotes) expect((await j.get(m.id))!.timeline.map((e) => e.type)).toEqual(['received', 'waiting-for-retry']);
    await Promise.all([...mine.map((c) => j.completeRetry(c)), ...theirs.map((c) => other.completeRetry(c))]);
    expect(await j.claimDueRetries(10)).toEqual([]);
  });

  it('without flows claims every flow\'s due retries', async () => {
    const { j } = await setup();
    const ms = [message({ flow: 'orders' }), message({ flow: 'quotes' })];
    for (const m of ms) {
      await j.record(m, [received()], CAP);
      await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
    }
    const claims = await claimAll(j);
    expect(claims.map((c) => c.flow).sort()).toEqual(['orders', 'quotes']);
    for (const c of claims) await j.completeRetry(c);
  });
}
