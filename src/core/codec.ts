import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { PermanentError } from './errors.js';

/** Limits applied to every document the hub parses. The hub configuration can change them (`limits:`). */
export interface XmlLimits {
  /** Deepest element/array/object nesting accepted. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: XmlLimits = { maxDepth: 64 };

/** Keys and XML names refused everywhere, so no parsed document can reach an object's prototype chain. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Parses JSON safely: bounded nesting, and `__proto__`, `constructor` and `prototype` keys refused rather than
 * silently kept. Both are checked in one iterative walk over the parsed value before anything else sees it (V8's
 * JSON.parse is iterative, so a hostile depth reaches no recursive code first); the character scan of the text runs
 * only when JSON.parse fails, to tell a document too deep for it from a malformed one. The walk instead of a scan
 * before parsing costs a tenth as much per message.
 */
export function parseJson(input: Buffer | string, limits: Partial<XmlLimits> = {}): unknown {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const maxDepth = limits.maxDepth ?? DEFAULT_LIMITS.maxDepth;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    checkTextDepth(text, maxDepth);
    // V8 quotes a piece of the text in some messages (`Unexpected token 'o', "not json a"... is not valid JSON`): it
    // is cut, since the error text is shown where the body is masked (a viewer's console, logs, dead-letter headers).
    throw new PermanentError('BAD_JSON', `malformed JSON: ${(err as Error).message.replace(/, ".*$/s, ' (not valid JSON)')}`, { cause: err });
  }
  checkTree(value, maxDepth);
  return value;
}

function tooDeep(maxDepth: number): PermanentError {
  return new PermanentError('TOO_DEEP', `JSON nested deeper than ${maxDepth} levels`);
}

/** Nesting of objects and arrays in JSON text, counted outside strings. */
function checkTextDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) throw tooDeep(maxDepth);
    } else if (c === 125 || c === 93) depth--;
  }
}

/** The parsed value's nesting, and its keys: JSON.parse keeps "__proto__" as a plain own key; refuse it (and its kin) before anything merges such an object. */
function checkTree(value: unknown, maxDepth: number): void {
  if (value === null || typeof value !== 'object') return;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const v = stack.pop()! as Record<string, unknown>;
    const depth = depths.pop()!;
    if (depth > maxDepth) throw tooDeep(maxDepth);
    if (Array.isArray(v)) {
      for (const child of v) {
        if (child !== null && typeof child === 'object') {
          stack.push(child as object);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    for (const k in v) {
      if (FORBIDDEN_KEYS.has(k)) throw new PermanentError('FORBIDDEN_KEY', `JSON key "${k}" is refused (prototype pollution guard)`);
      const child = v[k];
      if (child !== null && typeof child === 'object') {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
}

export function stringifyJson(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

export interface XmlToken {
  /** Character data, a CDATA section's content, or a tag (the text between "<" and ">", e.g. `/a` or `a x="1"/`). */
  kind: 'text' | 'cdata' | 'tag';
  value: string;
  /** Offset of the token's first character ("<" for tags and CDATA). */
  start: number;
  /** Offset just past the token. */
  end: number;
  /** False for a tag or CDATA section the text ends inside of. */
  closed: boolean;
}

/**
 * Walks an XML text token by token, in order: character data, CDATA sections and tags; comments and processing
 * instructions are skipped. A markup declaration (<!DOCTYPE, <!ENTITY ...) throws XML_DOCTYPE_FORBIDDEN, so nothing
 * built on it ever meets a DTD. Not recursive: any depth is safe to scan.
 */
export function scanXml(text: string, visit: (token: XmlToken) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const lt = text.indexOf('<', i);
    if (lt === -1) {
      visit({ kind: 'text', value: text.slice(i), start: i, end: n, closed: true });
      return;
    }
    if (lt > i) visit({ kind: 'text', value: text.slice(i, lt), start: i, end: lt, closed: true });
    if (text.startsWith('<!--', lt)) {
      const e = text.indexOf('-->', lt + 4);
      i = e === -1 ? n : e + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const e = text.indexOf(']]>', lt + 9);
      i = e === -1 ? n : e + 3;
      visit({ kind: 'cdata', value: text.slice(lt + 9, e === -1 ? n : e), start: lt, end: i, closed: e !== -1 });
    } else if (text.startsWith('<?', lt)) {
      const e = text.indexOf('?>', lt + 2);
      i = e === -1 ? n : e + 2;
    } else if (text.startsWith('<!', lt)) {
      throw new PermanentError('XML_DOCTYPE_FORBIDDEN', 'XML with a DOCTYPE or other markup declaration is refused (no DTDs, no entities)');
    } else {
      let j = lt + 1;
      let quote = 0;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (quote) {
          if (c === quote) quote = 0;
        } else if (c === 34 || c === 39) quote = c;
        else if (c === 62 /* > */) break;
        j++;
      }
      i = Math.min(j + 1, n);
      visit({ kind: 'tag', value: text.slice(lt + 1, j), start: lt, end: i, closed: j < n });
    }
  }
}

/** A start tag that is a name alone, maybe self-closing: no blanks, quotes, `=` or `>`. */
const PLAIN_TAG = /^[^\s"'=/>]+\/?$/;

/**
 * Checks an XML document before any parser sees it: no DOCTYPE (so no DTD, no entity declarations, no external
 * entities: billion-laughs and XXE cannot start), bounded depth, no element or attribute named __proto__,
 * constructor or prototype, and well-formedness (with the line and column of the first error). Returns the
 * document's depth. A document checked (or vouched for) a moment ago is not checked again: see `vouchXml`.
 */
export function checkXml(text: string, limits: Partial<XmlLimits> = {}): number {
  const maxDepth = limits.maxDepth ?? DEFAULT_LIMITS.maxDepth;
  const known = checked.get(text);
  if (known !== undefined && known <= maxDepth) return known;
  let depth = 0;
  let deepest = 0;
  scanXml(text, (token) => {
    if (token.kind !== 'tag') return;
    const tag = token.value;
    if (tag.startsWith('/')) {
      depth--;
      return;
    }
    if (!tag.endsWith('/') && ++depth > maxDepth) throw new PermanentError('TOO_DEEP', `XML nested deeper than ${maxDepth} levels`);
    if (depth > deepest) deepest = depth;
    // Most tags are a name alone (`s:WeightKg`, `Body/`): its local part is the only name to look at.
    if (PLAIN_TAG.test(tag)) {
      const name = tag.endsWith('/') ? tag.slice(0, -1) : tag;
      const local = name.slice(name.indexOf(':') + 1);
      if (FORBIDDEN_KEYS.has(local)) throw new PermanentError('FORBIDDEN_KEY', `XML name "${name}" is refused (prototype pollution guard)`);
      return;
    }
    const names = tag.replace(/"[^"]*"|'[^']*'/g, '');
    for (const m of names.matchAll(/(?:^|\s)([^\s=/>]+)/g)) {
      const local = m[1]!.slice(m[1]!.indexOf(':') + 1);
      if (FORBIDDEN_KEYS.has(local)) throw new PermanentError('FORBIDDEN_KEY', `XML name "${m[1]}" is refused (prototype pollution guard)`);
    }
  });
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: true });
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new PermanentError('BAD_XML', `malformed XML at line ${line}, column ${col}: ${msg}`, { details: { line, col } });
  }
  vouchXml(text, deepest);
  return deepest;
}

/**
 * Documents that passed checkXml a moment ago, with their depth: the same document is often checked twice on its
 * way (a SOAP envelope's payload by the source, then by xml_to_json; a reply built, then read), and a check costs
 * tens of microseconds. Small documents only, and a few of them: a cache of recent work, not of everything.
 */
const checked = new Map<string, number>();
const CHECKED_MAX_ENTRIES = 128;
const CHECKED_MAX_CHARS = 16 * 1024;

/**
 * Records that `text` is a well-formed document `depth` deep that passes checkXml's rules, for a caller that knows
 * it without checking it: one that cut it out of a checked document whole (a SOAP envelope's payload element, with
 * its namespace declarations). checkXml then takes it as checked.
 */
export function vouchXml(text: string, depth: number): void {
  if (text.length > CHECKED_MAX_CHARS) return;
  if (checked.size >= CHECKED_MAX_ENTRIES) checked.delete(checked.keys().next().value!);
  checked.set(text, depth);
}

export interface XmlParseOptions {
  /** Drop namespace prefixes from element and attribute names ("soap:Body" becomes "Body"). */
  stripNamespaces?: boolean;
  /** Turn numeric and boolean text into numbers and booleans (leading zeros keep a value a string). */
  parseValues?: boolean;
  /** Element names that are always arrays, even with one child. */
  alwaysArray?: string[];
}

export const ATTRIBUTE_PREFIX = '@_';
export const TEXT_KEY = '#text';

/** One parser per set of options (a parser keeps no state between documents); a flow has a few such sets. */
const parsers = new Map<string, XMLParser>();

function parserFor(options: XmlParseOptions, maxDepth: number): XMLParser {
  const key = JSON.stringify([options.stripNamespaces ?? false, options.parseValues ?? false, maxDepth, options.alwaysArray ?? []]);
  let parser = parsers.get(key);
  if (!parser) {
    parser = newParser(options, maxDepth);
    if (parsers.size >= 64) parsers.delete(parsers.keys().next().value!);
    parsers.set(key, parser);
  }
  return parser;
}

function newParser(options: XmlParseOptions, maxDepth: number): XMLParser {
  const arrays = new Set(options.alwaysArray ?? []);
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: ATTRIBUTE_PREFIX,
    textNodeName: TEXT_KEY,
    removeNSPrefix: options.stripNamespaces ?? false,
    parseTagValue: options.parseValues ?? false,
    parseAttributeValue: options.parseValues ?? false,
    numberParseOptions: { leadingZeros: false, hex: false, eNotation: true },
    processEntities: true,
    htmlEntities: false,
    trimValues: true,
    maxNestedTags: maxDepth + 1,
    ...(arrays.size ? { isArray: (name: string) => arrays.has(name) } : {}),
  });
}

/** Parses XML into fast-xml-parser's object form, after `checkXml`. */
export function parseXml(input: Buffer | string, limits: Partial<XmlLimits> = {}, options: XmlParseOptions = {}): unknown {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  checkXml(text, limits);
  return parseCheckedXml(text, limits, options);
}

/** parseXml for a text that passed checkXml. */
export function parseCheckedXml(text: string, limits: Partial<XmlLimits> = {}, options: XmlParseOptions = {}): unknown {
  try {
    return parserFor(options, limits.maxDepth ?? DEFAULT_LIMITS.maxDepth).parse(text);
  } catch (err) {
    throw new PermanentError('BAD_XML', `malformed XML: ${(err as Error).message}`, { cause: err });
  }
}

export interface XmlBuildOptions {
  /** Wrap the value in one root element with this name (when the value has several top-level keys, or is not an object). */
  root?: string;
  /** Write the <?xml ...?> declaration. */
  declaration?: boolean;
  pretty?: boolean;
}

function newBuilder(pretty: boolean): XMLBuilder {
  return new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: ATTRIBUTE_PREFIX, textNodeName: TEXT_KEY, format: pretty, suppressEmptyNode: false, processEntities: true });
}
/** A builder keeps no state between documents. */
const builder = newBuilder(false);
const prettyBuilder = newBuilder(true);

/** Serializes a JSON value to XML: keys become elements, `@_name` keys attributes, `#text` text. */
export function buildXml(value: unknown, options: XmlBuildOptions = {}): string {
  let tree = value;
  if (options.root) tree = { [options.root]: value };
  const xml = (options.pretty ? prettyBuilder : builder).build(tree) as string;
  return options.declaration ? `<?xml version="1.0" encoding="UTF-8"?>${options.pretty ? '\n' : ''}${xml}` : xml;
}
