import { describe, expect, it } from 'vitest';
import { buildXml, checkXml, parseXml, type XmlParseOptions } from './codec.js';
import { fastXmlValue, plainXml } from './xml-fast.js';

/** What xml_to_json gave before the shortcut: fast-xml-parser's tree without its "?xml" declaration key. */
function reference(text: string, options: XmlParseOptions): unknown {
  const tree = parseXml(text, {}, options) as Record<string, unknown>;
  const { '?xml': _declaration, ...rest } = tree;
  return rest;
}

const OPTION_SETS: XmlParseOptions[] = [
  {},
  { stripNamespaces: true, parseValues: true },
  { stripNamespaces: true, parseValues: false },
  { stripNamespaces: false, parseValues: true },
  { stripNamespaces: true, parseValues: true, alwaysArray: ['Line', 'b'] },
  { stripNamespaces: false, parseValues: false, alwaysArray: ['s:Line'] },
];

/** Documents the shortcut must answer (elements, text, namespace declarations). */
const TAKEN = [
  '<a>1</a>',
  '<?xml version="1.0" encoding="UTF-8"?>\n<a>text</a>\n',
  '<s:GetShippingQuote xmlns:s="urn:example:shipping"><s:WeightKg>2.5</s:WeightKg><s:FromCountry>DE</s:FromCountry><s:ToCountry>FR</s:ToCountry></s:GetShippingQuote>',
  '<Order xmlns="urn:x"><Id>42</Id><Lines><Line><Sku>A</Sku><Qty>2</Qty></Line><Line><Sku>B</Sku><Qty>1</Qty></Line></Lines></Order>',
  '<Order><Lines><Line><Sku>A</Sku></Line></Lines></Order>',
  '<a>\n  <b>x</b>\n  <c/>\n  <b>y</b>\n  <d></d>\n  <e>   </e>\n</a>',
  '<a><b>true</b><c>false</c><d>0</d><e>-7</e><f>3.25</f><g>-0.5</g><h>  12  </h><i>Ada Lovelace</i><j>TRUE</j></a>',
  "<p:a xmlns:p='urn:p' xmlns='urn:d'><p:b>1</p:b><b>2</b></p:a>",
  '<a><b><c><d>deep</d></c></b></a>',
  '<root/>',
  '<q><a>1.0</a><b>0.10</b><c>-0.50</c><d>2.50</d><f>0.0</f><g>-0.0</g><h>123456789012345678</h><i>1.5000000000000001</i><j>10.5</j><k>-12</k></q>',
  '<a>x &gt; y</a>'.replace('&gt;', '>'),
];

/** Documents it must leave to fast-xml-parser (any of them may also be answered, if identically). */
const OTHERS = [
  '<a id="1">x</a>',
  '<a><b id="1"/></a>',
  '<a>x &amp; y</a>',
  '<a><![CDATA[<b>]]></a>',
  '<a>1<b>2</b>3</a>',
  '<a><!-- note --><b>1</b></a>',
  '<a><?pi x?><b>1</b></a>',
  '<a><b>007</b><c>1.0</c><d>1e5</d><e>0x1F</e><f>+5</f><g>.5</g><h>12345678901234567890</h><i>1.</i><j>-</j><k>NaN</k><l>Infinity</l><m>-0</m></a>',
  '<s:a xmlns:s="urn:s" s:attr="1"><s:b>1</s:b></s:a>',
  '<a xmlns:s="urn:s"><b>1</b></a>',
  '\uFEFF<a>1</a>',
  '<a>\r\n1\r\n</a>',
  '<a><b>100000000000000000000000</b><c>0.0000001</c></a>',
];

describe('fastXmlValue', () => {
  for (const options of OPTION_SETS) {
    const label = JSON.stringify(options);
    it(`answers plain documents exactly as fast-xml-parser does: ${label}`, () => {
      // Namespace declarations are attributes fast-xml-parser keeps unless namespaces are stripped: left to it.
      for (const doc of TAKEN.filter((d) => options.stripNamespaces || !d.includes('xmlns'))) {
        const fast = fastXmlValue(doc, options);
        expect(fast, doc).not.toBeUndefined();
        expect(fast, doc).toStrictEqual(reference(doc, options));
      }
    });
    it(`leaves the rest to fast-xml-parser, or answers the same: ${label}`, () => {
      for (const doc of [...OTHERS, ...TAKEN]) {
        const fast = fastXmlValue(doc, options);
        if (fast !== undefined) expect(fast, doc).toStrictEqual(reference(doc, options));
      }
    });
  }

  it('leaves attributes, entities, CDATA, comments, mixed content and numbers in other forms to fast-xml-parser', () => {
    const options = { stripNamespaces: true, parseValues: true };
    for (const doc of ['<a id="1">x</a>', '<a>x &amp; y</a>', '<a><![CDATA[x]]></a>', '<a><!-- c --></a>', '<a>1<b>2</b></a>', '<a>007</a>', '<a>1e5</a>']) {
      expect(fastXmlValue(doc, options), doc).toBeUndefined();
    }
  });
});

describe('plainXml', () => {
  it('writes plain values exactly as buildXml does, and the result passes checkXml', () => {
    const plain: unknown[] = [
      { a: 1 },
      { GetShippingQuoteResponse: { '@_xmlns': 'urn:example:shipping', Carrier: 'EUROPOST', Amount: 12.5, Currency: 'EUR', Days: 2 } },
      { 'ns:Order': { Line: [{ '@_sku': 'a"b', '#text': 1 }, { '@_sku': "c'd", '#text': 'x' }], Paid: true } },
      { a: { b: 'x < y & "z" \'w\' > v', c: '', d: -3.25, e: false, f: { g: { h: 'deep' } } } },
      { a: { '@_n': 0, '#text': 'text' } },
      { a: { l: [{ m: 1 }, { m: 2 }], n: 'after' } },
      { a: 'tab\tand\nnewline' },
    ];
    for (const value of plain) {
      const xml = plainXml(value, 8);
      expect(xml, JSON.stringify(value)).toBe(buildXml(value));
      expect(() => checkXml(xml!, { maxDepth: 8 })).not.toThrow();
    }
  });

  it('leaves every other value to buildXml and checkXml', () => {
    const others: unknown[] = [
      { 'a b': 1 },
      { '1st': 1 },
      { '?xml': { '@_version': '1.0' } },
      { a: { '#comment': 'x' } },
      JSON.parse('{"a":{"__proto__":1}}'),
      { a: { '@_constructor': 'x' } },
      { a: [[1, 2]] },
      { a: { '@_b': { c: 1 } } },
      { a: { '@_b': true } },
      { a: 'bell\u0007' },
      { a: { b: { c: { d: 1 } } } },
      { a: 1, b: 2 },
      { a: [1, 2] },
      { '@_a': 1 },
      { a: { '#text': 'x', b: 1 } },
      { a: { b: [] } },
      { a: {} },
      { a: null },
      { a: Number.NaN },
      'text',
      [{ a: 1 }],
    ];
    for (const value of others) expect(plainXml(value, 3), JSON.stringify(value)).toBeUndefined();
    expect(plainXml({ a: { b: { c: 1 } } }, 3)).toBe('<a><b><c>1</c></b></a>');
  });
});
