/**
 * Rates with a burst, counted by rate-limiter-flexible: in the process, or in Redis when the hub has a REDIS_URL
 * (every replica then counts together), with an in-process limiter of the same numbers standing in while Redis is
 * away (the limiter's "insurance"), so a Redis outage neither opens the gates nor fails the calls.
 */
import { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { LimitConfig } from './schema.js';

export interface Rate {
  points: number;
  seconds: number;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** "10/s" → 10 per 1 s; "5/10s" → 5 per 10 s. Throws with what is wrong (the schema's pattern catches most). */
export function parseRate(text: string): Rate {
  const m = /^([1-9][0-9]*)\/([1-9][0-9]*)?(s|m|h)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a rate: write N/s, N/m, N/h or N/<duration> such as 5/10s`);
  return { points: Number(m[1]), seconds: Number(m[2] ?? 1) * UNIT_SECONDS[m[3]!]! };
}

/** The answer of one take: allowed or not, and the numbers for the RateLimit headers. */
export interface Take {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets (at least 1 when refused). */
  resetSeconds: number;
  /** The policy, as RateLimit-Policy writes it: "10;w=1". */
  policy: string;
}

/** One limit (a rate and a burst), counted per key. Its limiters are made at the first take, once the store is open. */
export class Limit {
  #limiter: RateLimiterAbstract | BurstyRateLimiter | undefined;
  #main: RateLimiterAbstract | undefined;
  readonly #rate: Rate;
  readonly #burst: number;
  readonly #name: string;
  readonly #store: LimitStore;

  constructor(config: LimitConfig, name: string, store: LimitStore) {
    this.#rate = parseRate(config.rate);
    this.#burst = config.burst ?? 0;
    this.#name = name;
    this.#store = store;
  }

  get #made(): RateLimiterAbstract | BurstyRateLimiter {
    if (this.#limiter) return this.#limiter;
    const main = (this.#main = this.#store.limiter(`${this.#name}:r`, this.#rate.points, this.#rate.seconds));
    // The burst refills at the rate: a window long enough for the rate to earn it back.
    const burstSeconds = this.#rate.seconds * Math.max(1, Math.ceil(this.#burst / this.#rate.points));
    this.#limiter = this.#burst > 0 ? new BurstyRateLimiter(main, this.#store.limiter(`${this.#name}:b`, this.#burst, burstSeconds)) : main;
    return this.#limiter;
  }

  /** Takes one request's point for `key`; never rejects (a store failure lets the request through). */
  async take(key: string): Promise<Take> {
    const limit = this.#rate.points + this.#burst;
    const policy = `${this.#rate.points};w=${this.#rate.seconds}${this.#burst ? `;burst=${this.#burst}` : ''}`;
    try {
      const res = await this.#made.consume(key, 1);
      return { allowed: true, limit, remaining: Math.max(0, res.remainingPoints), resetSeconds: Math.ceil(res.msBeforeNext / 1000), policy };
    } catch (res) {
      if (res instanceof RateLimiterRes) return { allowed: false, limit, remaining: 0, resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)), policy };
      return { allowed: true, limit, remaining: limit, resetSeconds: this.#rate.seconds, policy };
    }
  }

  /** Whether `key` has points left, without taking one (for failed logins: a blocked address is refused before any check). */
  async blocked(key: string): Promise<Take | undefined> {
    void this.#made;
    // The main window counts every take, also those the burst let through: past rate + burst, both are spent.
    const res = await this.#main!.get(key).catch(() => null);
    if (!res || res.consumedPoints < this.#rate.points + this.#burst) return undefined;
    return { allowed: false, limit: this.#rate.points + this.#burst, remaining: 0, resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)), policy: `${this.#rate.points};w=${this.#rate.seconds}` };
  }
}

/** The RateLimit headers (IETF draft) of a take; with Retry-After when it was refused. */
export function rateHeaders(take: Take): Record<string, string> {
  const h: Record<string, string> = {
    'ratelimit-limit': String(take.limit),
    'ratelimit-remaining': String(take.remaining),
    'ratelimit-reset': String(take.resetSeconds),
    'ratelimit-policy': take.policy,
  };
  if (!take.allowed) h['retry-after'] = String(take.resetSeconds);
  return h;
}

/** Where counters live: in the process, or one Redis connection shared by every limit of a hub, opened at the first count. */
export class LimitStore {
  readonly #redisUrl: string | undefined;
  readonly #prefix: string;
  #redis: Redis | undefined;

  constructor(options: { redisUrl?: string | undefined; keyPrefix?: string | undefined }) {
    this.#redisUrl = options.redisUrl;
    this.#prefix = options.keyPrefix ?? 'hub:ratelimit:';
  }

  /** Where the counters are kept, for the log and `hub mesh lint`. */
  get where(): 'redis' | 'process' {
    return this.#redisUrl ? 'redis' : 'process';
  }

  /**
   * Connects to Redis, if counters are shared, before the first count (a source's start): until it is connected,
   * counts would fall to each replica's in-process insurance. A Redis that does not answer in time is logged, not
   * fatal: the insurance counts meanwhile and the client goes on reconnecting.
   */
  async open(onError: (message: string) => void): Promise<void> {
    if (!this.#redisUrl || this.#redis) return;
    // No offline queue: a count while Redis is away fails at once, and the in-process insurance answers.
    const redis = (this.#redis = new Redis(this.#redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true }));
    redis.on('error', () => undefined);
    await Promise.race([redis.connect(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 2 s')), 2000).unref())]).catch((err: Error) =>
      onError(`rate-limit counters cannot reach Redis (${err.message}); each replica counts on its own until it can`),
    );
  }

  limiter(name: string, points: number, seconds: number): RateLimiterAbstract {
    const keyPrefix = `${this.#prefix}${name}`;
    if (!this.#redisUrl || !this.#redis) return new RateLimiterMemory({ keyPrefix, points, duration: seconds });
    return new RateLimiterRedis({ storeClient: this.#redis, keyPrefix, points, duration: seconds, insuranceLimiter: new RateLimiterMemory({ keyPrefix: `${keyPrefix}:i`, points, duration: seconds }) });
  }

  async close(): Promise<void> {
    const redis = this.#redis;
    this.#redis = undefined;
    if (redis) await redis.quit().catch(() => redis.disconnect());
  }
}
