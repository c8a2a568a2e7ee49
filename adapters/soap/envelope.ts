/**
 * SOAP 1.1 and 1.2 envelopes and Faults, shared by the source (parses requests, builds replies and Faults) and the
 * sink (builds requests, parses replies and Faults).
 *
 * Every document is checked by the hub's `checkXml` before anything reads it: no DOCTYPE (so no entity expansion,
 * no external entities), bounded depth, no __proto__/constructor names, well-formed.
 */
import { checkXml, vouchXml } from '../../src/core/codec.js';
import { ERROR_CODES, PermanentError, type HubError } from '../../src/core/errors.js';
import { callerDetail } from '../../src/kit/http-route.js';
import { attribute, child, escapeXml, innerXml, outerXml, parseTree, textOf, XmlTreeError, type XmlElement } from './xml-tree.js';

export type SoapVersion = '1.1' | '1.2';

export const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
/** The namespace of the hub's own fault detail (`<hub:error>`). */
export const HUB_FAULT_NS = 'urn:integration-hub:fault';

export const SOAP11_CONTENT_TYPE = 'text/xml';
export const SOAP12_CONTENT_TYPE = 'application/soap+xml';

const ACTOR_NEXT_11 = 'http://schemas.xmlsoap.org/soap/actor/next';
const ROLE_NEXT_12 = 'http://www.w3.org/2003/05/soap-envelope/role/next';
const ROLE_ULTIMATE_12 = 'http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver';

export function envelopeNs(version: SoapVersion): string {
  return version === '1.1' ? SOAP11_NS : SOAP12_NS;
}

export function versionOfNs(ns: string | undefined): SoapVersion | undefined {
  return ns === SOAP11_NS ? '1.1' : ns === SOAP12_NS ? '1.2' : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Content types

export interface ContentType {
  /** Lower-case media type without parameters, e.g. "text/xml". */
  mediaType: string;
  /** Parameters with lower-case names and unquoted values. */
  params: Record<string, string>;
}

export function parseContentType(header: string | undefined): ContentType | undefined {
  if (!header) return undefined;
  const [type, ...rest] = header.split(';');
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    params[name] = value;
  }
  return { mediaType: type!.trim().toLowerCase(), params };
}

/** The SOAP version a content type announces: text/xml is the SOAP 1.1 binding, application/soap+xml the 1.2 one. */
export function versionOfContentType(ct: ContentType | undefined): SoapVersion | undefined {
  if (ct?.mediaType === SOAP11_CONTENT_TYPE) return '1.1';
  if (ct?.mediaType === SOAP12_CONTENT_TYPE) return '1.2';
  return undefined;
}

/** The Content-Type of a message of a version; SOAP 1.2 carries the action as a parameter. */
export function contentTypeFor(version: SoapVersion, action?: string): string {
  if (version === '1.1') return `${SOAP11_CONTENT_TYPE}; charset=utf-8`;
  return `${SOAP12_CONTENT_TYPE}; charset=utf-8${action ? `; action="${action.replace(/["\\]/g, '\\$&')}"` : ''}`;
}

/** The SOAPAction header's value without its quotes; undefined when absent or empty (no intent given). */
export function unquoteSoapAction(header: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return undefined;
  const value = raw.trim().replace(/^"(.*)"$/, '$1').trim();
  return value === '' ? undefined : value;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors that carry a SOAP fault code of their own

/** The envelope's namespace is not the one the transport announced, or not a SOAP envelope namespace at all. */
export class VersionMismatchError extends PermanentError {
  constructor(message: string) {
    super('SOAP_VERSION_MISMATCH', message);
  }
}

/** Header blocks marked mustUnderstand that this endpoint does not process (SOAP 1.1 §4.2.3, SOAP 1.2 §5.2.3). */
export class MustUnderstandError extends PermanentError {
  readonly notUnderstood: { ns: string | undefined; local: string }[];
  constructor(notUnderstood: { ns: string | undefined; local: string }[]) {
    super('SOAP_MUST_UNDERSTAND', `header ${notUnderstood.map((h) => `{${h.ns ?? ''}}${h.local}`).join(', ')} is marked mustUnderstand but this endpoint does not process it`);
    this.notUnderstood = notUnderstood;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

export interface ParsedEnvelope {
  version: SoapVersion;
  /** The whole document text (offsets in the elements point into it). */
  text: string;
  envelope: XmlElement;
  /** Header blocks (children of Header), empty without a Header. */
  headers: XmlElement[];
  body: XmlElement;
  /** The Body's first child element: the payload or a Fault. */
  payload: XmlElement | undefined;
  /** How deep the document is (checkXml's count); its payload is no deeper. */
  depth: number;
}

export interface ParseOptions {
  maxDepth: number;
}

/**
 * Parses a SOAP envelope of either version. Throws a PermanentError: BAD_XML / XML_DOCTYPE_FORBIDDEN / TOO_DEEP /
 * FORBIDDEN_KEY from the XML checks, SOAP_VERSION_MISMATCH when the root is an Envelope in an unknown namespace,
 * SOAP_BAD_ENVELOPE when it is not an Envelope or has no Body.
 */
export function parseEnvelope(text: string, options: ParseOptions): ParsedEnvelope {
  const depth = checkXml(text, { maxDepth: options.maxDepth });
  let root: XmlElement;
  try {
    root = parseTree(text);
  } catch (err) {
    if (err instanceof XmlTreeError) throw new PermanentError('BAD_XML', `malformed XML: ${err.message}`, { cause: err });
    throw err;
  }
  const version = versionOfNs(root.ns);
  if (root.local !== 'Envelope') throw new PermanentError('SOAP_BAD_ENVELOPE', `the document element is <${root.name}>, not a SOAP Envelope`);
  if (!version) throw new VersionMismatchError(`the Envelope's namespace "${root.ns ?? ''}" is neither SOAP 1.1 (${SOAP11_NS}) nor SOAP 1.2 (${SOAP12_NS})`);
  const ns = envelopeNs(version);
  let header: XmlElement | undefined;
  let body: XmlElement | undefined;
  for (const c of root.children) {
    if (c.ns === ns && c.local === 'Header' && !header && !body) header = c;
    else if (c.ns === ns && c.local === 'Body' && !body) body = c;
    else if (version === '1.2' || !body) {
      // SOAP 1.2 allows nothing after the Body; neither version allows anything before it but a Header.
      throw new PermanentError('SOAP_BAD_ENVELOPE', `unexpected <${c.name}> in the Envelope: it holds an optional Header, then a Body`);
    }
  }
  if (!body) throw new PermanentError('SOAP_BAD_ENVELOPE', 'the Envelope has no Body');
  return { version, text, envelope: root, headers: header?.children ?? [], body, payload: body.children[0], depth };
}

/** The Body payload as a standalone XML document (namespace declarations it inherits carried onto it). */
/**
 * The payload element as a document of its own (with the namespace declarations it needs from its ancestors). Cut
 * whole out of a checked envelope, it is vouched for (vouchXml), so that reading it next (xml_to_json) skips the check.
 */
export function payloadXml(parsed: ParsedEnvelope): string | undefined {
  if (!parsed.payload) return undefined;
  const xml = outerXml(parsed.text, parsed.payload);
  vouchXml(xml, parsed.depth);
  return xml;
}

/**
 * Header blocks addressed to this node (SOAP 1.1 actor absent or "next"; SOAP 1.2 role absent, "next" or
 * "ultimateReceiver") and marked mustUnderstand.
 */
export function mandatoryHeaders(parsed: ParsedEnvelope): XmlElement[] {
  const ns = envelopeNs(parsed.version);
  return parsed.headers.filter((h) => {
    const mu = attribute(h, ns, 'mustUnderstand');
    if (mu !== '1' && mu !== 'true') return false;
    if (parsed.version === '1.1') {
      const actor = attribute(h, ns, 'actor');
      return actor === undefined || actor === ACTOR_NEXT_11;
    }
    const role = attribute(h, ns, 'role');
    return role === undefined || role === ROLE_NEXT_12 || role === ROLE_ULTIMATE_12;
  });
}

/** Header blocks addressed to this node (see `mandatoryHeaders`), whether or not they must be understood. */
export function headersForUs(parsed: ParsedEnvelope, ns: string, local: string): XmlElement[] {
  const env = envelopeNs(parsed.version);
  return parsed.headers.filter((h) => {
    if (h.ns !== ns || h.local !== local) return false;
    if (parsed.version === '1.1') {
      const actor = attribute(h, env, 'actor');
      return actor === undefined || actor === ACTOR_NEXT_11;
    }
    const role = attribute(h, env, 'role');
    return role === undefined || role === ROLE_NEXT_12 || role === ROLE_ULTIMATE_12;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Building

/** Wraps header blocks and a body payload (XML text, no declaration) in an envelope of a version. */
export function buildEnvelope(version: SoapVersion, payload: string, headerBlocks = ''): string {
  const ns = envelopeNs(version);
  const header = headerBlocks ? `<soap:Header>${headerBlocks}</soap:Header>` : '';
  const body = payload ? `<soap:Body>${payload}</soap:Body>` : '<soap:Body/>';
  return `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="${ns}">${header}${body}</soap:Envelope>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Faults

/** The standard fault codes, by their SOAP 1.2 names; SOAP 1.1 calls Sender "Client" and Receiver "Server". */
export type FaultCode = 'VersionMismatch' | 'MustUnderstand' | 'DataEncodingUnknown' | 'Sender' | 'Receiver';

export interface FaultSpec {
  code: FaultCode;
  /** SOAP 1.2 Subcode, a QName whose prefix is bound by `subcodeNs` (SOAP 1.1 has no subcodes). */
  subcode?: { prefix: string; ns: string; local: string };
  reason: string;
  /** Detail content as XML (elements). */
  detail?: string;
  /** SOAP 1.2 MustUnderstand faults name the headers in NotUnderstood header blocks. */
  notUnderstood?: { ns: string | undefined; local: string }[];
}

function faultCode11(code: FaultCode): string {
  return code === 'Sender' ? 'Client' : code === 'Receiver' ? 'Server' : code;
}

/** A complete Fault envelope of a version. */
export function buildFault(version: SoapVersion, fault: FaultSpec): string {
  const reason = escapeXml(fault.reason);
  if (version === '1.1') {
    const detail = fault.detail ? `<detail>${fault.detail}</detail>` : '';
    // SOAP 1.2 Appendix A: a VersionMismatch fault names the envelope versions understood in an Upgrade header.
    const upgrade =
      fault.code === 'VersionMismatch'
        ? `<upg:Upgrade xmlns:upg="${SOAP12_NS}"><upg:SupportedEnvelope qname="s11:Envelope" xmlns:s11="${SOAP11_NS}"/><upg:SupportedEnvelope qname="s12:Envelope" xmlns:s12="${SOAP12_NS}"/></upg:Upgrade>`
        : '';
    return buildEnvelope('1.1', `<soap:Fault><faultcode>soap:${faultCode11(fault.code)}</faultcode><faultstring>${reason}</faultstring>${detail}</soap:Fault>`, upgrade);
  }
  const sub = fault.subcode ? `<soap:Subcode><soap:Value xmlns:${fault.subcode.prefix}="${escapeXml(fault.subcode.ns)}">${fault.subcode.prefix}:${fault.subcode.local}</soap:Value></soap:Subcode>` : '';
  const detail = fault.detail ? `<soap:Detail>${fault.detail}</soap:Detail>` : '';
  let headers = '';
  if (fault.code === 'VersionMismatch') {
    headers = `<soap:Upgrade><soap:SupportedEnvelope qname="s12:Envelope" xmlns:s12="${SOAP12_NS}"/><soap:SupportedEnvelope qname="s11:Envelope" xmlns:s11="${SOAP11_NS}"/></soap:Upgrade>`;
  }
  for (const h of fault.notUnderstood ?? []) {
    headers += h.ns ? `<soap:NotUnderstood qname="nu:${h.local}" xmlns:nu="${escapeXml(h.ns)}"/>` : `<soap:NotUnderstood qname="${h.local}"/>`;
  }
  return buildEnvelope(
    '1.2',
    `<soap:Fault><soap:Code><soap:Value>soap:${fault.code}</soap:Value>${sub}</soap:Code><soap:Reason><soap:Text xml:lang="en">${reason}</soap:Text></soap:Reason>${detail}</soap:Fault>`,
    headers,
  );
}

/**
 * The Fault that answers a hub error: its side from the error table (client → Client/Sender, server →
 * Server/Receiver), VersionMismatch and MustUnderstand where SOAP defines them, and a detail carrying the hub's error
 * code and the message id. The reason is the error's message only for client-side codes; a server-side error's
 * message may name internal hosts or downstream answers, so the caller gets its title and the message id instead.
 */
export function faultForError(version: SoapVersion, err: HubError, messageId: string | undefined): FaultSpec {
  const spec = ERROR_CODES[err.code];
  let code: FaultCode = spec.fault === 'client' ? 'Sender' : 'Receiver';
  if (err instanceof VersionMismatchError) code = 'VersionMismatch';
  if (err.code === 'SOAP_MUST_UNDERSTAND') code = 'MustUnderstand';
  const reason = callerDetail(err, messageId);
  const detail =
    `<hub:error xmlns:hub="${HUB_FAULT_NS}"><hub:code>${err.code}</hub:code>` +
    (messageId ? `<hub:messageId>${escapeXml(messageId)}</hub:messageId>` : '') +
    (messageId && err.journal ? `<hub:journal>${err.journal}</hub:journal>` : '') +
    `<hub:retryable>${err.retryable}</hub:retryable><hub:hint>${escapeXml(spec.hint)}</hub:hint></hub:error>`;
  return {
    code,
    ...(code === 'Sender' || code === 'Receiver' ? { subcode: { prefix: 'hub', ns: HUB_FAULT_NS, local: err.code } } : {}),
    reason,
    detail,
    ...(err instanceof MustUnderstandError ? { notUnderstood: err.notUnderstood } : {}),
  };
}

/** What common SOAP stacks read a SOAP 1.2 Sender fault with: Apache CXF's client reads a fault body only on 500. */
export const DEFAULT_SOAP12_SENDER_STATUS = 500;

/**
 * The HTTP status of a Fault. SOAP 1.1's HTTP binding answers every Fault with 500. SOAP 1.2's (Part 2 §7.5.2.2)
 * answers Sender faults with 400 and the others with 500, but a default Apache CXF client (4.x) reads the fault in
 * a body only on 500: on 400 it throws "Could not send Message" and the fault is lost. So a Sender fault gets
 * `soap12SenderStatus`, 500 unless the source asks for the binding's 400; 415 where the media type is not supported.
 */
export function faultStatus(version: SoapVersion, fault: FaultSpec, err?: HubError, soap12SenderStatus: 400 | 500 = DEFAULT_SOAP12_SENDER_STATUS): number {
  if (version === '1.1') return 500;
  if (err?.code === 'UNSUPPORTED_MEDIA_TYPE') return 415;
  return fault.code === 'Sender' ? soap12SenderStatus : 500;
}

export interface ParsedFault {
  version: SoapVersion;
  /** The code's local name as written (1.1 "Client", "Server", "Client.Auth"...; 1.2 "Sender", "Receiver"...). */
  faultCode: string;
  /** The code as a standard code, Client/Server mapped to Sender/Receiver; undefined for a non-standard 1.1 code. */
  standardCode: FaultCode | undefined;
  /** SOAP 1.2 subcode values, outermost first. */
  subcodes: string[];
  reason: string;
  /** The detail element's content as XML, if any. */
  detail: string | undefined;
  /** SOAP 1.1 faultactor / SOAP 1.2 Role. */
  actor: string | undefined;
}

/** Reads the Fault in a parsed envelope, or undefined when the Body's payload is not a Fault. */
export function parseFault(parsed: ParsedEnvelope): ParsedFault | undefined {
  const f = parsed.payload;
  const ns = envelopeNs(parsed.version);
  if (!f || f.ns !== ns || f.local !== 'Fault') return undefined;
  const { text } = parsed;
  const localOf = (qname: string): string => qname.trim().slice(qname.trim().indexOf(':') + 1);
  if (parsed.version === '1.1') {
    // faultcode, faultstring, faultactor and detail are unqualified in SOAP 1.1; some toolkits qualify them anyway.
    const pick = (local: string): XmlElement | undefined => f.children.find((c) => c.local === local && (c.ns === undefined || c.ns === ns));
    const codeEl = pick('faultcode');
    // Some toolkits (the `soap` package's authentication failure) put a SOAP 1.2-style Code/Reason in a 1.1 envelope.
    const code12 = f.children.find((c) => c.local === 'Code')?.children.find((c) => c.local === 'Value');
    const reason12 = f.children.find((c) => c.local === 'Reason')?.children.find((c) => c.local === 'Text');
    const faultCode = codeEl ? localOf(textOf(text, codeEl)) : code12 ? localOf(textOf(text, code12)) : 'Server';
    const base = faultCode.split('.')[0]!;
    const standardCode: FaultCode | undefined =
      base === 'Client' || base === 'Sender' ? 'Sender' : base === 'Server' || base === 'Receiver' ? 'Receiver' : base === 'VersionMismatch' || base === 'MustUnderstand' ? base : undefined;
    const detailEl = pick('detail');
    const actorEl = pick('faultactor');
    return {
      version: '1.1',
      faultCode,
      standardCode,
      subcodes: [],
      reason: pick('faultstring') ? textOf(text, pick('faultstring')!).trim() : reason12 ? textOf(text, reason12).trim() : '',
      detail: detailEl ? innerXml(text, detailEl).trim() || undefined : undefined,
      actor: actorEl ? textOf(text, actorEl).trim() : undefined,
    };
  }
  const codeEl = child(f, ns, 'Code');
  const valueEl = codeEl && child(codeEl, ns, 'Value');
  const faultCode = valueEl ? localOf(textOf(text, valueEl)) : 'Receiver';
  const subcodes: string[] = [];
  let sub = codeEl && child(codeEl, ns, 'Subcode');
  while (sub) {
    const v = child(sub, ns, 'Value');
    if (v) subcodes.push(textOf(text, v).trim());
    sub = child(sub, ns, 'Subcode');
  }
  const reasonEl = child(f, ns, 'Reason');
  const texts = reasonEl ? reasonEl.children.filter((c) => c.ns === ns && c.local === 'Text') : [];
  const english = texts.find((t) => (attribute(t, 'http://www.w3.org/XML/1998/namespace', 'lang') ?? '').toLowerCase().startsWith('en')) ?? texts[0];
  const detailEl = child(f, ns, 'Detail');
  const roleEl = child(f, ns, 'Role');
  const standard = ['VersionMismatch', 'MustUnderstand', 'DataEncodingUnknown', 'Sender', 'Receiver'] as const;
  return {
    version: '1.2',
    faultCode,
    standardCode: (standard as readonly string[]).includes(faultCode) ? (faultCode as FaultCode) : undefined,
    subcodes,
    reason: english ? textOf(text, english).trim() : '',
    detail: detailEl ? innerXml(text, detailEl).trim() || undefined : undefined,
    actor: roleEl ? textOf(text, roleEl).trim() : undefined,
  };
}
