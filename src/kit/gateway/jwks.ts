/**
 * A JWKS held for one identity provider: fetched at first use, used for `cache` and then fetched again in the
 * background while the keys held go on working (also while the provider is down), and fetched at once for a `kid`
 * it does not hold, at most once per `cooldown` (so a flood of made-up kids costs one fetch, not one each).
 * Concurrent fetches are one. Key selection and import are jose's (createLocalJWKSet); only the caching is ours,
 * because jose's remote set drops its keys when a refresh fails.
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';

export interface JwksOptions {
  url: string;
  cacheMs: number;
  cooldownMs: number;
  /** Longest a fetch may take. Default 5 s. */
  timeoutMs?: number;
  logger: Logger;
}

/** No keys could be had: the provider is down (or answers rubbish) and none are cached. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}

export class JwksCache {
  readonly url: string;
  readonly #options: JwksOptions;
  #local: ReturnType<typeof createLocalJWKSet> | undefined;
  #fetchedAt = 0;
  #lastAttempt = -Infinity;
  /** When a fetch for an unknown kid last started: the cooldown counts from it (a first fetch or a refresh does not). */
  #lastUnknown = -Infinity;
  #pending: Promise<void> | undefined;
  /** Fetches made (for the tests' "no refetch storm" and for the log). */
  fetches = 0;

  constructor(options: JwksOptions) {
    this.url = options.url;
    this.#options = options;
  }

  /** The key for a token's protected header, as jose's jwtVerify asks for it. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.#local) {
      // With nothing cached every request would fetch: while the provider is down, at most one try per cooldown.
      if (!this.#pending && Date.now() - this.#lastAttempt < this.#options.cooldownMs) throw new JwksUnavailableError(`no keys from ${this.url} yet (the last fetch failed)`);
      await this.#refresh('first use');
      if (!this.#local) throw new JwksUnavailableError(`no keys from ${this.url}`);
    } else if (Date.now() - this.#fetchedAt > this.#options.cacheMs && !this.#pending) {
      void this.#refresh('cache expired').catch(() => undefined);
    }
    try {
      return await this.#local(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      if (this.#pending) await this.#pending.catch(() => undefined);
      else if (Date.now() - this.#lastUnknown >= this.#options.cooldownMs) {
        this.#lastUnknown = Date.now();
        await this.#refresh(`unknown kid ${JSON.stringify(header.kid ?? null)}`).catch(() => undefined);
      }
      else throw err;
      return this.#local(header, token);
    }
  };

  #refresh(why: string): Promise<void> {
    this.#pending ??= this.#fetch(why).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetch(why: string): Promise<void> {
    this.#lastAttempt = Date.now();
    this.fetches++;
    const log = this.#options.logger;
    try {
      const res = await fetch(this.url, { signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const jwks = (await res.json()) as JSONWebKeySet;
      if (!jwks || !Array.isArray(jwks.keys)) throw new Error('the answer is not a JWKS (no "keys" array)');
      this.#local = createLocalJWKSet(jwks);
      this.#fetchedAt = Date.now();
      log.debug({ jwks: this.url, keys: jwks.keys.length, why }, 'JWKS fetched');
    } catch (err) {
      const message = (err as Error).message;
      if (this.#local) log.warn({ jwks: this.url, why, err: message }, 'JWKS fetch failed; the cached keys go on being used');
      else log.error({ jwks: this.url, why, err: message }, `JWKS fetch failed and no keys are cached: tokens cannot be checked until ${this.url} answers`);
      throw new JwksUnavailableError(`JWKS ${this.url}: ${message}`, { cause: err });
    }
  }
}
