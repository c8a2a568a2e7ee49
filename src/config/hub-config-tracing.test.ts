import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HubConfigError, loadHubConfig } from './hub-config.js';

const dir = mkdtempSync(join(tmpdir(), 'hub-config-tracing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadHubConfig> {
  const file = join(dir, `hub-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadHubConfig({ config: file }, env, dir);
}

describe('hub.yaml tracing block and the OpenTelemetry variables', () => {
  it('is off without an endpoint; takes hub.yaml\'s endpoint and sample ratio', () => {
    expect(load('port: 8080\n').tracing).toEqual({ endpoint: undefined, sampleRatio: 1 });
    expect(load('tracing: { endpoint: "http://collector:4318/v1/traces", sample_ratio: 0.25 }\n').tracing).toEqual({ endpoint: 'http://collector:4318/v1/traces', sampleRatio: 0.25 });
  });

  it('lets the standard variables beat the file: the traces endpoint, else the base endpoint plus /v1/traces; OTEL_SDK_DISABLED turns it off', () => {
    const yaml = 'tracing: { endpoint: "http://from-file:4318/v1/traces" }\n';
    expect(load(yaml, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' }).tracing?.endpoint).toBe('http://base:4318/v1/traces');
    expect(load(yaml, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom' }).tracing?.endpoint).toBe('http://traces:4318/custom');
    expect(load(yaml, { OTEL_SDK_DISABLED: 'true' }).tracing?.endpoint).toBeUndefined();
    expect(load(yaml, { OTEL_TRACES_SAMPLER_ARG: '0.1' }).tracing?.sampleRatio).toBe(0.1);
  });

  it('rejects unknown keys and a ratio out of range at their line and column', () => {
    let error: unknown;
    try {
      load('tracing:\n  endpoint: "ftp://x"\n  sample_ratio: 2\n  exporter: zipkin\n');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HubConfigError);
    const lines = (error as HubConfigError).diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`);
    expect(lines.some((l) => l.startsWith('2:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('3:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('4:') && l.includes('exporter'))).toBe(true);
  });
});

describe('hub.yaml: URLs with a password, and the state folder', () => {
  it('refuses a redis_url or a tracing endpoint with a password at its line and column (they belong in the environment)', () => {
    let error: unknown;
    try {
      load('journal:\n  redis_url: "redis://:hunter2@redis:6379"\ntracing: { endpoint: "https://otel:pa55word@collector/v1/traces" }\n');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HubConfigError);
    const lines = (error as HubConfigError).diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`);
    expect(lines).toEqual([expect.stringMatching(/^2:\d+ journal\.redis_url holds a password inside its URL: .*REDIS_URL/), expect.stringMatching(/^3:\d+ tracing\.endpoint holds a password inside its URL/)]);
    expect(load('journal: { redis_url: "redis://redis:6379" }\n').journal.redisUrl).toBe('redis://redis:6379');
  });

  it('keeps its state in state_dir (HUB_STATE_DIR beats it), with the embedded journal and the reports under it unless named', () => {
    const own = load('state_dir: var/hub\n');
    expect(own.stateDir).toBe(join(dir, 'var', 'hub'));
    expect([own.journal.dir, own.compareReportsDir]).toEqual([join(dir, 'var', 'hub', 'journal'), join(dir, 'var', 'hub', 'compare')]);
    expect(load('state_dir: var/hub\n', { HUB_STATE_DIR: '/srv/state' }).stateDir).toBe('/srv/state');
    expect(load('port: 8080\n').stateDir).toBe(join(dir, '.hub'));
  });
});
