import { describe, expect, it } from 'vitest';
import { buildFlowSchema } from '../../src/config/flow-schema.js';
import { compileFlowSchema } from '../../src/config/schema-validator.js';
import { compileStrict, expectDurations, expectKeys, expectWellFormed, GATEWAY_DURATIONS, type Keys } from '../../test/support/config-schema.js';
import { registryWith } from '../../test/support/lint.js';
import { sinkSchema, sourceSchema, type RestSinkConfig, type RestSourceConfig } from './config.js';
import rest from './index.js';

const source = compileStrict(sourceSchema);
const sink = compileStrict(sinkSchema);

// Every key of the TypeScript config types, and whether it is required: a key added to one side only fails here.
const SOURCE: Keys<RestSourceConfig> = { method: 'optional', path: 'required', accept: 'optional', status: 'optional', headers: 'optional', auth: 'optional', rate_limit: 'optional' };
const SINK: Keys<RestSinkConfig> = { url: 'required', method: 'optional', headers: 'optional', timeout: 'optional', body: 'optional', expect: 'optional' };

describe('rest config schemas', () => {
  it.each([['source', sourceSchema], ['sink', sinkSchema]] as const)('the %s schema compiles strictly, describes every property with examples, rejects unknown keys and accepts its examples', (_side, schema) => {
    expectWellFormed(schema);
  });

  it('keep the TypeScript types in step', () => {
    expectKeys(sourceSchema, '', SOURCE);
    expectKeys(sinkSchema, '', SINK);
  });

  it('use the hub duration syntax', () => {
    expectDurations(sourceSchema, GATEWAY_DURATIONS);
    expectDurations(sinkSchema, ['properties.timeout']);
  });

  it('reject wrong shapes', () => {
    expect(source({})).toBe(false);
    expect(source({ path: 'api/orders' })).toBe(false);
    expect(source({ path: '/api/orders/:1d' })).toBe(false);
    expect(source({ path: '/api/orders', method: 'HEAD' })).toBe(false);
    expect(source({ path: '/api/orders', accept: [] })).toBe(false);
    expect(source({ path: '/api/orders', accept: ['json', 'json'] })).toBe(false);
    expect(source({ path: '/api/orders', status: 302 })).toBe(false);
    expect(source({ path: '/api/orders', headers: ['x tenant'] })).toBe(false);
    expect(sink({})).toBe(false);
    expect(sink({ url: '' })).toBe(false);
    expect(sink({ url: 'http://x', timeout: 'soon' })).toBe(false);
    expect(sink({ url: 'http://x', timeout: 0 })).toBe(false);
    expect(sink({ url: 'http://x', body: 'form' })).toBe(false);
    expect(sink({ url: 'http://x', headers: { 'x-n': 1 } })).toBe(false);
    expect(source({ method: 'GET', path: '/api/orders/:id/lines/' })).toBe(true);
  });

  it('fit into the assembled flow schema', () => {
    expect(() => compileFlowSchema(buildFlowSchema(registryWith([rest])))).not.toThrow();
  });

  it('are those of the one registration, named rest, both sides request-reply', () => {
    expect(rest.name).toBe('rest');
    expect(rest.source!.schema).toBe(sourceSchema);
    expect(rest.sink!.schema).toBe(sinkSchema);
    expect(rest.source!.requestReply).toBe(true);
    expect(rest.sink!.requestReply).toBe(true);
  });
});
