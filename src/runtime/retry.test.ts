import { describe, expect, it } from 'vitest';
import { hubError } from '../core/errors.js';
import { Bulkhead } from './bulkhead.js';
import { Cancellation } from './cancellation.js';
import type { RetryPolicy } from '../config/load-flows.js';
import { backoffMs, retryAfter } from './retry.js';

const policy = { attempts: 4, backoff: 'exponential' as const, initialMs: 1, maxMs: 4 };

/** A first try, then retryAfter: as the runner sends. */
function withRetry<T>(p: RetryPolicy, cancel: Cancellation, work: (attempt: number) => Promise<T>): Promise<T> {
  return work(1).catch((err: unknown) => retryAfter(err, p, cancel, work));
}

describe('retryAfter', () => {
  it('tries a retryable failure exactly `attempts` times', async () => {
    let calls = 0;
    await expect(
      withRetry(policy, new Cancellation(), async () => {
        calls++;
        throw hubError('DOWNSTREAM_UNAVAILABLE', 'down');
      }),
    ).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    expect(calls).toBe(4);
  });
  it('never retries a permanent failure', async () => {
    let calls = 0;
    await expect(
      withRetry(policy, new Cancellation(), async () => {
        calls++;
        throw hubError('DOWNSTREAM_REJECTED', 'no');
      }),
    ).rejects.toMatchObject({ code: 'DOWNSTREAM_REJECTED' });
    expect(calls).toBe(1);
  });
  it('succeeds on a later try', async () => {
    let calls = 0;
    const got = await withRetry(policy, new Cancellation(), async (attempt) => {
      calls++;
      if (attempt < 3) throw hubError('TIMEOUT', 'slow');
      return 'ok';
    });
    expect([got, calls]).toEqual(['ok', 3]);
  });
  it('retryAfter goes on from a failed first try: tries 2.. up to `attempts`, and rethrows a permanent first failure untried', async () => {
    const tried: number[] = [];
    const got = await retryAfter(hubError('TIMEOUT', 'slow'), policy, new Cancellation(), async (attempt) => {
      tried.push(attempt);
      if (attempt < 4) throw hubError('TIMEOUT', 'slow');
      return 'ok';
    });
    expect([got, tried]).toEqual(['ok', [2, 3, 4]]);
    let calls = 0;
    await expect(retryAfter(new Error('boom'), policy, new Cancellation(), async () => void calls++)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(calls).toBe(0);
  });
  it('grows the wait exponentially up to the cap', () => {
    const p = { attempts: 10, backoff: 'exponential' as const, initialMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(p, a, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffMs({ ...p, backoff: 'fixed' }, 5)).toBe(100);
  });
});

describe('Bulkhead', () => {
  it('runs at most `limit` at once, queues up to `queue`, refuses beyond', async () => {
    const b = new Bulkhead(2, 1);
    const release: (() => void)[] = [];
    const work = () => new Promise<void>((r) => release.push(r));
    const p1 = b.run(work);
    const p2 = b.run(work);
    const p3 = b.run(work);
    await expect(b.run(work)).rejects.toMatchObject({ code: 'FLOW_OVERLOADED', retryable: true });
    expect([b.active, b.waiting]).toEqual([2, 1]);
    release.shift()!();
    await p1;
    await new Promise((r) => setImmediate(r));
    expect([b.active, b.waiting]).toEqual([2, 0]);
    release.splice(0).forEach((r) => r());
    await new Promise((r) => setImmediate(r));
    release.splice(0).forEach((r) => r());
    await Promise.all([p2, p3]);
    expect(b.active).toBe(0);
  });
});
