import { describe, expect, it } from 'vitest';
import { buildXml, checkXml, parseJson, parseXml, vouchXml } from './codec.js';
import { PermanentError } from './errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PermanentError);
    return (err as PermanentError).code;
  }
  return undefined;
}

describe('parseJson', () => {
  it('parses ordinary JSON', () => {
    expect(parseJson('{"a":[1,{"b":"x"}]}')).toEqual({ a: [1, { b: 'x' }] });
  });
  it('refuses malformed JSON with BAD_JSON', () => {
    expect(codeOf(() => parseJson('{"a":'))).toBe('BAD_JSON');
  });
  it('quotes none of the body in the error (it is shown where bodies are masked)', () => {
    for (const text of ['card 4111 1111 1111 1111', '{"pin": s3cr3t-pin}']) {
      expect(() => parseJson(text)).toThrow(/^malformed JSON: Unexpected token '.' \(not valid JSON\)$/);
    }
    expect(() => parseJson('{"a":1')).toThrow('malformed JSON: Expected \',\' or \'}\' after property value in JSON at position 6');
  });
  it('refuses __proto__ and constructor keys', () => {
    expect(codeOf(() => parseJson('{"__proto__":{"polluted":true}}'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => parseJson('{"a":{"constructor":{"prototype":{"x":1}}}}'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => parseJson('{"constructor":1}'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => parseJson('[{"a":{"prototype":{}}}]'))).toBe('FORBIDDEN_KEY');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The words as values or as malformed text are not keys.
    expect(parseJson('{"a":"constructor"}')).toEqual({ a: 'constructor' });
    expect(codeOf(() => parseJson('constructor'))).toBe('BAD_JSON');
  });
  it('refuses nesting past the limit before parsing', () => {
    expect(codeOf(() => parseJson('['.repeat(100_000) + ']'.repeat(100_000)))).toBe('TOO_DEEP');
    expect(codeOf(() => parseJson('[[[1]]]', { maxDepth: 2 }))).toBe('TOO_DEEP');
    expect(parseJson('"[[[[[["', { maxDepth: 2 })).toBe('[[[[[[');
  });
});

describe('checkXml / parseXml', () => {
  it('parses well-formed XML with attributes and namespaces', () => {
    expect(parseXml('<a:Order xmlns:a="urn:x" id="7"><a:Qty>2</a:Qty></a:Order>', {}, { stripNamespaces: true, parseValues: true })).toEqual({ Order: { '@_id': 7, Qty: 2 } });
  });
  it('keeps leading zeros as strings', () => {
    expect(parseXml('<a><id>00123</id></a>', {}, { parseValues: true })).toEqual({ a: { id: '00123' } });
  });
  it('refuses malformed XML with the line and column', () => {
    let err: PermanentError | undefined;
    try {
      checkXml('<a>\n  <b></a>');
    } catch (e) {
      err = e as PermanentError;
    }
    expect(err?.code).toBe('BAD_XML');
    expect(err?.message).toMatch(/line 2/);
  });
  it('refuses billion laughs and external entities (any DOCTYPE)', () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`;
    const xxe = `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>`;
    expect(codeOf(() => checkXml(laughs))).toBe('XML_DOCTYPE_FORBIDDEN');
    expect(codeOf(() => checkXml(xxe))).toBe('XML_DOCTYPE_FORBIDDEN');
  });
  it('gives the depth of a document it passed, and takes a document again (or one vouched for) only within that depth', () => {
    expect(checkXml('<a><b><c/></b><d/></a>')).toBe(2);
    expect(checkXml('<a><b><c/></b><d/></a>', { maxDepth: 2 })).toBe(2);
    expect(() => checkXml('<a><b><c/></b><d/></a>', { maxDepth: 1 })).toThrow(/deeper than 1/);
    vouchXml('<x><y>1</y></x>', 2);
    expect(checkXml('<x><y>1</y></x>', { maxDepth: 2 })).toBe(2);
    expect(() => checkXml('<x><y>1</y></x>', { maxDepth: 1 })).toThrow(/deeper than 1/);
    for (let i = 0; i < 2; i++) expect(() => checkXml('<a><b></a>')).toThrow(/malformed XML/);
  });


  it('refuses deep nesting', () => {
    expect(codeOf(() => checkXml('<a>'.repeat(10_000) + '</a>'.repeat(10_000)))).toBe('TOO_DEEP');
  });
  it('refuses __proto__ and constructor element and attribute names, but not such text', () => {
    expect(codeOf(() => checkXml('<a><__proto__><x>1</x></__proto__></a>'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => checkXml('<a><ns:constructor xmlns:ns="urn:x"/></a>'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => checkXml('<a __proto__="1"/>'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => checkXml('<a><ns:prototype/></a>'))).toBe('FORBIDDEN_KEY');
    expect(codeOf(() => checkXml('<a><constructor></constructor></a>'))).toBe('FORBIDDEN_KEY');
    expect(() => checkXml('<a note="__proto__">constructor</a>')).not.toThrow();
  });
  it('skips comments, CDATA and processing instructions', () => {
    expect(() => checkXml('<?xml version="1.0"?><!-- <!DOCTYPE x> --><a><![CDATA[<b><c>]]></a>')).not.toThrow();
  });
  it('builds XML from JSON and escapes text', () => {
    expect(buildXml({ Order: { '@_id': 1, Note: 'a<b & c' } })).toBe('<Order id="1"><Note>a&lt;b &amp; c</Note></Order>');
  });
});
