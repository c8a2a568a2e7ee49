import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HubConfigError, loadHubConfig } from './hub-config.js';

const dir = mkdtempSync(join(tmpdir(), 'hub-config-gateway-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadHubConfig> {
  const file = join(dir, `hub-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadHubConfig({ config: file }, env, dir);
}

describe('hub.yaml http_sources: the defaults of every HTTP source', () => {
  it('takes the auth and rate_limit blocks, environment references resolved, relative paths against hub.yaml, counters in the journal\'s Redis', () => {
    const config = load('http_sources:\n  auth:\n    api_key: { keys: [{ consumer: ops, secret: "${env:OPS_KEY}" }] }\n  rate_limit:\n    consumer: { rate: 10/s, burst: 5 }\n', { OPS_KEY: 'ops-key-0123456789abcdef', REDIS_URL: 'redis://redis:6379' });
    expect(config.httpSources).toEqual({
      auth: { api_key: { keys: [{ consumer: 'ops', secret: 'ops-key-0123456789abcdef' }] } },
      rate_limit: { consumer: { rate: '10/s', burst: 5 } },
      baseDir: dir,
      redisUrl: 'redis://redis:6379',
      keyPrefix: 'hub:ratelimit:',
    });
  });

  it('has no blocks by default, and counters in the process without Redis', () => {
    expect(load('port: 8080\n').httpSources).toEqual({ baseDir: dir, keyPrefix: 'hub:ratelimit:' });
  });

  it('refuses a block no source could use at its line and column', () => {
    expect(() => load('http_sources:\n  rate_limit:\n    consumer: { rate: lots }\n')).toThrow(HubConfigError);
    try {
      load('http_sources:\n  auth:\n    jwt: { jwks_url: "https://idp/jwks", issuer: i, algorithms: [HS256] }\n');
      expect.unreachable();
    } catch (err) {
      expect((err as HubConfigError).diagnostics[0]!.line).toBe(3);
    }
  });
});
