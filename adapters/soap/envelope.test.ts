import { describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import {
  buildEnvelope,
  buildFault,
  contentTypeFor,
  faultForError,
  MustUnderstandError,
  parseContentType,
  parseEnvelope,
  parseFault,
  payloadXml,
  SOAP11_NS,
  unquoteSoapAction,
  VersionMismatchError,
} from './envelope.js';
import { analyseWsdl, rewriteLocations } from './wsdl.js';
import { decodeEntities, outerXml, parseTree, textOf } from './xml-tree.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './test-support.js';

const opts = { maxDepth: 32 };

describe('xml-tree', () => {
  it('resolves namespaces and keeps offsets, text and CDATA', () => {
    const text = '<a xmlns="urn:a" xmlns:b="urn:b"><b:c x="1" b:y="2">t &amp; <![CDATA[<raw>]]><!-- c --></b:c><d/></a>';
    const root = parseTree(text);
    expect(root).toMatchObject({ local: 'a', ns: 'urn:a' });
    const c = root.children[0]!;
    expect(c).toMatchObject({ prefix: 'b', local: 'c', ns: 'urn:b' });
    expect(c.attributes.map((a) => [a.name, a.ns, a.value])).toEqual([['x', undefined, '1'], ['b:y', 'urn:b', '2']]);
    expect(textOf(text, c)).toBe('t & <raw>');
    expect(root.children[1]).toMatchObject({ local: 'd', ns: 'urn:a' });
  });

  it('carries only the inherited declarations a fragment uses onto it', () => {
    const text = '<e xmlns:u="urn:unused" xmlns:p="urn:p" xmlns:q="urn:q" xmlns="urn:d"><p:x a="q:Type"><y/></p:x></e>';
    const x = parseTree(text).children[0]!;
    expect(outerXml(text, x)).toBe('<p:x xmlns:p="urn:p" xmlns:q="urn:q" xmlns="urn:d" a="q:Type"><y/></p:x>');
  });
});

describe('character references', () => {
  it('decodes the ones naming XML characters and refuses the others as BAD_XML, the sender\'s fault', () => {
    expect(decodeEntities('&#x1F600;&#65;&#x9;&lt;&amp;')).toBe('\u{1F600}A\t<&');
    for (const ref of ['&#x110000;', '&#0;', '&#x1;', '&#xD800;', '&#xFFFE;', '&#99999999999999999999;', '&#x7FFFFFFFFFFFFFFFFFFF;']) {
      expect(() => decodeEntities(ref), ref).toThrow(expect.objectContaining({ code: 'BAD_XML', retryable: false }));
    }
  });

  it('refuses an envelope holding one, in an attribute or in text, as BAD_XML', () => {
    for (const payload of ['<o:A xmlns:o="urn:o" v="&#x110000;"/>', '<o:A xmlns:o="urn:o">&#0;</o:A>']) {
      expect(() => parseEnvelope(`<s:Envelope xmlns:s="${SOAP11_NS}"><s:Body>${payload}</s:Body></s:Envelope>`, { maxDepth: 16 }), payload).toThrow(
        expect.objectContaining({ code: 'BAD_XML' }),
      );
    }
  });
});

describe('envelopes', () => {
  it('parses both versions and gives the payload', () => {
    for (const v of ['1.1', '1.2'] as const) {
      const parsed = parseEnvelope(buildEnvelope(v, '<m:Op xmlns:m="urn:m"><m:a>1</m:a></m:Op>', '<h:H xmlns:h="urn:h"/>'), opts);
      expect(parsed.version).toBe(v);
      expect(parsed.headers.map((h) => h.local)).toEqual(['H']);
      expect(payloadXml(parsed)).toBe('<m:Op xmlns:m="urn:m"><m:a>1</m:a></m:Op>');
    }
  });

  it('refuses what is not a SOAP envelope', () => {
    expect(() => parseEnvelope('<x/>', opts)).toThrow(expect.objectContaining({ code: 'SOAP_BAD_ENVELOPE' }));
    expect(() => parseEnvelope('<s:Envelope xmlns:s="urn:other"><s:Body/></s:Envelope>', opts)).toThrow(VersionMismatchError);
    expect(() => parseEnvelope('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/><x/></s:Envelope>', opts)).toThrow(/unexpected <x>/);
    expect(() => parseEnvelope('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:x/></s:Body></s:Envelope>', opts)).toThrow(expect.objectContaining({ code: 'BAD_XML' }));
  });

  it('content types and SOAPAction values', () => {
    expect(parseContentType('Application/SOAP+XML; charset=UTF-8; action="urn:a/B"')).toEqual({ mediaType: 'application/soap+xml', params: { charset: 'UTF-8', action: 'urn:a/B' } });
    expect(contentTypeFor('1.2', 'urn:x')).toBe('application/soap+xml; charset=utf-8; action="urn:x"');
    expect(unquoteSoapAction('"urn:a"')).toBe('urn:a');
    expect(unquoteSoapAction('""')).toBeUndefined();
  });
});

describe('faults', () => {
  it('round-trips 1.1 and 1.2 faults', () => {
    const f11 = parseFault(parseEnvelope(buildFault('1.1', { code: 'Sender', reason: 'bad <input>', detail: '<d xmlns="urn:d">1</d>' }), opts))!;
    expect(f11).toMatchObject({ version: '1.1', faultCode: 'Client', standardCode: 'Sender', reason: 'bad <input>', detail: '<d xmlns="urn:d">1</d>' });
    const f12 = parseFault(parseEnvelope(buildFault('1.2', { code: 'Receiver', reason: 'down', subcode: { prefix: 'x', ns: 'urn:x', local: 'Busy' } }), opts))!;
    expect(f12).toMatchObject({ version: '1.2', faultCode: 'Receiver', standardCode: 'Receiver', reason: 'down', subcodes: ['x:Busy'] });
  });

  it('reads the `soap` package\'s 1.2-style fault inside a 1.1 envelope', () => {
    const odd = '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><soap:Code><soap:Value>SOAP-ENV:Client</soap:Value></soap:Code><soap:Reason><soap:Text>Invalid username or password</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>';
    expect(parseFault(parseEnvelope(odd, opts))).toMatchObject({ faultCode: 'Client', standardCode: 'Sender', reason: 'Invalid username or password' });
  });

  it('maps hub errors to fault codes from the error table', () => {
    expect(faultForError('1.1', new PermanentError('VALIDATION_FAILED', 'x'), 'id1')).toMatchObject({ code: 'Sender', reason: 'x' });
    expect(faultForError('1.2', new RetryableError('TIMEOUT', 'slow'), 'id1')).toMatchObject({ code: 'Receiver' });
    expect(faultForError('1.2', new PermanentError('SOAP_FAULT_CLIENT', 'downstream said no'), 'id1').code).toBe('Receiver');
    expect(faultForError('1.2', new VersionMismatchError('v'), undefined).code).toBe('VersionMismatch');
    expect(faultForError('1.2', new MustUnderstandError([{ ns: 'urn:t', local: 'T' }]), undefined)).toMatchObject({ code: 'MustUnderstand', notUnderstood: [{ ns: 'urn:t', local: 'T' }] });
    expect(faultForError('1.1', new PermanentError('INTERNAL', 'TypeError at foo.ts:12'), 'id9').reason).not.toContain('foo.ts');
  });

  it('shows the message of client-side errors only: a server-side one gets its title and the message id', () => {
    const down = new RetryableError('DOWNSTREAM_UNAVAILABLE', 'POST http://127.0.0.1:18082/rates failed: ECONNREFUSED');
    for (const version of ['1.1', '1.2'] as const) {
      const fault = faultForError(version, down, '01JB6Z9M3W1T8Y4Q2N0R5K7C9D');
      expect(fault.reason).toBe('Downstream unavailable. Quote message id 01JB6Z9M3W1T8Y4Q2N0R5K7C9D when reporting it.');
      expect(buildFault(version, fault)).not.toContain('127.0.0.1');
    }
    expect(faultForError('1.1', new PermanentError('SOAP_FAULT_CLIENT', 'http://erp.internal/erp answered PlaceOrder with a SOAP Client fault: no'), undefined).reason).toBe('Downstream SOAP Client/Sender fault.');
    expect(faultForError('1.1', new PermanentError('VALIDATION_FAILED', 'customerId is required'), 'id1').reason).toBe('customerId is required');
  });
});

describe('WSDL', () => {
  const text = readFileSync(join(ROOT, 'schemas/wsdl/orders.wsdl'), 'utf8');
  it('lists operations with their soapActions and elements', () => {
    const info = analyseWsdl(text);
    expect(info.targetNamespace).toBe('urn:example:orders');
    expect(info.operations.get('PlaceOrder')).toEqual({
      name: 'PlaceOrder',
      soapActions: ['urn:example:orders/PlaceOrder'],
      input: { ns: 'urn:example:orders', local: 'PlaceOrder' },
      output: { ns: 'urn:example:orders', local: 'PlaceOrderResponse' },
    });
    expect([...analyseWsdl(readFileSync(join(ROOT, 'schemas/wsdl/legacy-erp.wsdl'), 'utf8')).operations.keys()]).toEqual(['PlaceOrder', 'SubmitOrderForApproval', 'GetOrderStatus']);
  });

  it('rewrites every soap address and nothing else', () => {
    const out = rewriteLocations(analyseWsdl(text), 'https://hub.example/erp/orders?a=1&b=2');
    expect(out.match(/location="https:\/\/hub\.example\/erp\/orders\?a=1&amp;b=2"/g)).toHaveLength(2);
    expect(out.length - text.length).toBe(2 * ('https://hub.example/erp/orders?a=1&amp;b=2'.length - 'http://localhost:8080/erp/orders'.length));
  });
});
