/**
 * The `auth:` and `rate_limit:` blocks an HTTP source (REST, SOAP) takes, as JSON Schemas (the source of truth: the
 * adapters' config.ts add them to their source schemas, and so they reach schemas/flow.schema.json) and the types
 * derived from them (gateway.test.ts keeps the two in step).
 */
import type { JsonSchema } from '../../core/contracts.js';
import { durationSchema, type Duration } from '../../core/duration.js';

/** "100/s", "20/m", "1000/h", "5/10s": requests per period. */
const RATE = { type: 'string', pattern: '^[1-9][0-9]{0,8}/([1-9][0-9]{0,5})?(s|m|h)$', description: 'Requests per period: `N/s`, `N/m`, `N/h`, or `N/<duration>` such as `5/10s`.', examples: ['100/s', '20/m'] };
const DURATION = { oneOf: durationSchema.oneOf };

const limitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rate'],
  examples: [{ rate: '10/s', burst: 20 }],
  properties: {
    rate: RATE,
    burst: { type: 'integer', minimum: 0, maximum: 1000000, default: 0, description: 'Requests allowed above the rate in a short spike; the burst refills at the rate.' },
  },
};

export const rateLimitSchema: JsonSchema = {
  description: 'Limits on how often callers may call this source; beyond them REST answers 429 with Retry-After and RateLimit headers, SOAP a Client (1.1) or Sender (1.2) fault. Counted in Redis when REDIS_URL is set (shared by every replica), else in the process.',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    consumer: { ...limitSchema, description: 'The limit of each consumer (an anonymous caller is counted by its address).' },
    flow: { ...limitSchema, description: 'The limit of all callers of this source together.' },
    consumers: {
      type: 'object',
      description: 'A limit of its own for a named consumer, instead of `consumer`.',
      propertyNames: { pattern: '^[A-Za-z0-9._@:-]{1,128}$' },
      additionalProperties: limitSchema,
      examples: [{ 'partner-a': { rate: '50/s', burst: 100 } }],
    },
  },
  examples: [{ consumer: { rate: '10/s', burst: 20 }, flow: { rate: '200/s' } }],
};

const consumerName = { type: 'string', pattern: '^[A-Za-z0-9._@:-]{1,128}$', description: 'The consumer this credential belongs to: it goes into meta.consumer and the x-consumer header.', examples: ['partner-a'] };

export const authSchema: JsonSchema = {
  description: 'Who may call this source. Each method given is accepted (a request carries one credential); a request without any is answered 401 with a WWW-Authenticate challenge per method. `none` turns the hub-wide default off for this source.',
  oneOf: [
    { const: 'none' },
    {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        api_key: {
          type: 'object',
          description: 'An API key in a header or a query parameter, each key belonging to a named consumer.',
          examples: [{ header: 'x-api-key', keys: [{ consumer: 'partner-a', secret: '${env:PARTNER_A_KEY}' }] }, { query: 'api_key', keys_file: 'keys/orders-api.txt' }],
          additionalProperties: false,
          properties: {
            header: { type: 'string', pattern: '^[A-Za-z0-9-]+$', default: 'x-api-key', description: 'The header that carries the key (when `query` is not given).' },
            query: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', examples: ['api_key'], description: 'A query parameter that carries the key instead of a header (it is removed from meta.query).' },
            keys: {
              type: 'array',
              description: 'Keys by environment reference, each with its consumer.',
              examples: [[{ consumer: 'partner-a', secret: '${env:PARTNER_A_KEY}' }]],
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['consumer', 'secret'],
                properties: { consumer: consumerName, secret: { type: 'string', 'x-secret': true, description: 'The key, as an environment reference `${env:NAME}` (at least 16 characters).', examples: ['${env:PARTNER_A_KEY}'] } },
              },
            },
            keys_file: { type: 'string', minLength: 1, examples: ['keys/orders-api.txt'], description: 'A file (relative to the flow file) of hashed keys, one `CONSUMER sha256:HEX` a line (HEX: the SHA-256 of the key, e.g. `printf %s "$KEY" | sha256sum`); # starts a comment.' },
          },
          anyOf: [{ required: ['keys'] }, { required: ['keys_file'] }],
        },
        jwt: {
          type: 'object',
          description: 'A bearer JWT checked against the identity provider\'s JWKS (fetched, cached, refetched once for an unknown kid).',
          examples: [{ jwks_url: 'https://idp.example/.well-known/jwks.json', issuer: 'https://idp.example', audiences: ['orders'], scopes: ['orders:write'] }],
          additionalProperties: false,
          required: ['jwks_url', 'issuer'],
          properties: {
            jwks_url: { type: 'string', pattern: '^https?://', description: 'The JWKS URL of the identity provider.', examples: ['https://idp.example/.well-known/jwks.json'] },
            issuer: { type: 'string', minLength: 1, examples: ['https://idp.example'], description: 'The `iss` a token must have.' },
            audiences: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, examples: [['orders']], description: 'A token\'s `aud` must name one of these.' },
            algorithms: { type: 'array', items: { enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] }, minItems: 1, uniqueItems: true, default: ['RS256', 'ES256'], description: 'The signature algorithms accepted (asymmetric only: `none` and HMAC are never accepted).' },
            leeway: { ...DURATION, default: '30s', description: 'Clock skew allowed on exp and nbf.' },
            required_claims: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, examples: [['sub', 'email']], description: 'Claims a token must have.' },
            scopes: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, examples: [['orders:write']], description: 'Scopes a token must have (in `scope` or `scp`); a valid token without one is answered 403.' },
            consumer_claim: { type: 'string', minLength: 1, default: 'sub', description: 'The claim that names the consumer (`sub`, `azp`, `client_id` ...).' },
            cache: { ...DURATION, default: '10m', description: 'How long the JWKS is used before it is fetched again (in the background; the keys held go on working while the provider is down).' },
            cooldown: { ...DURATION, default: '30s', description: 'Least time between two fetches for an unknown kid: a flood of unknown kids costs one fetch.' },
            max_token_bytes: { type: 'integer', minimum: 256, maximum: 65536, default: 8192, description: 'Longest token accepted.' },
            owner: { enum: ['hub', 'mesh'], default: 'hub', description: '`mesh`: the mesh checks the token (`hub mesh render` writes an Istio RequestAuthentication and AuthorizationPolicy) and the hub takes the consumer from the verified claims the sidecar forwards in x-jwt-payload. Only behind that mesh.' },
          },
        },
        basic: {
          type: 'object',
          description: 'HTTP Basic authentication against hashed passwords.',
          examples: [{ users: [{ name: 'erp', password_hash: 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g' }] }],
          additionalProperties: false,
          required: ['users'],
          properties: {
            realm: { type: 'string', default: 'hub', description: 'The realm named in the Basic challenge.' },
            users: {
              type: 'array',
              minItems: 1,
              description: 'The users who may call, each a consumer of its name.',
              examples: [[{ name: 'erp', password_hash: 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g' }]],
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'password_hash'],
                properties: { name: consumerName, password_hash: { type: 'string', pattern: '^scrypt\\$', description: 'scrypt$N$r$p$salt$hash, from `hub admin hash-password`.', examples: ['scrypt$32768$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'] } },
              },
            },
          },
        },
        failures: { ...limitSchema, default: { rate: '10/m', burst: 20 }, description: 'Failed authentications allowed per client address; beyond it the address is answered 429 (a brute force of keys or passwords).' },
      },
    },
  ],
  examples: [{ api_key: { header: 'x-api-key', keys: [{ consumer: 'partner-a', secret: '${env:PARTNER_A_KEY}' }] } }],
};

export interface LimitConfig {
  rate: string;
  /** Default 0. */
  burst?: number;
}

export interface RateLimitConfig {
  consumer?: LimitConfig;
  flow?: LimitConfig;
  consumers?: Record<string, LimitConfig>;
}

export interface ApiKeyConfig {
  /** Default "x-api-key". */
  header?: string;
  query?: string;
  keys?: { consumer: string; secret: string }[];
  keys_file?: string;
}

export interface JwtConfig {
  jwks_url: string;
  issuer: string;
  audiences?: string[];
  /** Default ["RS256", "ES256"]. */
  algorithms?: string[];
  /** Default "30s". */
  leeway?: Duration;
  required_claims?: string[];
  scopes?: string[];
  /** Default "sub". */
  consumer_claim?: string;
  /** Default "10m". */
  cache?: Duration;
  /** Default "30s". */
  cooldown?: Duration;
  /** Default 8192. */
  max_token_bytes?: number;
  /** Default "hub". */
  owner?: 'hub' | 'mesh';
}

export interface BasicConfig {
  /** Default "hub". */
  realm?: string;
  users: { name: string; password_hash: string }[];
}

export interface AuthBlock {
  api_key?: ApiKeyConfig;
  jwt?: JwtConfig;
  basic?: BasicConfig;
  /** Default { rate: "10/m", burst: 20 }. */
  failures?: LimitConfig;
}

export type AuthConfig = AuthBlock | 'none';

/** The two blocks as an HTTP source's config holds them. */
export interface GatewayConfig {
  auth?: AuthConfig;
  rate_limit?: RateLimitConfig;
}

/** Adds the two blocks to an HTTP source's schema (its config.ts calls it). */
export function withGatewaySchema(schema: JsonSchema): JsonSchema {
  const s = schema as { properties?: Record<string, unknown> };
  return { ...schema, properties: { ...s.properties, auth: authSchema, rate_limit: rateLimitSchema } } as JsonSchema;
}
