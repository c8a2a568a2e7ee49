/**
 * The three ways a caller proves who it is: an API key, a bearer JWT, HTTP Basic. Each checker answers with the
 * consumer's name or throws a refusal whose message the caller may read and whose reason goes to the log. None of
 * them ever puts the credential into a message, a reason or a log line.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { toMs } from '../../core/duration.js';
import type { ConfigIssue } from '../../core/errors.js';
import type { Logger } from 'pino';
import { decoyHash, parsePasswordHash, verifyPassword, type PasswordHash } from '../password.js';
import { JwksCache, JwksUnavailableError } from './jwks.js';
import { refuse } from './refusal.js';
import type { ApiKeyConfig, BasicConfig, JwtConfig } from './schema.js';

export interface Identity {
  consumer: string;
  method: 'api_key' | 'jwt' | 'basic';
}

export interface LoadContext {
  baseDir: string;
  logger: Logger;
  report(issue: ConfigIssue): void;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

// ---------------------------------------------------------------------------------------------------------------

/** API keys, held only as SHA-256 hashes: a key is high-entropy, so its hash is enough and the file leaks nothing. */
export class ApiKeys {
  readonly header: string | undefined;
  readonly query: string | undefined;
  readonly #byHash = new Map<string, string>();

  constructor(config: ApiKeyConfig, ctx: LoadContext, path: (string | number)[]) {
    this.query = config.query;
    this.header = config.query ? undefined : (config.header ?? 'x-api-key').toLowerCase();
    (config.keys ?? []).forEach((k, i) => {
      // Empty: an environment variable unset while validating (running, it is an error of its own).
      if (k.secret === '') return;
      if (k.secret.length < 16) ctx.report({ path: [...path, 'keys', i, 'secret'], message: `the key of ${k.consumer} is ${k.secret.length} characters long: a key must have at least 16, random` });
      else this.#byHash.set(sha256(k.secret), k.consumer);
    });
    if (config.keys_file) {
      const file = resolve(ctx.baseDir, config.keys_file);
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        ctx.report({ path: [...path, 'keys_file'], message: `cannot read the keys file ${file}: ${(err as Error).message}` });
      }
      text.split(/\r?\n/).forEach((line, i) => {
        const t = line.replace(/#.*/, '').trim();
        if (!t) return;
        const m = /^([A-Za-z0-9._@:-]{1,128})\s+sha256:([0-9a-fA-F]{64})$/.exec(t);
        if (!m) ctx.report({ path: [...path, 'keys_file'], message: `${file}:${i + 1}: write "CONSUMER sha256:HEX" (the SHA-256 of the key in hex), not "${t.slice(0, 40)}"` });
        else this.#byHash.set(m[2]!.toLowerCase(), m[1]!);
      });
    }
  }

  get challenge(): string {
    return this.query ? `ApiKey realm="hub", query="${this.query}"` : `ApiKey realm="hub", header="${this.header}"`;
  }

  /** The key a request carries, if any. */
  carried(headers: Record<string, string | string[] | undefined>, url: string): string | undefined {
    if (this.header) {
      const v = headers[this.header];
      return Array.isArray(v) ? v[0] : v;
    }
    const q = url.indexOf('?');
    if (q === -1) return undefined;
    return new URLSearchParams(url.slice(q + 1)).get(this.query!) ?? undefined;
  }

  check(key: string): Identity {
    const consumer = this.#byHash.get(sha256(key));
    if (!consumer) throw refuse('AUTH_REQUIRED', 'the API key is not valid', `unknown API key (sha256 prefix ${sha256(key).slice(0, 8)})`, { 'www-authenticate': `${this.challenge}, error="invalid_key"` });
    return { consumer, method: 'api_key' };
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** A bearer JWT, verified by jose against the provider's JWKS; or, when the mesh owns it, read from the sidecar's verified payload. */
export class JwtChecker {
  readonly #config: JwtConfig;
  readonly #jwks: JwksCache;
  readonly #leewaySec: number;
  readonly #algorithms: string[];
  readonly #maxBytes: number;
  readonly #logger: Logger;
  readonly owner: 'hub' | 'mesh';

  constructor(config: JwtConfig, ctx: LoadContext, path: (string | number)[], jwksCaches: Map<string, JwksCache>) {
    this.#config = config;
    this.#logger = ctx.logger;
    this.owner = config.owner ?? 'hub';
    const ms = (key: 'leeway' | 'cache' | 'cooldown', fallback: string): number => {
      try {
        return toMs(config[key] ?? fallback);
      } catch (err) {
        ctx.report({ path: [...path, key], message: (err as Error).message });
        return toMs(fallback);
      }
    };
    this.#leewaySec = Math.round(ms('leeway', '30s') / 1000);
    const cacheMs = ms('cache', '10m');
    const cooldownMs = ms('cooldown', '30s');
    this.#algorithms = config.algorithms ?? ['RS256', 'ES256'];
    this.#maxBytes = config.max_token_bytes ?? 8192;
    const key = `${config.jwks_url} ${cacheMs} ${cooldownMs}`;
    let jwks = jwksCaches.get(key);
    if (!jwks) jwksCaches.set(key, (jwks = new JwksCache({ url: config.jwks_url, cacheMs, cooldownMs, logger: ctx.logger })));
    this.#jwks = jwks;
  }

  get jwks(): JwksCache {
    return this.#jwks;
  }

  challenge(error?: string, description?: string): string {
    const scope = this.#config.scopes?.length ? `, scope="${this.#config.scopes.join(' ')}"` : '';
    return `Bearer realm="hub"${scope}${error ? `, error="${error}"` : ''}${description ? `, error_description="${description}"` : ''}`;
  }

  async check(token: string, headers: Record<string, string | string[] | undefined>): Promise<Identity> {
    const payload = this.owner === 'mesh' ? this.#meshPayload(headers) : await this.#verify(token);
    const missing = (this.#config.scopes ?? []).filter((s) => !scopesOf(payload).has(s));
    const consumerValue = payload[this.#config.consumer_claim ?? 'sub'];
    if (typeof consumerValue !== 'string' || consumerValue === '') {
      throw this.#invalid('the token names no consumer', `claim "${this.#config.consumer_claim ?? 'sub'}" is missing or not a string`);
    }
    if (missing.length) {
      throw refuse('AUTH_FORBIDDEN', `the token lacks the scope ${missing.join(' ')}`, `consumer ${consumerValue} lacks scope(s) ${missing.join(' ')}`, {
        'www-authenticate': this.challenge('insufficient_scope', `the token lacks the scope ${missing.join(' ')}`),
      });
    }
    return { consumer: consumerValue, method: 'jwt' };
  }

  #invalid(message: string, reason: string): Error {
    return refuse('AUTH_REQUIRED', message, reason, { 'www-authenticate': this.challenge('invalid_token', message) });
  }

  async #verify(token: string): Promise<JWTPayload> {
    if (Buffer.byteLength(token) > this.#maxBytes) throw this.#invalid('the token is too large', `token of ${Buffer.byteLength(token)} bytes, over max_token_bytes ${this.#maxBytes}`);
    try {
      const { payload } = await jwtVerify(token, this.#jwks.getKey, {
        issuer: this.#config.issuer,
        ...(this.#config.audiences ? { audience: this.#config.audiences } : {}),
        algorithms: this.#algorithms,
        clockTolerance: this.#leewaySec,
        ...(this.#config.required_claims ? { requiredClaims: this.#config.required_claims } : {}),
      });
      return payload;
    } catch (err) {
      throw this.#refusalOf(err, token);
    }
  }

  #refusalOf(err: unknown, token: string): Error {
    if (err instanceof JwksUnavailableError) {
      this.#logger.error({ jwks: this.#jwks.url, err: err.message }, 'cannot check a bearer token: the JWKS is unreachable and no keys are cached');
      return refuse('AUTH_UNAVAILABLE', 'tokens cannot be checked right now', err.message, { 'retry-after': '5' });
    }
    const header = peekHeader(token);
    const at = `kid ${JSON.stringify(header?.kid ?? null)}, alg ${JSON.stringify(header?.alg ?? null)}`;
    if (err instanceof errors.JWTExpired) return this.#invalid('the token has expired', `exp ${String(err.payload.exp)} is past (leeway ${this.#leewaySec}s); ${at}`);
    if (err instanceof errors.JWTClaimValidationFailed) {
      const claim = err.claim;
      if (claim === 'nbf' || claim === 'iat') return this.#invalid('the token is not valid yet', `${claim} ${String(err.payload[claim])} is in the future (leeway ${this.#leewaySec}s); ${at}`);
      if (err.reason === 'missing') return this.#invalid(`the token lacks the claim ${claim}`, `claim "${claim}" is missing; ${at}`);
      if (claim === 'iss') return this.#invalid('the token\'s issuer is not accepted', `iss ${JSON.stringify(err.payload.iss)} is not ${JSON.stringify(this.#config.issuer)}; ${at}`);
      if (claim === 'aud') return this.#invalid('the token is not meant for this endpoint', `aud ${JSON.stringify(err.payload.aud)} names none of ${JSON.stringify(this.#config.audiences)}; ${at}`);
      return this.#invalid(`the token's ${claim} claim is not accepted`, `claim "${claim}" check failed: ${err.message}; ${at}`);
    }
    if (err instanceof errors.JOSEAlgNotAllowed) return this.#invalid('the token\'s signature algorithm is not accepted', `alg ${JSON.stringify(header?.alg ?? null)} is not among ${this.#algorithms.join(', ')}; ${at}`);
    if (err instanceof errors.JWKSNoMatchingKey) return this.#invalid('the token\'s signing key is not known', `no key in ${this.#jwks.url} matches ${at} (fetched ${this.#jwks.fetches} times)`);
    if (err instanceof errors.JWSSignatureVerificationFailed) return this.#invalid('the token\'s signature does not verify', `signature check failed; ${at}`);
    if (err instanceof errors.JOSENotSupported) return this.#invalid('the token\'s signature algorithm is not accepted', `not supported: ${(err as Error).message}; ${at}`);
    return this.#invalid('the token is malformed', `${(err as Error).name}: ${(err as Error).message}; ${at}`);
  }

  #meshPayload(headers: Record<string, string | string[] | undefined>): JWTPayload {
    const raw = headers['x-jwt-payload'];
    const text = Array.isArray(raw) ? raw[0] : raw;
    if (!text) throw this.#invalid('a bearer token is required', 'auth.jwt.owner is mesh but the request has no x-jwt-payload header: is the flow running behind the mesh that `hub mesh render` configured?');
    try {
      const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as JWTPayload;
    } catch {
      // answered below
    }
    throw this.#invalid('the token is malformed', 'x-jwt-payload is not base64url JSON of an object');
  }
}

function scopesOf(payload: JWTPayload): Set<string> {
  const out = new Set<string>();
  for (const v of [payload.scope, payload.scp]) {
    if (typeof v === 'string') for (const s of v.split(' ')) if (s) out.add(s);
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') out.add(s);
  }
  return out;
}

/** The protected header of a token for the log (kid, alg), or undefined when it is not readable. */
function peekHeader(token: string): { kid?: unknown; alg?: unknown } | undefined {
  try {
    const value = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as { kid?: unknown; alg?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** A successful Basic check is remembered this long (by a hash of the pair), so a busy caller does not pay scrypt each call. */
const BASIC_CACHE_MS = 60_000;
const BASIC_CACHE_SIZE = 1000;

/** HTTP Basic against scrypt hashes (src/kit/password.ts); an unknown user costs as much as a wrong password. */
export class BasicUsers {
  readonly realm: string;
  readonly #users = new Map<string, PasswordHash>();
  readonly #decoy = decoyHash();
  readonly #good = new Map<string, { consumer: string; until: number }>();

  constructor(config: BasicConfig, ctx: LoadContext, path: (string | number)[]) {
    this.realm = config.realm ?? 'hub';
    config.users.forEach((u, i) => {
      try {
        this.#users.set(u.name, parsePasswordHash(u.password_hash));
      } catch (err) {
        ctx.report({ path: [...path, 'users', i, 'password_hash'], message: (err as Error).message });
      }
    });
  }

  get challenge(): string {
    return `Basic realm="${this.realm}", charset="UTF-8"`;
  }

  async check(encoded: string): Promise<Identity> {
    const text = /^[A-Za-z0-9+/]*={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64').toString('utf8') : '';
    const colon = text.indexOf(':');
    if (colon < 0) throw refuse('AUTH_REQUIRED', 'the Basic credentials are malformed', 'Authorization: Basic is not base64 of "user:password"', { 'www-authenticate': this.challenge });
    const name = text.slice(0, colon);
    const cacheKey = createHash('sha256').update(text).digest('base64');
    const hit = this.#good.get(cacheKey);
    if (hit && hit.until > Date.now()) return { consumer: hit.consumer, method: 'basic' };
    const stored = this.#users.get(name);
    const ok = await verifyPassword(text.slice(colon + 1), stored ?? this.#decoy);
    if (!ok || !stored) throw refuse('AUTH_REQUIRED', 'the user name or password is wrong', stored ? `wrong password for user ${name}` : `unknown user ${JSON.stringify(name.slice(0, 64))}`, { 'www-authenticate': this.challenge });
    if (this.#good.size >= BASIC_CACHE_SIZE) this.#good.delete(this.#good.keys().next().value!);
    this.#good.set(cacheKey, { consumer: name, until: Date.now() + BASIC_CACHE_MS });
    return { consumer: name, method: 'basic' };
  }
}
