/**
 * Login rate limiting over sliding windows, one count per key: a login counts against its name-and-address pair,
 * its address, and its name, each with a limit of its own; past any of them, that key's logins are refused (429,
 * Retry-After) until its oldest failure leaves the window. The name's limit is set above what one address can reach
 * through its pair limit, so one address cannot lock a user out for everyone. An attempt counts as a failure from
 * the moment it starts (and is taken back when it succeeds), so a burst of simultaneous guesses is held to the same
 * limit as guesses one after another.
 */

export interface KeyLimit {
  max: number;
  windowMs: number;
}

export interface LoginLimits extends KeyLimit {
  /** Failed logins from one address, whatever the names. */
  address: KeyLimit;
  /** Failed logins for one name, whatever the addresses. */
  account: KeyLimit;
}

/**
 * 5 a minute per name and address; 20 a minute per address; 100 in 15 minutes per name, which one address (at most
 * 5 a minute, 75 in 15 minutes) cannot reach alone.
 */
export const DEFAULT_LOGIN_LIMITS: LoginLimits = { max: 5, windowMs: 60_000, address: { max: 20, windowMs: 60_000 }, account: { max: 100, windowMs: 15 * 60_000 } };

/** Keys (addresses, names) tracked at most; the oldest are dropped past it, so a flood of new addresses cannot grow memory. */
const MAX_KEYS = 10_000;

export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts an attempt for these keys, each with its limit: `ok: false` when one of them is over its limit (nothing
   * is counted), with `retryAfterMs` until the first refused key may try again; else a function to call when the
   * attempt succeeded (which forgets the `clearOnSuccess` keys' failures and takes the attempt back for the others).
   */
  begin(keys: ({ key: string } & KeyLimit)[]): { ok: true; succeeded: (clearOnSuccess: string[]) => void } | { ok: false; retryAfterMs: number } {
    const at = this.now();
    let wait = 0;
    for (const { key, max, windowMs } of keys) {
      const times = this.#recent(key, at, windowMs);
      if (times.length >= max) wait = Math.max(wait, times[times.length - max]! + windowMs - at);
    }
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    for (const { key } of keys) this.#add(key, at);
    return {
      ok: true,
      succeeded: (clear) => {
        for (const { key } of keys) {
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

  #recent(key: string, at: number, windowMs: number): number[] {
    const times = (this.#failures.get(key) ?? []).filter((t) => at - t < windowMs);
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
