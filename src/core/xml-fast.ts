/**
 * A shortcut for the commonest XML documents a flow turns into JSON (a SOAP payload, a small business document):
 * elements, text and namespace declarations only. It gives exactly what fast-xml-parser gives with the hub's options
 * (codec.ts newParser) for such a document, in one pass and a fraction of the garbage, and answers undefined for
 * anything else (attributes other than namespace declarations, mixed content, entities, CDATA, comments, processing
 * instructions other than the declaration, numbers outside the plain forms), so that the caller parses it with
 * fast-xml-parser instead. Like jsonata-fast.ts it is only ever a shortcut: src/core/xml-fast.test.ts checks it
 * against fast-xml-parser on every shape it accepts.
 *
 * The text must have passed checkXml (well-formed, no DOCTYPE, bounded depth, no forbidden names): nothing here
 * checks those again.
 */
import { FORBIDDEN_KEYS, type XmlParseOptions } from './codec.js';

/** Numbers as fast-xml-parser's strnum reads them with the hub's options (no leading zeros), in their plainest forms. */
const INTEGER = /^(?:0|-?[1-9]\d*)$/;
const DECIMAL = /^-?(?:0|[1-9]\d*)\.\d+$/;
/** Text strnum might read as a number in some other way (signs, leading zeros, exponents, hex, infinities): left to it. */
const NUMBER_LIKE = /^[+\-.]?(?:\d|\.\d|Infinity|NaN)|^0x/i;

/** What one open element holds so far. */
interface Open {
  name: string;
  /** Its children's values by name (an array for a repeated name), made on the first child. */
  children: Record<string, unknown> | undefined;
  text: string;
}

export function fastXmlValue(text: string, options: XmlParseOptions): unknown {
  const strip = options.stripNamespaces ?? false;
  const parse = options.parseValues ?? false;
  const arrays = options.alwaysArray?.length ? new Set(options.alwaysArray) : undefined;
  const n = text.length;
  const stack: Open[] = [];
  let root: Record<string, unknown> | undefined;
  let i = 0;
  // An optional BOM and declaration, as fast-xml-parser reads them (its "?xml" key the caller drops anyway).
  if (text.charCodeAt(0) === 0xfeff) return undefined;
  while (i < n) {
    const lt = text.indexOf('<', i);
    if (lt === -1) {
      if (!blank(text, i, n)) return undefined;
      break;
    }
    if (lt > i) {
      const open = stack[stack.length - 1];
      if (open === undefined) {
        if (!blank(text, i, lt)) return undefined;
      } else if (!blank(text, i, lt)) {
        if (open.text !== '' || open.children !== undefined) return undefined;
        open.text = text.slice(i, lt);
      }
    }
    const c = text.charCodeAt(lt + 1);
    if (c === 63 /* ? */) {
      // Only the declaration, before anything else.
      if (lt !== 0 || !text.startsWith('<?xml', 0) || !/\s/.test(text[5] ?? '')) return undefined;
      const e = text.indexOf('?>', lt + 2);
      if (e === -1) return undefined;
      i = e + 2;
      continue;
    }
    if (c === 33 /* ! */) return undefined;
    const gt = text.indexOf('>', lt + 1);
    if (gt === -1) return undefined;
    if (c === 47 /* / */) {
      const open = stack.pop();
      if (open === undefined) return undefined;
      const value = valueOf(open, parse);
      if (value === undefined) return undefined;
      const parent = stack[stack.length - 1];
      if (parent === undefined) {
        if (root !== undefined) return undefined;
        root = {};
        add(root, open.name, value, arrays);
      } else {
        if (parent.text !== '') return undefined;
        add((parent.children ??= {}), open.name, value, arrays);
      }
      i = gt + 1;
      continue;
    }
    // A start tag: its name, then nothing but namespace declarations (dropped when stripping, else refused).
    const selfClosing = text.charCodeAt(gt - 1) === 47;
    const inner = text.slice(lt + 1, selfClosing ? gt - 1 : gt);
    if (inner.includes('"') || inner.includes("'")) {
      if (!strip || !onlyNamespaceDeclarations(inner)) return undefined;
    } else if (/\s\S/.test(inner.trimEnd())) return undefined;
    const end = inner.search(/\s|$/);
    let name = inner.slice(0, end);
    if (name === '' || name.includes('&')) return undefined;
    if (strip) {
      const colon = name.indexOf(':');
      if (colon !== -1) {
        if (name.startsWith('xmlns:')) return undefined;
        name = name.slice(colon + 1);
      }
    }
    const open: Open = { name, children: undefined, text: '' };
    if (selfClosing) {
      const parent = stack[stack.length - 1];
      if (parent === undefined) {
        if (root !== undefined) return undefined;
        root = {};
        add(root, name, '', arrays);
      } else {
        if (parent.text !== '') return undefined;
        add((parent.children ??= {}), name, '', arrays);
      }
    } else stack.push(open);
    i = gt + 1;
  }
  if (stack.length !== 0 || root === undefined) return undefined;
  return root;
}

function blank(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/** `name xmlns="..." xmlns:p="..."`: a start tag whose attributes all declare namespaces. */
function onlyNamespaceDeclarations(inner: string): boolean {
  return /^[^\s"'=<>&]+(?:\s+xmlns(?::[A-Za-z_][\w.-]*)?\s*=\s*(?:"[^"<&]*"|'[^'<&]*'))+\s*$/.test(inner);
}

/** An element's value as fast-xml-parser makes it: its children, or its trimmed text (parsed), or "". */
function valueOf(open: Open, parse: boolean): unknown {
  if (open.children !== undefined) return open.children;
  const raw = open.text;
  if (raw.includes('&') || raw.includes('<')) return undefined;
  const text = raw.trim();
  if (!parse || text === '') return text;
  if (text === 'true') return true;
  if (text === 'false') return false;
  return INTEGER.test(text) || DECIMAL.test(text) ? plainNumber(text) : NUMBER_LIKE.test(text) ? undefined : text;
}

/**
 * strnum's answer for an integer or a decimal without leading zeros: the number when its own text is the given one
 * (a decimal's trailing zeros aside), else the text; undefined when the number's text has an exponent (left to it).
 */
function plainNumber(text: string): unknown {
  const num = Number(text);
  if (num === 0) return num;
  const own = String(num);
  if (own.includes('e')) return undefined;
  let given = text;
  if (given.includes('.')) {
    let end = given.length;
    while (given.charCodeAt(end - 1) === 48) end--;
    if (given.charCodeAt(end - 1) === 46) end--;
    given = given.slice(0, end);
  }
  return own === given ? num : text;
}

/** An element's value under its name; a name met again (or always an array) makes a list. An element's own value is never an array. */
function add(into: Record<string, unknown>, name: string, value: unknown, arrays: ReadonlySet<string> | undefined): void {
  if (Object.prototype.hasOwnProperty.call(into, name)) {
    const existing = into[name];
    if (Array.isArray(existing)) existing.push(value);
    else into[name] = [existing, value];
  } else into[name] = arrays?.has(name) ? [value] : value;
}

/** An XML name of the plainest kind: ASCII letters, digits, `_ . -`, one optional prefix. */
const PLAIN_XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?$/;
/** Characters XML 1.0 refuses in text (controls other than tab, newline, carriage return). */
const XML_BAD_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const ESCAPED = /[<>&"']/g;
const ENTITY: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };

/**
 * The other way: `buildXml(value)` for a value of the plainest kind, written directly, or undefined when the value is
 * not plain. Plain: one document element; element and attribute names plain ASCII XML names, none refused
 * (__proto__ ...); text and attribute values strings, finite numbers or booleans without characters XML refuses; an
 * element holds text or elements, not both, and is at most `maxDepth` deep. What it gives is therefore a document
 * checkXml passes, so a caller need not scan it again (src/core/xml-fast.test.ts checks it against buildXml).
 */
export function plainXml(value: unknown, maxDepth: number): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  let root: string | undefined;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    if (root !== undefined) return undefined;
    root = key;
  }
  if (root === undefined || root === '#text' || root.startsWith('@_')) return undefined;
  const child = (value as Record<string, unknown>)[root];
  if (Array.isArray(child)) return undefined;
  const out: string[] = [];
  return element(root, child, 1, maxDepth, out) ? out.join('') : undefined;
}

function element(name: string, value: unknown, depth: number, maxDepth: number, out: string[]): boolean {
  if (depth > maxDepth || !plainName(name)) return false;
  const text = scalar(value);
  if (text !== undefined) {
    out.push(`<${name}>${text}</${name}>`);
    return true;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const node = value as Record<string, unknown>;
  let open = `<${name}`;
  let body: string | undefined;
  let children = 0;
  for (const key in node) {
    if (!Object.prototype.hasOwnProperty.call(node, key)) continue;
    const v = node[key];
    if (key.startsWith('@_')) {
      const attr = key.slice(2);
      const s = typeof v === 'boolean' ? undefined : scalar(v);
      if (s === undefined || !plainName(attr)) return false;
      open += ` ${attr}="${s}"`;
    } else if (key === '#text') {
      body = scalar(v);
      if (body === undefined) return false;
    } else children++;
  }
  if (children === 0 && body === undefined) return false;
  if (children > 0 && body !== undefined) return false;
  out.push(`${open}>`);
  if (body !== undefined) out.push(body);
  else {
    for (const key in node) {
      if (!Object.prototype.hasOwnProperty.call(node, key) || key.startsWith('@_')) continue;
      const v = node[key];
      if (Array.isArray(v)) {
        if (v.length === 0) return false;
        for (const item of v) if (Array.isArray(item) || !element(key, item, depth + 1, maxDepth, out)) return false;
      } else if (!element(key, v, depth + 1, maxDepth, out)) return false;
    }
  }
  out.push(`</${name}>`);
  return true;
}

function plainName(name: string): boolean {
  return PLAIN_XML_NAME.test(name) && !FORBIDDEN_KEYS.has(name.slice(name.indexOf(':') + 1));
}

/** Text for a string, a finite number or a boolean, escaped; undefined for anything else. */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return XML_BAD_CHARS.test(value) ? undefined : value.replace(ESCAPED, (c) => ENTITY[c]!);
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0) ? String(value) : undefined;
  if (typeof value === 'boolean') return String(value);
  return undefined;
}
