import { describe, expect, it } from 'vitest';
import { buildFlowSchema } from '../../src/config/flow-schema.js';
import { compileFlowSchema } from '../../src/config/schema-validator.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import { compileStrict, expectDurations, expectKeys, expectWellFormed, type Keys } from '../../test/support/config-schema.js';
import { lintFlows, registryWith } from '../../test/support/lint.js';
import { sinkSchema, sourceSchema, type KafkaConnectionConfig, type KafkaSaslConfig, type KafkaSinkConfig, type KafkaSourceConfig, type KafkaTlsConfig, type RedeliveryConfig } from './config.js';
import kafka from './index.js';
import { adapterCtx } from './test-support.js';

const source = compileStrict(sourceSchema);
const sink = compileStrict(sinkSchema);

// Every key of the TypeScript config types, and whether it is required: a key added to one side only fails here.
const CONNECTION: Keys<KafkaConnectionConfig> = { brokers: 'required', client_id: 'optional', tls: 'optional', sasl: 'optional', connection_timeout: 'optional', request_timeout: 'optional' };
const SOURCE: Keys<KafkaSourceConfig> = { ...CONNECTION, topic: 'optional', topics: 'optional', group_id: 'required', from_beginning: 'optional', dead_letter_topic: 'optional', ordered: 'optional', max_in_flight: 'optional', redelivery: 'optional', session_timeout: 'optional', headers: 'optional' };
const SINK: Keys<KafkaSinkConfig> = { ...CONNECTION, topic: 'required', key: 'optional', partition: 'optional', headers: 'optional', linger: 'optional', batch_size: 'optional', timeout: 'optional' };
const NESTED: [string, Record<string, 'required' | 'optional'>][] = [
  ['properties.tls.oneOf.1', { ca: 'optional', cert: 'optional', key: 'optional', passphrase: 'optional', reject_unauthorized: 'optional', servername: 'optional' } satisfies Keys<KafkaTlsConfig>],
  ['properties.sasl', { mechanism: 'required', username: 'required', password: 'required' } satisfies Keys<KafkaSaslConfig>],
  ['properties.redelivery', { initial: 'optional', max: 'optional' } satisfies Keys<RedeliveryConfig>],
];

describe('kafka config schemas', () => {
  it.each([['source', sourceSchema], ['sink', sinkSchema]] as const)('the %s schema compiles strictly, describes every property with examples, rejects unknown keys and accepts its examples', (_side, schema) => {
    expectWellFormed(schema);
  });

  it('keep the TypeScript types in step', () => {
    expectKeys(sourceSchema, '', SOURCE);
    expectKeys(sinkSchema, '', SINK);
    for (const [path, keys] of NESTED) expectKeys(sourceSchema, path, keys);
  });

  it('share one definition of the connection', () => {
    const [s, k] = [sourceSchema.properties as Record<string, unknown>, sinkSchema.properties as Record<string, unknown>];
    for (const key of Object.keys(CONNECTION)) expect(k[key], key).toEqual(s[key]);
  });

  it('use the hub duration syntax', () => {
    const connection = ['properties.connection_timeout', 'properties.request_timeout'];
    expectDurations(sourceSchema, [...connection, 'properties.redelivery.properties.initial', 'properties.redelivery.properties.max', 'properties.session_timeout']);
    expectDurations(sinkSchema, [...connection, 'properties.linger', 'properties.timeout']);
  });

  it('reject wrong shapes', () => {
    const brokers = ['a:1'];
    expect(source({ brokers, group_id: 'g' })).toBe(false);
    expect(source({ brokers, group_id: 'g', topic: 'a', topics: ['b'] })).toBe(false);
    expect(source({ brokers, topic: 'a' })).toBe(false);
    expect(source({ brokers: ['a'], group_id: 'g', topic: 'a' })).toBe(false);
    expect(source({ brokers, group_id: 'g', topic: 'a', max_in_flight: 0 })).toBe(false);
    expect(source({ brokers, group_id: 'g', topic: 'a', redelivery: { initial: 'soon' } })).toBe(false);
    expect(source({ brokers, group_id: 'g', topic: 'a', sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } })).toBe(false);
    expect(source({ brokers, group_id: 'g', topic: 'a', tls: { ca: 'ca.pem', verify: false } })).toBe(false);
    expect(sink({ brokers })).toBe(false);
    expect(sink({ brokers, topic: 't', partition: -1 })).toBe(false);
    expect(sink({ brokers, topic: 't', headers: { a: 1 } })).toBe(false);
    expect(source({ brokers: 'a:1,b:2', group_id: 'g', topics: ['b'] })).toBe(true);
  });

  it('take secrets only as environment references', () => {
    const result = lintFlows({ 'f.yaml': 'name: f\nsource:\n  kafka:\n    brokers: [a:9092]\n    topic: t\n    group_id: g\n    sasl: { mechanism: plain, username: u, password: hunter2 }\n' }, { adapters: [kafka] });
    expect(result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([expect.stringMatching(/"password" is a secret/)]);
  });

  it('fit into the assembled flow schema', () => {
    expect(() => compileFlowSchema(buildFlowSchema(registryWith([kafka])))).not.toThrow();
  });

  it('are those of the one registration, named kafka, neither side request-reply', () => {
    expect(kafka.name).toBe('kafka');
    expect(kafka.source!.schema).toBe(sourceSchema);
    expect(kafka.sink!.schema).toBe(sinkSchema);
    expect(kafka.source!.requestReply ?? false).toBe(false);
    expect(kafka.sink!.requestReply ?? false).toBe(false);
  });
});

describe('kafka config checks', () => {
  it('reports source config problems at their paths', () => {
    const issues: ConfigIssue[] = [];
    kafka.source!.create({ brokers: 'a:1', topics: ['in', 'bad topic'], group_id: 'g', dead_letter_topic: 'in', redelivery: { initial: 'soon' }, session_timeout: '1s', tls: { cert: 'no-such.pem' } }, adapterCtx(issues));
    expect(issues.map((i) => i.path.join('.')).sort()).toEqual(['dead_letter_topic', 'redelivery.initial', 'session_timeout', 'tls', 'tls.cert', 'topics.1'].sort());
  });
});
