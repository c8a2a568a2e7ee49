import { describe, expect, it } from 'vitest';
import { buildFlowSchema } from '../../src/config/flow-schema.js';
import { compileFlowSchema } from '../../src/config/schema-validator.js';
import { compileStrict, expectDurations, expectKeys, expectWellFormed, GATEWAY_DURATIONS, type Keys } from '../../test/support/config-schema.js';
import { registryWith } from '../../test/support/lint.js';
import { sinkSchema, sourceSchema, type SoapSinkConfig, type SoapSinkSecurityConfig, type SoapSourceConfig, type SoapSourceSecurityConfig } from './config.js';
import soap from './index.js';

const source = compileStrict(sourceSchema);
const sink = compileStrict(sinkSchema);

// Every key of the TypeScript config types, and whether it is required: a key added to one side only fails here.
const SOURCE: Keys<SoapSourceConfig> = { path: 'required', wsdl: 'optional', operations: 'optional', operation: 'optional', namespace: 'optional', versions: 'optional', soap12_sender_status: 'optional', ws_security: 'optional', auth: 'optional', rate_limit: 'optional' };
const SOURCE_SECURITY: Keys<SoapSourceSecurityConfig> = { username: 'required', password: 'required', password_type: 'optional', max_age: 'optional', nonce_cache_size: 'optional' };
const SINK: Keys<SoapSinkConfig> = { url: 'required', operation: 'required', soap_action: 'optional', version: 'optional', namespace: 'optional', element_form: 'optional', timeout: 'optional', headers: 'optional', ws_security: 'optional' };
const SINK_SECURITY: Keys<SoapSinkSecurityConfig> = { username: 'required', password: 'required', password_type: 'optional' };

describe('soap config schemas', () => {
  it.each([['source', sourceSchema], ['sink', sinkSchema]] as const)('the %s schema compiles strictly, describes every property with examples, rejects unknown keys and accepts its examples', (_side, schema) => {
    expectWellFormed(schema);
  });

  it('keep the TypeScript types in step', () => {
    expectKeys(sourceSchema, '', SOURCE);
    expectKeys(sourceSchema, 'properties.ws_security', SOURCE_SECURITY);
    expectKeys(sinkSchema, '', SINK);
    expectKeys(sinkSchema, 'properties.ws_security', SINK_SECURITY);
  });

  it('use the hub duration syntax', () => {
    expectDurations(sourceSchema, ['properties.ws_security.properties.max_age', ...GATEWAY_DURATIONS]);
    expectDurations(sinkSchema, ['properties.timeout']);
  });

  it('reject wrong shapes', () => {
    expect(source({ path: '/x' })).toBe(false);
    expect(source({ path: '/x', operation: 'A', operations: ['A'] })).toBe(false);
    expect(source({ path: 'x', operation: 'A' })).toBe(false);
    expect(source({ path: '/x', operation: 'A', ws_security: { username: 'u', password: 'p', password_type: 'plain' } })).toBe(false);
    expect(sink({ url: 'ftp://x', operation: 'A' })).toBe(false);
    expect(sink({ url: 'http://x', operation: 'A', version: '2.0' })).toBe(false);
    expect(sink({ url: 'http://x', operation: 'A', timeout: 'soon' })).toBe(false);
    expect(sink({ url: 'http://x', operation: 'A', ws_security: { username: 'u', password: 'p', extra: 1 } })).toBe(false);
    expect(source({ path: '/erp/orders', operation: 'PlaceOrder', versions: ['1.1'] })).toBe(true);
  });

  it('fit into the assembled flow schema', () => {
    expect(() => compileFlowSchema(buildFlowSchema(registryWith([soap])))).not.toThrow();
  });

  it('are those of the one registration, named soap, both sides request-reply', () => {
    expect(soap.name).toBe('soap');
    expect(soap.source!.schema).toBe(sourceSchema);
    expect(soap.sink!.schema).toBe(sinkSchema);
    expect(soap.source!.requestReply).toBe(true);
    expect(soap.sink!.requestReply).toBe(true);
  });
});
