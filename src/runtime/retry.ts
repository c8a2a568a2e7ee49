import { setTimeout as sleep } from 'node:timers/promises';
import { toHubError, type HubError } from '../core/errors.js';
import type { RetryPolicy } from '../config/load-flows.js';

/** Wait before try number `attempt + 1` (attempt counts from 1), with full jitter on exponential backoff. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  if (policy.backoff === 'fixed') return policy.initialMs;
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** What can cut a retry loop short: `aborted` is read after each failure, `signal` is taken for the wait. */
export interface Abortable {
  readonly aborted: boolean;
  readonly signal: AbortSignal;
}

/**
 * Retries `work` after its first try (which the caller made itself, so that the common case, a first try that
 * succeeds, makes none of this loop's closures) failed with `failure`: tries 2 up to `policy.attempts` while it fails
 * with a retryable error, waiting between tries. Permanent errors, an open circuit (CIRCUIT_OPEN), an aborted signal
 * and `giveUp()` returning true end it at once. The error thrown is the last one, as a HubError.
 */
export async function retryAfter<T>(
  failure: unknown,
  policy: RetryPolicy,
  cancel: Abortable,
  work: (attempt: number) => Promise<T>,
  onRetry?: (err: HubError, attempt: number, waitMs: number) => void,
  giveUp?: () => boolean,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const e = toHubError(failure);
    // An open circuit fails the call at once: waiting out a backoff inside its ejection time would only hold the
    // message; it is retried later (durably, or by its caller).
    if (!e.retryable || e.code === 'CIRCUIT_OPEN' || attempt >= policy.attempts || cancel.aborted || giveUp?.()) throw e;
    const wait = backoffMs(policy, attempt);
    onRetry?.(e, attempt, wait);
    try {
      await sleep(wait, undefined, { signal: cancel.signal });
    } catch {
      throw e;
    }
    try {
      return await work(attempt + 1);
    } catch (err) {
      failure = err;
    }
  }
}
