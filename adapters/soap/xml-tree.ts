/**
 * A small namespace-aware view of an XML document that keeps the source offsets of every element, so a SOAP Body's
 * child can be handed on byte for byte (no re-serialization, no lost prefixes, attributes or comments).
 *
 * It trusts its input to have passed `checkXml` (well-formed, no DOCTYPE, bounded depth, no forbidden names): it
 * never expands entities beyond the five predefined ones and character references, and it is not recursive.
 */
import { scanXml } from '../../src/core/codec.js';
import { PermanentError } from '../../src/core/errors.js';

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
export const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

export interface XmlAttribute {
  /** The qualified name as written, e.g. "soap:mustUnderstand". */
  name: string;
  prefix: string;
  local: string;
  /** Namespace URI; attributes without a prefix have none. */
  ns: string | undefined;
  /** The value with entity and character references decoded. */
  value: string;
}

export interface XmlElement {
  name: string;
  prefix: string;
  local: string;
  ns: string | undefined;
  attributes: XmlAttribute[];
  children: XmlElement[];
  parent: XmlElement | undefined;
  /** Prefix ('' for the default namespace) to URI, every binding in scope at this element. */
  scope: ReadonlyMap<string, string>;
  /** Offset of '<' of the start tag. */
  start: number;
  /** Offset just after the start tag ('>'), where content begins. */
  contentStart: number;
  /** Offset of '<' of the end tag (equals contentStart for an empty element). */
  contentEnd: number;
  /** Offset just after the end tag. */
  end: number;
}

/** The text is not well-formed XML (the tree's own checks, beyond `checkXml`'s): BAD_XML, the sender's fault. */
export class XmlTreeError extends PermanentError {
  override readonly name = 'XmlTreeError';
  constructor(message: string) {
    super('BAD_XML', message);
  }
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML 1.0's Char production: the code points a character reference may name (not NUL, not most C0 controls, no surrogates). */
function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/**
 * Decodes the predefined entities and character references. A reference to a code point that is not an XML Char
 * (`&#0;`, `&#xD800;`, `&#x110000;`) makes the document not well-formed: a BAD_XML error, the sender's fault.
 */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (m, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!isXmlChar(code)) throw new PermanentError('BAD_XML', `malformed XML: the character reference ${m.length > 16 ? `${m.slice(0, 16)}...` : m} is not a legal XML character`);
      return String.fromCodePoint(code);
    }
    return ENTITIES[ref]!;
  });
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;'));
}

function splitName(name: string): { prefix: string; local: string } {
  const i = name.indexOf(':');
  return i === -1 ? { prefix: '', local: name } : { prefix: name.slice(0, i), local: name.slice(i + 1) };
}

const ATTRIBUTE = /([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')/g;

/** Parses a document into its element tree and returns the root element. */
export function parseTree(text: string): XmlElement {
  const rootScope = new Map<string, string>([['xml', XML_NS]]);
  let root: XmlElement | undefined;
  let current: XmlElement | undefined;
  scanXml(text, (token) => {
    // Text is decoded lazily (textOf); its references are checked now, so that a parsed document is a sound one.
    if (token.kind === 'text' && token.value.includes('&#')) decodeEntities(token.value);
    if (token.kind !== 'tag') return;
    if (!token.closed) throw new XmlTreeError('unterminated tag');
    const tag = token.value;
    if (tag.startsWith('/')) {
      if (!current) throw new XmlTreeError('end tag without a start tag');
      current.contentEnd = token.start;
      current.end = token.end;
      current = current.parent;
      return;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const nameEnd = body.search(/[\s]/);
    const name = nameEnd === -1 ? body : body.slice(0, nameEnd);
    const rawAttributes: { name: string; value: string }[] = [];
    for (const m of (nameEnd === -1 ? '' : body.slice(nameEnd)).matchAll(ATTRIBUTE)) {
      rawAttributes.push({ name: m[1]!, value: decodeEntities(m[3] ?? m[4] ?? '') });
    }
    const parentScope = current?.scope ?? rootScope;
    let scope: Map<string, string> | undefined;
    for (const a of rawAttributes) {
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) {
        scope ??= new Map(parentScope);
        scope.set(a.name === 'xmlns' ? '' : a.name.slice(6), a.value);
      }
    }
    const elementScope = scope ?? parentScope;
    const { prefix, local } = splitName(name);
    const ns = elementScope.get(prefix) || undefined;
    if (prefix && ns === undefined) throw new XmlTreeError(`prefix "${prefix}" of <${name}> is not declared`);
    const attributes: XmlAttribute[] = rawAttributes.map((a) => {
      const s = splitName(a.name);
      const isDecl = a.name === 'xmlns' || s.prefix === 'xmlns';
      const attrNs = isDecl ? XMLNS_NS : s.prefix ? elementScope.get(s.prefix) : undefined;
      if (s.prefix && !isDecl && attrNs === undefined) throw new XmlTreeError(`prefix "${s.prefix}" of attribute ${a.name} is not declared`);
      return { name: a.name, prefix: s.prefix, local: s.local, ns: attrNs, value: a.value };
    });
    const element: XmlElement = {
      name,
      prefix,
      local,
      ns,
      attributes,
      children: [],
      parent: current,
      scope: elementScope,
      start: token.start,
      contentStart: token.end,
      contentEnd: token.end,
      end: token.end,
    };
    if (current) current.children.push(element);
    else if (root) throw new XmlTreeError('more than one root element');
    else root = element;
    if (!selfClosing) current = element;
  });
  if (!root) throw new XmlTreeError('no root element');
  if (current) throw new XmlTreeError(`<${current.name}> is not closed`);
  return root;
}

export function attribute(element: XmlElement, ns: string | undefined, local: string): string | undefined {
  return element.attributes.find((a) => a.ns === ns && a.local === local)?.value;
}

export function child(element: XmlElement, ns: string | undefined, local: string): XmlElement | undefined {
  return element.children.find((c) => c.ns === ns && c.local === local);
}

export function childrenNamed(element: XmlElement, ns: string | undefined, local: string): XmlElement[] {
  return element.children.filter((c) => c.ns === ns && c.local === local);
}

/** The character data directly and indirectly inside an element: tags and comments dropped, CDATA kept, entities decoded. */
export function textOf(text: string, element: XmlElement): string {
  let out = '';
  scanXml(text.slice(element.contentStart, element.contentEnd), (token) => {
    if (token.kind === 'text') out += decodeEntities(token.value);
    else if (token.kind === 'cdata') out += token.value;
  });
  return out;
}

/** The XML of an element's content (between its tags), as written. */
export function innerXml(text: string, element: XmlElement): string {
  return text.slice(element.contentStart, element.contentEnd);
}

/**
 * The element as a standalone document: its source text, with the namespace declarations it uses but inherits from
 * its ancestors copied onto its start tag (prefixes of element and attribute names inside it, prefixes used in
 * QName-valued attributes such as xsi:type, and the default namespace when an unprefixed element relies on it).
 */
export function outerXml(text: string, element: XmlElement): string {
  const own = new Set(element.attributes.filter((a) => a.ns === XMLNS_NS).map((a) => (a.name === 'xmlns' ? '' : a.local)));
  const needed = new Set<string>();
  const stack: XmlElement[] = [element];
  while (stack.length) {
    const e = stack.pop()!;
    needed.add(e.prefix);
    for (const a of e.attributes) {
      if (a.ns === XMLNS_NS) continue;
      if (a.prefix) needed.add(a.prefix);
      const qname = /^([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*$/.exec(a.value);
      if (qname) needed.add(qname[1]!);
    }
    stack.push(...e.children);
  }
  let declarations = '';
  for (const prefix of needed) {
    if (own.has(prefix) || prefix === 'xml') continue;
    const uri = element.scope.get(prefix);
    if (uri === undefined) continue;
    if (prefix === '' && uri === '') continue;
    declarations += prefix ? ` xmlns:${prefix}="${escapeXml(uri)}"` : ` xmlns="${escapeXml(uri)}"`;
  }
  const source = text.slice(element.start, element.end);
  if (!declarations) return source;
  const at = 1 + element.name.length;
  return source.slice(0, at) + declarations + source.slice(at);
}

/** Removes a leading XML declaration (and a BOM) so a document can be embedded in another. */
export function stripDeclaration(xml: string): string {
  return xml.replace(/^\uFEFF?\s*<\?xml[^?]*\?>\s*/, '');
}
