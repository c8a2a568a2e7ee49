import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HubError } from '../core/errors.js';
import type { Cancellation } from './cancellation.js';
import { RunTimeouts } from './run-timeouts.js';

/** When `run` is cut (ms after `since`), and why. */
function cutOf(run: Cancellation, since: number): Promise<{ afterMs: number; reason: HubError }> {
  return run.race(new Promise<never>(() => {})).catch((reason: HubError) => ({ afterMs: performance.now() - since, reason }));
}

describe('RunTimeouts', () => {
  afterEach(() => vi.restoreAllMocks());

  it('cuts each run at its own deadline with TIMEOUT, all on one timer; a run untracked in time is never cut', async () => {
    const timeouts = new RunTimeouts(80);
    const armed = vi.spyOn(globalThis, 'setTimeout');
    const start = performance.now();
    const first = timeouts.track();
    const quick = timeouts.track();
    await sleep(40);
    const second = timeouts.track();
    const third = timeouts.track();
    // One timer for the four runs: at the first deadline, then set again for the next one.
    expect(armed).toHaveBeenCalledTimes(1);
    timeouts.untrack(quick);
    const [a, b, c] = await Promise.all([cutOf(first, start), cutOf(second, start), cutOf(third, start)]);
    expect(a.reason).toMatchObject({ code: 'TIMEOUT', retryable: true, message: 'the flow did not finish within 80 ms' });
    expect(a.afterMs).toBeGreaterThanOrEqual(75);
    expect(a.afterMs).toBeLessThan(115);
    // Not cut with the first: each at its own deadline, 40 ms later.
    expect(b.afterMs).toBeGreaterThanOrEqual(115);
    expect(c.afterMs).toBeGreaterThanOrEqual(115);
    expect(quick.aborted).toBe(false);
    expect(armed).toHaveBeenCalledTimes(2);
  });

  it('clears its timer once nothing is tracked, and arms it again for the next run', async () => {
    const timeouts = new RunTimeouts(30);
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    const a = timeouts.track();
    const b = timeouts.track();
    timeouts.untrack(a);
    expect(cleared).not.toHaveBeenCalled();
    timeouts.untrack(b);
    expect(cleared).toHaveBeenCalledTimes(1);
    expect(timeouts.size).toBe(0);
    await sleep(50);
    expect([a.aborted, b.aborted]).toEqual([false, false]);
    const c = timeouts.track();
    await expect(cutOf(c, performance.now())).resolves.toMatchObject({ reason: { code: 'TIMEOUT' } });
  });

  it('stop cuts what is tracked with FLOW_STOPPING, and every run tracked after it at once', async () => {
    const timeouts = new RunTimeouts(10_000);
    const running = timeouts.track();
    const cut = cutOf(running, performance.now());
    timeouts.stop();
    await expect(cut).resolves.toMatchObject({ reason: { code: 'FLOW_STOPPING', retryable: true } });
    const late = timeouts.track();
    expect(late.aborted).toBe(true);
    await expect(cutOf(late, performance.now())).resolves.toMatchObject({ reason: { code: 'FLOW_STOPPING' } });
    timeouts.untrack(running);
    timeouts.untrack(late);
  });
});
