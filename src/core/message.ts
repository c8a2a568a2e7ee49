import { newId } from './id.js';
import { parseJson, parseXml, stringifyJson, type XmlLimits } from './codec.js';
import { PermanentError } from './errors.js';

/** Facts about a message that belong to the hub, not to the transport. */
export interface MessageMeta {
  /** The flow handling the message. */
  flow: string;
  /** The source endpoint it came in on, e.g. "rest:POST /api/orders". */
  source: string;
  /** ISO time it was received at ingress. */
  receivedAt: string;
  /** 1 for the first try; retries increase it. */
  attempt: number;
  /** The sink the last route step chose. */
  route?: string;
  /** For a message made by split: the id of the message it came from. */
  parentId?: string;
  /** For a replay: the id of the original message. */
  replayOf?: string;
  /** Transport facts a source adds (HTTP method, path params, query, SOAP operation ...). */
  [key: string]: unknown;
}

export type Headers = Readonly<Record<string, string>>;

export interface MessageInit {
  id?: string;
  /** Raw bytes, or an already parsed JSON value (serialized lazily when bytes are needed). */
  body?: Buffer | string;
  value?: unknown;
  headers?: Record<string, string>;
  /**
   * The headers and meta objects are this message's own (made for it, shared with nothing; header names lower
   * case): they are frozen as they are rather than copied. Sources that build each inbound message's set it.
   */
  owned?: boolean;
  meta: MessageMeta;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;
const XML_TYPE = /^(?:application|text)\/(?:[\w.+-]+\+)?xml\b/i;

export function isJsonType(contentType: string | undefined): boolean {
  return !!contentType && JSON_TYPE.test(contentType);
}

export function isXmlType(contentType: string | undefined): boolean {
  return !!contentType && XML_TYPE.test(contentType);
}

/**
 * What with() already made sure of, so the constructor need not do it again: the headers are a message's own
 * (normalized and frozen) and so is the meta, or the meta is a fresh copy only to be frozen. A module-private
 * argument rather than a WeakSet of shared objects: weak collections cost every garbage collection, at tens of
 * thousands of messages a second.
 */
const enum Trusted {
  None = 0,
  Headers = 1,
  Meta = 2,
  FreshMeta = 4,
}
const TRUST = Symbol('message.trusted');

function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const k in headers) if (Object.prototype.hasOwnProperty.call(headers, k)) out[k.toLowerCase()] = headers[k]!;
  return out;
}

/**
 * One message moving through a flow. Immutable: `with()` returns a new message. The body is kept as bytes and/or a
 * parsed JSON value; each view is computed once, on first use, and cached.
 *
 * Header names are lower case. `content-type` says how to read the body.
 */
export class Message {
  readonly id: string;
  readonly headers: Headers;
  readonly meta: Readonly<MessageMeta>;
  #bytes: Buffer | undefined;
  #value: unknown;
  #hasValue: boolean;

  constructor(init: MessageInit);
  /** @internal with()'s way in. */
  constructor(init: MessageInit, trust: typeof TRUST, trusted: Trusted);
  constructor(init: MessageInit, trust?: typeof TRUST, trusted: Trusted = Trusted.None) {
    if (trust !== TRUST) trusted = Trusted.None;
    this.id = init.id ?? newId();
    this.#hasValue = 'value' in init && init.value !== undefined;
    this.#value = init.value;
    this.#bytes = init.body === undefined ? (this.#hasValue ? undefined : Buffer.alloc(0)) : Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body, 'utf8');
    if (trusted & Trusted.Headers && (!this.#hasValue || init.headers!['content-type'])) {
      // Another message's headers, passed on by with(): already normalized and frozen, so shared as they are.
      this.headers = init.headers!;
    } else {
      const headers = init.owned && init.headers ? init.headers : lowerCased(init.headers);
      if (this.#hasValue && !headers['content-type']) headers['content-type'] = 'application/json';
      this.headers = Object.freeze(headers);
    }
    if (trusted & Trusted.Meta) this.meta = init.meta;
    else this.meta = Object.freeze(trusted & Trusted.FreshMeta || init.owned ? init.meta : { ...init.meta });
  }

  get contentType(): string | undefined {
    return this.headers['content-type'];
  }

  /** The body as bytes (a JSON value is serialized on first call). */
  get body(): Buffer {
    if (this.#bytes === undefined) this.#bytes = Buffer.from(stringifyJson(this.#value), 'utf8');
    return this.#bytes;
  }

  text(): string {
    return this.body.toString('utf8');
  }

  /** True when the body is (or will parse as) JSON. */
  get isJson(): boolean {
    return this.#hasValue || isJsonType(this.contentType);
  }

  get isXml(): boolean {
    return !this.#hasValue && isXmlType(this.contentType);
  }

  /**
   * The body as a JSON value. JSON bodies are parsed (safely: no __proto__/constructor keys, bounded depth);
   * text/plain gives a string; XML gives its tree only through the xml_to_json step, so here it is an error.
   */
  json(): unknown {
    if (this.#hasValue) return this.#value;
    const ct = this.contentType;
    if (ct === undefined || isJsonType(ct)) {
      this.#value = parseJson(this.body);
    } else if (/^text\//i.test(ct) && !isXmlType(ct)) {
      this.#value = this.text();
    } else {
      throw new PermanentError('BAD_REQUEST', `the body is ${ct}, not JSON; convert it first (for XML add an xml_to_json step)`);
    }
    this.#hasValue = true;
    return this.#value;
  }

  /** The body parsed as an XML tree (fast-xml-parser's object form), with the hub's XML limits. */
  xml(limits?: Partial<XmlLimits>): unknown {
    return parseXml(this.body, limits);
  }

  /** A new message with some parts replaced. A new `value` drops the old bytes; new bytes drop the old value. */
  with(change: { body?: Buffer | string; value?: unknown; headers?: Record<string, string>; meta?: Partial<MessageMeta>; id?: string }): Message {
    const init: MessageInit = {
      id: change.id ?? this.id,
      headers: change.headers ?? (this.headers as Record<string, string>),
      meta: change.meta ? ({ ...this.meta, ...change.meta } as MessageMeta) : (this.meta as MessageMeta),
    };
    let trusted = (change.headers ? Trusted.None : Trusted.Headers) | (change.meta ? Trusted.FreshMeta : Trusted.Meta);
    if ('value' in change && change.value !== undefined) {
      init.value = change.value;
      if (!change.headers && this.headers['content-type'] !== 'application/json') {
        init.headers = { ...this.headers, 'content-type': 'application/json' };
        trusted &= ~Trusted.Headers;
      }
    } else if (change.body !== undefined) {
      init.body = change.body;
    } else if (this.#hasValue) {
      init.value = this.#value;
      if (this.#bytes) init.body = this.#bytes;
    } else {
      init.body = this.body;
    }
    return new Message(init, TRUST, trusted);
  }

  /** What templates and JSONata expressions in flows see besides the body: `{ id, headers, meta }`. */
  envelope(): { id: string; headers: Headers; meta: Readonly<MessageMeta> } {
    return { id: this.id, headers: this.headers, meta: this.meta };
  }
}
