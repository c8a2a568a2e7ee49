import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { lintFlows, registryWith } from '../../test/support/lint.js';
import { afterAll, describe, expect, it } from 'vitest';
import { ANNOTATION_KEYWORDS, buildFlowSchema } from '../../src/config/flow-schema.js';
import { compileFlowSchema } from '../../src/config/schema-validator.js';
import { DURATION_PATTERN } from '../../src/core/duration.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import amqp from '../amqp/index.js';
import kafka from './index.js';
import { PartitionOffsets } from './offsets.js';
import { SINK_CONFIG_KEYS } from './sink.js';
import sinkSchema from './sink.schema.json' with { type: 'json' };
import { SOURCE_CONFIG_KEYS } from './source.js';
import sourceSchema from './source.schema.json' with { type: 'json' };
import { adapterCtx } from './test-support.js';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'kafka-readme-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function lint(files: Record<string, string>) {
  // amqp too: the pipelining example writes to RabbitMQ.
  return lintFlows(files, { adapters: [kafka, amqp], env: { KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092', KAFKA_USER: 'hub', KAFKA_PASSWORD: 'secret', AMQP_URL: 'amqp://hub@rabbit:5672' } });
}



describe('kafka adapter: schemas', () => {
  const schemas = { source: sourceSchema as Record<string, unknown>, sink: sinkSchema as Record<string, unknown> };

  it.each(Object.entries(schemas))('the %s schema compiles strictly, describes every property, rejects unknown keys and accepts its examples', (_side, schema) => {
    const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
    for (const keyword of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string'] });
    const validate = ajv.compile(schema);
    expect(schema.additionalProperties).toBe(false);
    for (const [name, prop] of Object.entries(schema.properties as Record<string, { description?: string; examples?: unknown[]; enum?: unknown[]; type?: string }>)) {
      expect(prop.description, name).toMatch(/\S{3,}/);
      if (prop.type !== 'boolean' && !prop.enum) expect(prop.examples, name).toBeDefined();
    }
    for (const example of schema.examples as unknown[]) expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...(schema.examples as object[])[0], nope: 1 })).toBe(false);
  });

  it('keeps the TypeScript config types and the schemas in step', () => {
    expect(Object.keys(sourceSchema.properties).sort()).toEqual([...SOURCE_CONFIG_KEYS].sort());
    expect(Object.keys(sinkSchema.properties).sort()).toEqual([...SINK_CONFIG_KEYS].sort());
  });

  it('uses the hub duration syntax', () => {
    expect(sinkSchema.properties.timeout.oneOf[1]!.pattern).toBe(DURATION_PATTERN);
    expect(sourceSchema.properties.session_timeout.oneOf[1]!.pattern).toBe(DURATION_PATTERN);
  });

  it('needs exactly one of topic and topics, and secrets as environment references', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(sourceSchema);
    expect(validate({ brokers: ['a:1'], group_id: 'g' })).toBe(false);
    expect(validate({ brokers: ['a:1'], group_id: 'g', topic: 'a', topics: ['b'] })).toBe(false);
    expect(validate({ brokers: 'a:1,b:2', group_id: 'g', topics: ['b'] })).toBe(true);
    const result = lint({ 'f.yaml': 'name: f\nsource:\n  kafka:\n    brokers: [a:9092]\n    topic: t\n    group_id: g\n    sasl: { mechanism: plain, username: u, password: hunter2 }\n' });
    expect(result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([expect.stringMatching(/"password" is a secret/)]);
  });

  it('fits into the assembled flow schema', () => {
    expect(() => compileFlowSchema(buildFlowSchema(registryWith([kafka])))).not.toThrow();
  });

  it('reports source config problems at their paths', () => {
    const issues: ConfigIssue[] = [];
    kafka.source!.create({ brokers: 'a:1', topics: ['in', 'bad topic'], group_id: 'g', dead_letter_topic: 'in', redelivery: { initial: 'soon' }, session_timeout: '1s', tls: { cert: 'no-such.pem' } }, adapterCtx(issues));
    expect(issues.map((i) => i.path.join('.')).sort()).toEqual(['dead_letter_topic', 'redelivery.initial', 'session_timeout', 'tls', 'tls.cert', 'topics.1'].sort());
  });

  it('is one registration named kafka, neither side request-reply', () => {
    expect(kafka.name).toBe('kafka');
    expect(kafka.source!.requestReply).toBeFalsy();
    expect(kafka.sink!.requestReply).toBeFalsy();
  });
});

describe('kafka adapter: README examples', () => {
  const readme = readFileSync(join(here, 'README.md'), 'utf8');
  const flows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has an example for every source and sink option', () => {
    const all = flows.join('\n');
    for (const key of Object.keys(sourceSchema.properties)) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    for (const key of Object.keys(sinkSchema.properties)) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
  });

  it('lints every example flow without errors', () => {
    expect(flows.length).toBeGreaterThanOrEqual(5);
    const result = lint(Object.fromEntries(flows.map((text, i) => [`example-${i}.yaml`, text])));
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(result.flows).toHaveLength(flows.length);
  });
});

describe('kafka adapter: which offset may be committed', () => {
  it('stops at the lowest offset in flight and moves on once it settles', () => {
    const p = new PartitionOffsets();
    expect(p.pending()).toBeUndefined();
    for (const o of [5n, 6n, 7n]) p.begin(o);
    p.settle(6n);
    p.settle(7n);
    expect(p.pending()).toBe(5n);
    p.committed(5n);
    expect(p.pending()).toBeUndefined();
    p.settle(5n);
    expect(p.pending()).toBe(8n);
  });

  it('goes back to a released offset (it is delivered again)', () => {
    const p = new PartitionOffsets();
    p.begin(0n);
    p.settle(0n);
    p.begin(1n);
    p.release(1n);
    expect(p.committable()).toBe(1n);
    expect(p.inFlight).toBe(0);
  });
});
