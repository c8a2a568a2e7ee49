import { describe, expect, it } from 'vitest';
import { compileStrict, expectKeys, type Keys } from '../../../test/support/config-schema.js';
import { parseRate } from './rate-limit.js';
import { authSchema, rateLimitSchema, type ApiKeyConfig, type AuthBlock, type BasicConfig, type JwtConfig, type LimitConfig, type RateLimitConfig } from './schema.js';

// Every key of the TypeScript types, and whether it is required: a key added to one side only fails here.
const AUTH: Keys<AuthBlock> = { api_key: 'optional', jwt: 'optional', basic: 'optional', failures: 'optional' };
const API_KEY: Keys<ApiKeyConfig> = { header: 'optional', query: 'optional', keys: 'optional', keys_file: 'optional' };
const JWT: Keys<JwtConfig> = { jwks_url: 'required', issuer: 'required', audiences: 'optional', algorithms: 'optional', leeway: 'optional', required_claims: 'optional', scopes: 'optional', consumer_claim: 'optional', cache: 'optional', cooldown: 'optional', max_token_bytes: 'optional', owner: 'optional' };
const BASIC: Keys<BasicConfig> = { realm: 'optional', users: 'required' };
const RATE_LIMIT: Keys<RateLimitConfig> = { consumer: 'optional', flow: 'optional', consumers: 'optional' };
const LIMIT: Keys<LimitConfig> = { rate: 'required', burst: 'optional' };

describe('the gateway blocks', () => {
  it('keep the TypeScript types in step with the schemas', () => {
    const auth = { properties: { auth: authSchema } };
    expectKeys(auth, 'properties.auth.oneOf.1', AUTH);
    expectKeys(auth, 'properties.auth.oneOf.1.properties.api_key', API_KEY);
    expectKeys(auth, 'properties.auth.oneOf.1.properties.jwt', JWT);
    expectKeys(auth, 'properties.auth.oneOf.1.properties.basic', BASIC);
    expectKeys(rateLimitSchema, '', RATE_LIMIT);
    expectKeys(rateLimitSchema, 'properties.consumer', LIMIT);
  });

  it('refuse what no gate could use', () => {
    const auth = compileStrict(authSchema);
    expect(auth('none')).toBe(true);
    expect(auth({})).toBe(false);
    expect(auth({ api_key: { header: 'x-api-key' } })).toBe(false);
    expect(auth({ jwt: { jwks_url: 'https://idp/jwks', issuer: 'i', algorithms: ['HS256'] } })).toBe(false);
    expect(auth({ jwt: { jwks_url: 'https://idp/jwks', issuer: 'i', algorithms: ['none'] } })).toBe(false);
    expect(auth({ api_key: { keys: [{ secret: '${env:A_KEY}' }] } })).toBe(false);
    const rl = compileStrict(rateLimitSchema);
    expect(rl({ consumer: { rate: '10/s', burst: 5 } })).toBe(true);
    expect(rl({ consumer: { rate: '10 per second' } })).toBe(false);
    expect(rl({})).toBe(false);
  });

  it('read rates', () => {
    expect(parseRate('10/s')).toEqual({ points: 10, seconds: 1 });
    expect(parseRate('5/10s')).toEqual({ points: 5, seconds: 10 });
    expect(parseRate('1000/h')).toEqual({ points: 1000, seconds: 3600 });
    expect(() => parseRate('0/s')).toThrow(/not a rate/);
  });
});

describe('hub.yaml', () => {
  it('takes the same blocks as defaults for every HTTP source (schemas/hub.schema.json in step with these schemas)', async () => {
    const { readFileSync } = await import('node:fs');
    const hub = JSON.parse(readFileSync(new URL('../../../schemas/hub.schema.json', import.meta.url), 'utf8')) as { properties: { http_sources: { properties: unknown } } };
    expect(hub.properties.http_sources.properties).toEqual(JSON.parse(JSON.stringify({ auth: authSchema, rate_limit: rateLimitSchema })));
  });
});
