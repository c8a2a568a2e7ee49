/**
 * What the SOAP source needs from a WSDL 1.1 document: its operations (with their soapAction and input/output
 * elements, for dispatch) and its target namespace; and the document itself, served at `?wsdl` with every
 * soap:address location pointed at the URL the client used.
 */
import { readFileSync } from 'node:fs';
import { checkXml } from '../../src/core/codec.js';
import { attribute, childrenNamed, escapeXml, parseTree, type XmlElement } from './xml-tree.js';

export const WSDL_NS = 'http://schemas.xmlsoap.org/wsdl/';
export const WSDL_SOAP11_NS = 'http://schemas.xmlsoap.org/wsdl/soap/';
export const WSDL_SOAP12_NS = 'http://schemas.xmlsoap.org/wsdl/soap12/';

export interface QName {
  ns: string | undefined;
  local: string;
}

export interface WsdlOperation {
  name: string;
  /** soapAction values of this operation across the SOAP 1.1 and 1.2 bindings. */
  soapActions: string[];
  /** The element of the input message's part (document/literal). */
  input: QName | undefined;
  output: QName | undefined;
}

export interface WsdlInfo {
  /** Where it was read from. */
  file: string;
  text: string;
  targetNamespace: string | undefined;
  operations: Map<string, WsdlOperation>;
}

function resolveQName(element: XmlElement, qname: string | undefined): QName | undefined {
  if (!qname) return undefined;
  const i = qname.indexOf(':');
  const prefix = i === -1 ? '' : qname.slice(0, i);
  return { ns: element.scope.get(prefix) || undefined, local: qname.slice(i + 1) };
}

/** Reads and analyses a WSDL file; throws an Error saying what is wrong with it. */
export function loadWsdl(file: string): WsdlInfo {
  const text = readFileSync(file, 'utf8');
  return analyseWsdl(text, file);
}

export function analyseWsdl(text: string, file = '<inline>'): WsdlInfo {
  checkXml(text, { maxDepth: 256 });
  const root = parseTree(text);
  if (root.ns !== WSDL_NS || root.local !== 'definitions') throw new Error(`${file} is not a WSDL 1.1 document (its root is <${root.name}>)`);
  const targetNamespace = attribute(root, undefined, 'targetNamespace');

  const messages = new Map<string, QName | undefined>();
  for (const m of childrenNamed(root, WSDL_NS, 'message')) {
    const part = childrenNamed(m, WSDL_NS, 'part')[0];
    messages.set(attribute(m, undefined, 'name') ?? '', part ? resolveQName(part, attribute(part, undefined, 'element')) : undefined);
  }
  const messageElement = (el: XmlElement | undefined): QName | undefined => {
    const ref = el && resolveQName(el, attribute(el, undefined, 'message'));
    return ref ? messages.get(ref.local) : undefined;
  };

  const operations = new Map<string, WsdlOperation>();
  for (const pt of childrenNamed(root, WSDL_NS, 'portType')) {
    for (const op of childrenNamed(pt, WSDL_NS, 'operation')) {
      const name = attribute(op, undefined, 'name');
      if (!name || operations.has(name)) continue;
      operations.set(name, {
        name,
        soapActions: [],
        input: messageElement(childrenNamed(op, WSDL_NS, 'input')[0]),
        output: messageElement(childrenNamed(op, WSDL_NS, 'output')[0]),
      });
    }
  }
  for (const binding of childrenNamed(root, WSDL_NS, 'binding')) {
    for (const op of childrenNamed(binding, WSDL_NS, 'operation')) {
      const info = operations.get(attribute(op, undefined, 'name') ?? '');
      if (!info) continue;
      for (const so of [...childrenNamed(op, WSDL_SOAP11_NS, 'operation'), ...childrenNamed(op, WSDL_SOAP12_NS, 'operation')]) {
        const action = attribute(so, undefined, 'soapAction');
        if (action && !info.soapActions.includes(action)) info.soapActions.push(action);
      }
    }
  }
  return { file, text, targetNamespace, operations };
}

/** The WSDL text with every soap:address / soap12:address location set to `url`. */
export function rewriteLocations(info: WsdlInfo, url: string): string {
  const root = parseTree(info.text);
  const edits: { start: number; end: number }[] = [];
  for (const service of childrenNamed(root, WSDL_NS, 'service')) {
    for (const port of childrenNamed(service, WSDL_NS, 'port')) {
      for (const address of [...childrenNamed(port, WSDL_SOAP11_NS, 'address'), ...childrenNamed(port, WSDL_SOAP12_NS, 'address')]) {
        edits.push({ start: address.start, end: address.contentStart });
      }
    }
  }
  let out = '';
  let at = 0;
  for (const e of edits.sort((a, b) => a.start - b.start)) {
    const tag = info.text.slice(e.start, e.end).replace(/(\slocation\s*=\s*)("[^"]*"|'[^']*')/, `$1"${escapeXml(url)}"`);
    out += info.text.slice(at, e.start) + tag;
    at = e.end;
  }
  return out + info.text.slice(at);
}
