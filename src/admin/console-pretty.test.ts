import { describe, expect, it } from 'vitest';
import { prettyBody, prettyXml } from './console/pretty.js';

// The console's body view (src/admin/console/pretty.ts has no DOM in it, so it is tested here, in node).

describe('console: pretty bodies', () => {
  it('indents JSON, also without a JSON content type when it starts like JSON', () => {
    expect(prettyBody('{"a":1,"b":[1,2]}', 'utf8', 'application/json')).toEqual({ kind: 'json', text: '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}' });
    expect(prettyBody('[1]', 'utf8', 'text/plain').kind).toBe('json');
  });

  it('shows what does not parse as it is: markup stays a string to be shown as text', () => {
    const markup = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    expect(prettyBody(markup, 'utf8', 'application/json')).toEqual({ kind: 'text', text: markup });
    expect(prettyBody('{"cut": "sho', 'utf8', 'application/json')).toEqual({ kind: 'text', text: '{"cut": "sho' });
    expect(prettyBody('AAEC', 'base64', 'application/octet-stream')).toEqual({ kind: 'binary', text: 'AAEC' });
  });

  it('puts XML one element a line, text elements on one line; tags that do not nest are left alone', () => {
    const xml = '<?xml version="1.0"?><order id="1"><line><sku>A</sku><qty>2</qty></line><empty/><!-- c --></order>';
    expect(prettyBody(xml, 'utf8', 'application/xml')).toEqual({
      kind: 'xml',
      text: ['<?xml version="1.0"?>', '<order id="1">', '  <line>', '    <sku>A</sku>', '    <qty>2</qty>', '  </line>', '  <empty/>', '  <!-- c -->', '</order>'].join('\n'),
    });
    expect(prettyXml('<a><b></a>')).toBeUndefined();
    expect(prettyBody('<a><b></a>', 'utf8', 'text/xml')).toEqual({ kind: 'text', text: '<a><b></a>' });
  });
});
