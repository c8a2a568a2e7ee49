/**
 * The gate in front of an HTTP source (REST, SOAP): who the caller is (`auth:`) and whether it may call now
 * (`rate_limit:`). A source makes one at load with `createGuard` (undefined when neither block applies, so an open
 * endpoint pays nothing) and calls `admit` once per request before it builds the message; a refusal is thrown as a
 * HubError the source answers like any other (REST problem+json, SOAP fault of the request's version), with the
 * headers of `refusalHeaders(err)`.
 *
 * The log gets one line per refusal saying exactly what failed (the claim, the kid, the address); the caller gets
 * what it can fix. The credential itself never reaches the message, the log or the answer.
 */
import type { Logger } from 'pino';
import type { AdapterContext } from '../../core/contracts.js';
import { ApiKeys, BasicUsers, JwtChecker, type Identity } from './credentials.js';
import type { JwksCache } from './jwks.js';
import { Limit, LimitStore, rateHeaders, type Take } from './rate-limit.js';
import { isRefusal, refuse } from './refusal.js';
import type { AuthBlock, GatewayConfig } from './schema.js';

/** What a request may carry, as fastify gives it. */
export interface GuardRequest {
  headers: Record<string, string | string[] | undefined>;
  url: string;
  ip: string;
  method?: string;
}

/** A request let in: who called, and the RateLimit headers for the answer (empty without a rate limit). */
export interface Admission {
  consumer: string | undefined;
  method: Identity['method'] | undefined;
  headers: Record<string, string>;
}

/** What the hub gives every HTTP source (hub.yaml's `http_sources`): default blocks, and where counters are shared. */
export interface GatewayDefaults {
  auth?: GatewayConfig['auth'];
  rate_limit?: GatewayConfig['rate_limit'];
  /** The folder hub.yaml is in: a default's keys_file resolves against it. */
  baseDir?: string;
  /** Redis for rate-limit counters shared by replicas (REDIS_URL); in the process when absent. */
  redisUrl?: string;
  keyPrefix?: string;
}

/** The reason of a request that carried no credential at all: it does not count as a failed check. */
const NO_CREDENTIAL = 'no credential in the request';

/** JWKS caches shared by the guards of one process: one per provider URL, however many sources check its tokens. */
const jwksCaches = new Map<string, JwksCache>();

export class Guard {
  readonly #logger: Logger;
  readonly #apiKey: ApiKeys | undefined;
  readonly #jwt: JwtChecker | undefined;
  readonly #basic: BasicUsers | undefined;
  readonly #failures: Limit | undefined;
  readonly #consumerLimit: Limit | undefined;
  readonly #flowLimit: Limit | undefined;
  readonly #consumerLimits = new Map<string, Limit>();
  readonly #store: LimitStore;
  readonly #challenges: string[];
  readonly #what: string;
  /** Request header names that carry a credential: a source must never keep them in a message. */
  readonly credentialHeaders: ReadonlySet<string>;
  /** The query parameter that carries the API key, removed from meta.query. */
  readonly credentialQuery: string | undefined;

  constructor(config: GatewayConfig, ctx: AdapterContext, endpoint: string, base: (string | number)[] = [], defaultsDir?: string) {
    this.#logger = ctx.logger;
    this.#what = endpoint;
    const auth: AuthBlock | undefined = config.auth && config.auth !== 'none' ? config.auth : undefined;
    const load = { baseDir: defaultsDir ?? ctx.baseDir, logger: ctx.logger, report: ctx.report };
    const defaults = ctx.http as GatewayDefaults | undefined;
    this.#store = new LimitStore({ redisUrl: defaults?.redisUrl, keyPrefix: defaults?.keyPrefix });
    const flowKey = `${ctx.flow}:${endpoint}`;
    if (auth?.api_key) this.#apiKey = new ApiKeys(auth.api_key, load, [...base, 'auth', 'api_key']);
    if (auth?.jwt) this.#jwt = new JwtChecker(auth.jwt, load, [...base, 'auth', 'jwt'], jwksCaches);
    if (auth?.basic) this.#basic = new BasicUsers(auth.basic, load, [...base, 'auth', 'basic']);
    if (auth) this.#failures = new Limit(auth.failures ?? { rate: '10/m', burst: 20 }, `${flowKey}:fail`, this.#store);
    const rl = config.rate_limit;
    if (rl?.consumer) this.#consumerLimit = new Limit(rl.consumer, `${flowKey}:c`, this.#store);
    if (rl?.flow) this.#flowLimit = new Limit(rl.flow, `${flowKey}:f`, this.#store);
    for (const [name, l] of Object.entries(rl?.consumers ?? {})) this.#consumerLimits.set(name, new Limit(l, `${flowKey}:c:${name}`, this.#store));
    this.#challenges = [this.#jwt?.challenge(), this.#basic?.challenge, this.#apiKey?.challenge].filter((c): c is string => c !== undefined);
    const headers = new Set<string>();
    if (this.#jwt || this.#basic) headers.add('authorization');
    if (this.#apiKey?.header) headers.add(this.#apiKey.header);
    if (this.#jwt?.owner === 'mesh') headers.add('x-jwt-payload');
    this.credentialHeaders = headers;
    this.credentialQuery = this.#apiKey?.query;
  }

  /** Whether the guard checks credentials (else it only limits rates). */
  get authenticates(): boolean {
    return this.#challenges.length > 0;
  }

  /** The JWT check's JWKS, if any (for the tests and `hub mesh lint`). */
  get jwks(): JwksCache | undefined {
    return this.#jwt?.jwks;
  }

  /** Lets a request in, or throws its refusal (401, 403, 429, 503). */
  async admit(request: GuardRequest): Promise<Admission> {
    let identity: Identity | undefined;
    if (this.#challenges.length) identity = await this.#authenticate(request);
    const headers: Record<string, string> = {};
    const consumerLimit = (identity && this.#consumerLimits.get(identity.consumer)) ?? this.#consumerLimit;
    if (consumerLimit) await this.#take(consumerLimit, identity ? `c:${identity.consumer}` : `a:${request.ip}`, headers, identity?.consumer ?? `address ${request.ip}`, 'consumer');
    if (this.#flowLimit) await this.#take(this.#flowLimit, 'flow', headers, identity?.consumer ?? `address ${request.ip}`, 'flow');
    return { consumer: identity?.consumer, method: identity?.method, headers };
  }

  async #take(limit: Limit, key: string, headers: Record<string, string>, who: string, scope: string): Promise<void> {
    const take: Take = await limit.take(key);
    if (!take.allowed) {
      this.#logger.warn({ endpoint: this.#what, consumer: who, limit: scope, policy: take.policy }, `${this.#what}: ${who} is over the ${scope} rate limit`);
      throw refuse('RATE_LIMITED', `too many requests: the ${scope} limit is ${take.policy.replace(/;w=(\d+)/, ' per $1 s').replace(';burst=', ', burst ')}; retry after ${take.resetSeconds} s`, `${who} over ${scope} limit ${take.policy}`, rateHeaders(take));
    }
    // The tighter of the two limits is the one a caller has to heed.
    if (headers['ratelimit-remaining'] === undefined || Number(headers['ratelimit-remaining']) > take.remaining) Object.assign(headers, rateHeaders(take));
  }

  async #authenticate(request: GuardRequest): Promise<Identity> {
    const blocked = await this.#failures!.blocked(request.ip);
    if (blocked) {
      this.#logger.warn({ endpoint: this.#what, address: request.ip }, `${this.#what}: ${request.ip} is refused without a check: too many failed authentications`);
      throw refuse('RATE_LIMITED', `too many failed authentications from this address; retry after ${blocked.resetSeconds} s`, `address ${request.ip} over the auth.failures limit`, rateHeaders(blocked));
    }
    try {
      const identity = await this.#identify(request);
      if (!identity) {
        const why = this.#jwt?.owner === 'mesh' ? ' (auth.jwt.owner is mesh but the request has no x-jwt-payload header: is the flow running behind the mesh that `hub mesh render` configured?)' : '';
        throw refuse('AUTH_REQUIRED', `this endpoint needs credentials: ${this.#accepted()}`, `${NO_CREDENTIAL}${why}`, { 'www-authenticate': this.#challenges.join(', ') });
      }
      return identity;
    } catch (err) {
      if (isRefusal(err)) {
        if (err.code === 'AUTH_REQUIRED' && !err.reason.startsWith(NO_CREDENTIAL)) await this.#failures!.take(request.ip);
        const line = { endpoint: this.#what, address: request.ip, code: err.code, reason: err.reason };
        if (err.code === 'AUTH_UNAVAILABLE') this.#logger.error(line, `${this.#what}: cannot authenticate: ${err.reason}`);
        else this.#logger.warn(line, `${this.#what}: authentication refused: ${err.reason}`);
      }
      throw err;
    }
  }

  #accepted(): string {
    return [this.#jwt && 'a bearer token (Authorization: Bearer)', this.#basic && 'a user and password (Authorization: Basic)', this.#apiKey && (this.#apiKey.query ? `an API key in the query parameter ${this.#apiKey.query}` : `an API key in the ${this.#apiKey.header} header`)].filter(Boolean).join(', or ');
  }

  async #identify(request: GuardRequest): Promise<Identity | undefined> {
    const authz = request.headers.authorization;
    const authorization = Array.isArray(authz) ? authz[0] : authz;
    if (authorization) {
      const space = authorization.indexOf(' ');
      const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
      const value = space < 0 ? '' : authorization.slice(space + 1).trim();
      if (scheme === 'bearer' && this.#jwt) return this.#jwt.check(value, request.headers);
      if (scheme === 'basic' && this.#basic) return this.#basic.check(value);
    }
    if (this.#jwt?.owner === 'mesh' && request.headers['x-jwt-payload'] !== undefined) return this.#jwt.check('', request.headers);
    const key = this.#apiKey?.carried(request.headers, request.url);
    if (key !== undefined) return this.#apiKey!.check(key);
    if (authorization && this.#challenges.length) {
      throw refuse('AUTH_REQUIRED', `the Authorization scheme is not accepted here: send ${this.#accepted()}`, `Authorization scheme "${authorization.split(' ')[0]!.slice(0, 20)}" not configured`, { 'www-authenticate': this.#challenges.join(', ') });
    }
    return undefined;
  }

  /** Opens what the counters need (a source's start): the Redis connection when they are shared. */
  async start(): Promise<void> {
    await this.#store.open((message) => this.#logger.warn({ endpoint: this.#what }, `${this.#what}: ${message}`));
  }

  async stop(): Promise<void> {
    await this.#store.close();
  }
}

/**
 * The guard of an HTTP source: its own `auth:` and `rate_limit:` blocks, else the hub-wide defaults (`auth: none`
 * opts out of the default auth). Undefined when nothing applies: the source then skips the gate entirely.
 */
export function createGuard(config: GatewayConfig, ctx: AdapterContext, endpoint: string): Guard | undefined {
  const defaults = ctx.http as GatewayDefaults | undefined;
  const ownAuth = config.auth !== undefined;
  const auth = config.auth ?? defaults?.auth;
  const rateLimit = config.rate_limit ?? defaults?.rate_limit;
  if ((auth === undefined || auth === 'none') && rateLimit === undefined) return undefined;
  return new Guard({ auth, rate_limit: rateLimit }, ctx, endpoint, [], ownAuth ? undefined : defaults?.baseDir);
}

export { refusalHeaders, isRefusal } from './refusal.js';
