/**
 * Login rate limiting: at most `max` failed logins per client address and per user name within a sliding window;
 * past it, logins from that address or for that name are refused (429, Retry-After) until the oldest failure leaves
 * the window. An attempt counts as a failure from the moment it starts (and is taken back when it succeeds), so a
 * burst of simultaneous guesses is held to the same limit as guesses one after another.
 */

export interface LoginLimits {
  max: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { max: 5, windowMs: 60_000 };

/** Keys (addresses, names) tracked at most; the oldest are dropped past it, so a flood of new addresses cannot grow memory. */
const MAX_KEYS = 10_000;

export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts an attempt for these keys: undefined when one of them is over the limit (nothing is counted), else a
   * function to call when the attempt succeeded (which takes the attempt back for `clearOnSuccess` keys).
   * `retryAfterMs` says how long until the first refused key may try again.
   */
  begin(keys: string[]): { ok: true; succeeded: (clearOnSuccess: string[]) => void } | { ok: false; retryAfterMs: number } {
    const at = this.now();
    let wait = 0;
    for (const key of keys) {
      const times = this.#recent(key, at);
      if (times.length >= this.limits.max) wait = Math.max(wait, times[times.length - this.limits.max]! + this.limits.windowMs - at);
    }
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    for (const key of keys) this.#add(key, at);
    return {
      ok: true,
      succeeded: (clear) => {
        for (const key of keys) {
          const times = this.#failures.get(key);
          if (!times) continue;
          if (clear.includes(key)) this.#failures.delete(key);
          else {
            const i = times.lastIndexOf(at);
            if (i >= 0) times.splice(i, 1);
          }
        }
      },
    };
  }

  #recent(key: string, at: number): number[] {
    const times = (this.#failures.get(key) ?? []).filter((t) => at - t < this.limits.windowMs);
    if (times.length) this.#failures.set(key, times);
    else this.#failures.delete(key);
    return times;
  }

  #add(key: string, at: number): void {
    const times = this.#failures.get(key);
    if (times) times.push(at);
    else {
      if (this.#failures.size >= MAX_KEYS) this.#failures.delete(this.#failures.keys().next().value!);
      this.#failures.set(key, [at]);
    }
  }
}
