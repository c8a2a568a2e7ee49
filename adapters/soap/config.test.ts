import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN } from '../../src/core/duration.js';
import { ANNOTATION_KEYWORDS } from '../../src/config/flow-schema.js';
import type { SoapSinkConfig, SoapSinkSecurityConfig, SoapSourceConfig, SoapSourceSecurityConfig } from './config.js';
import soap from './index.js';

const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
for (const keyword of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string'] });
const source = ajv.compile(soap.source!.schema);
const sink = ajv.compile(soap.sink!.schema);

// Every key of the TypeScript config types, so a property added to one side only fails here.
const SOURCE_KEYS: Record<keyof SoapSourceConfig, true> = { path: true, wsdl: true, operations: true, operation: true, namespace: true, versions: true, ws_security: true };
const SOURCE_SECURITY_KEYS: Record<keyof SoapSourceSecurityConfig, true> = { username: true, password: true, password_type: true, max_age: true, nonce_cache_size: true };
const SINK_KEYS: Record<keyof SoapSinkConfig, true> = { url: true, operation: true, soap_action: true, version: true, namespace: true, element_form: true, timeout: true, headers: true, ws_security: true };
const SINK_SECURITY_KEYS: Record<keyof SoapSinkSecurityConfig, true> = { username: true, password: true, password_type: true };

type Props = { properties: Record<string, { properties?: Record<string, unknown>; oneOf?: { pattern?: string }[] }> };

describe('SOAP config schemas', () => {
  it('keep the TypeScript types in step', () => {
    const s = soap.source!.schema as Props;
    const k = soap.sink!.schema as Props;
    expect(Object.keys(s.properties).sort()).toEqual(Object.keys(SOURCE_KEYS).sort());
    expect(Object.keys(s.properties.ws_security!.properties!).sort()).toEqual(Object.keys(SOURCE_SECURITY_KEYS).sort());
    expect(Object.keys(k.properties).sort()).toEqual(Object.keys(SINK_KEYS).sort());
    expect(Object.keys(k.properties.ws_security!.properties!).sort()).toEqual(Object.keys(SINK_SECURITY_KEYS).sort());
    expect(s.properties.ws_security!.properties!.max_age).toMatchObject({ oneOf: [{}, { pattern: DURATION_PATTERN }] });
    expect(k.properties.timeout!.oneOf![1]!.pattern).toBe(DURATION_PATTERN);
  });

  it('accept the README examples', () => {
    expect(source({ path: '/erp/orders', wsdl: '../schemas/wsdl/orders.wsdl', operations: ['PlaceOrder', 'GetOrderStatus'], ws_security: { username: 'a', password: 'b', password_type: 'digest', max_age: '5m' } })).toBe(true);
    expect(source({ path: '/erp/orders', operation: 'PlaceOrder', versions: ['1.1'] })).toBe(true);
    expect(sink({ url: 'http://legacy-erp:8089/legacy-erp', operation: 'PlaceOrder', soap_action: 'urn:example:legacy-erp/PlaceOrder', version: '1.1', namespace: 'urn:example:legacy-erp', timeout: '10s', headers: { 'x-api-key': 'k' }, ws_security: { username: 'u', password: 'p', password_type: 'digest' } })).toBe(true);
  });

  it('reject unknown keys and wrong shapes', () => {
    expect(source({ path: '/x', operations: ['A'], nope: 1 })).toBe(false);
    expect(source({ path: '/x' })).toBe(false);
    expect(source({ path: '/x', operation: 'A', operations: ['A'] })).toBe(false);
    expect(source({ path: 'x', operation: 'A' })).toBe(false);
    expect(source({ path: '/x', operation: 'A', ws_security: { username: 'u', password: 'p', password_type: 'plain' } })).toBe(false);
    expect(sink({ url: 'ftp://x', operation: 'A' })).toBe(false);
    expect(sink({ url: 'http://x', operation: 'A', version: '2.0' })).toBe(false);
    expect(sink({ url: 'http://x', operation: 'A', timeout: 'soon' })).toBe(false);
    expect(sink({ url: 'http://x', operation: 'A', ws_security: { username: 'u', password: 'p', extra: 1 } })).toBe(false);
  });

  it('is one request-reply registration named soap', () => {
    expect(soap.name).toBe('soap');
    expect(soap.source!.requestReply).toBe(true);
    expect(soap.sink!.requestReply).toBe(true);
  });
});
