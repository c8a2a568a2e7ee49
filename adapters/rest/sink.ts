import type { Dispatcher } from 'undici';
import { checkXml, parseJson } from '../../src/core/codec.js';
import type { AdapterContext, HubLimits, SendContext, Sink, SinkFactory } from '../../src/core/contracts.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import { hubError, PermanentError, RetryableError, toHubError, type HubError } from '../../src/core/errors.js';
import { durationOption } from '../../src/core/duration.js';
import { compileHeaderTemplates, compileTemplate, type CompiledTemplate } from '../../src/kit/expression.js';
import { isJsonType, isXmlType, Message } from '../../src/core/message.js';
import { MESSAGE_ID_HEADER, outboundHeaders } from '../../src/kit/propagation.js';
import { AttemptTimeouts } from '../../src/kit/attempt-timeouts.js';
import { AgentLease, errorCode, readLimited, redactUrl, transportError } from '../../src/kit/http-client.js';
import { sinkSchema, type HttpMethod, type RestSinkConfig, type SinkBody, type SinkExpect } from './config.js';

/** Headers the hub sets itself; a config that names one is reported. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer']);
/** Statuses worth another try: 408, 425, 429 and 5xx, except 501 and 505, which a retry never changes. */
const RETRYABLE_STATUS = (s: number): boolean => s === 408 || s === 425 || s === 429 || (s >= 500 && s !== 501 && s !== 505);
const EXCERPT_BYTES = 1024;

/**
 * Sends each message as one HTTP request and resolves with the reply as a message. It does not retry: it says
 * whether a retry may help (RetryableError) or not (PermanentError), and the flow's retry policy decides.
 */
export class RestSink implements Sink {
  readonly #url: UrlTemplate;
  readonly #method: HttpMethod;
  readonly #headers: [string, CompiledTemplate][];
  readonly #timeoutMs: number;
  readonly #body: SinkBody;
  readonly #expect: SinkExpect;
  readonly #limits: HubLimits;
  /** This sink's hold on the process-wide keep-alive pool (src/kit/http-client.ts). */
  readonly #pool = new AgentLease();
  /** Every attempt's timeout, connect to last byte, on one timer. */
  readonly #timeouts: AttemptTimeouts;

  constructor(config: RestSinkConfig, ctx: AdapterContext) {
    const report = (issue: ConfigIssue): void => ctx.report(issue);
    this.#method = config.method ?? 'POST';
    this.#url = compileUrl(config.url, report);
    this.#headers = compileHeaderTemplates(config.headers, RESERVED_HEADERS, report);
    this.#timeoutMs = durationOption(config.timeout, '10s', ['timeout'], report, 1);
    this.#timeouts = new AttemptTimeouts(this.#timeoutMs);
    this.#body = config.body ?? 'auto';
    if (this.#method === 'GET' && this.#body !== 'auto' && this.#body !== 'none') report({ path: ['body'], message: `a GET request carries no body; remove body: ${this.#body} or use another method` });
    this.#expect = config.expect ?? 'any';
    this.#limits = ctx.limits;
  }

  async start(): Promise<void> {
    this.#pool.acquire();
  }

  async stop(): Promise<void> {
    await this.#pool.release();
  }

  ready(): boolean {
    return this.#pool.agent !== undefined;
  }

  send(message: Message, ctx: SendContext): Promise<Message> {
    const agent = this.#pool.agent;
    if (!agent) return Promise.reject(hubError('FLOW_STOPPING', 'the REST sink is not started'));
    // A constant URL and no header templates (the common case) go straight on, without a turn per template.
    const constant = this.#url.constant;
    if (constant !== undefined && this.#headers.length === 0) return this.#exchange(agent, message, ctx, constant, undefined);
    return this.#rendered(agent, message, ctx);
  }

  async #rendered(agent: Dispatcher, message: Message, ctx: SendContext): Promise<Message> {
    const target = await this.#url.render(message);
    const extra: Record<string, string> = {};
    for (const [name, template] of this.#headers) extra[name] = await template.render(message);
    return this.#exchange(agent, message, ctx, target, extra);
  }

  async #exchange(agent: Dispatcher, message: Message, ctx: SendContext, { url, origin, path }: RenderedUrl, extra: Record<string, string> | undefined): Promise<Message> {
    const headers: Record<string, string> = outboundHeaders(message.headers);
    headers[MESSAGE_ID_HEADER] = message.id;
    if (extra) Object.assign(headers, extra);
    const accept = ACCEPT[this.#expect];
    if (accept && headers.accept === undefined) headers.accept = accept;
    const payload = this.#payload(message);
    if (payload) headers['content-type'] = payload.contentType;

    const attempt = this.#timeouts.begin(ctx);
    try {
      let response: Dispatcher.ResponseData;
      try {
        response = await agent.request({ origin, path, method: this.#method, headers, body: payload?.body ?? null, signal: attempt.asSignal });
      } catch (err) {
        throw this.#transportError(err, url, ctx.signal);
      }

      const { statusCode } = response;
      const contentType = header(response.headers, 'content-type');
      if (statusCode < 200 || statusCode > 299) {
        const target = this.#target(url);
        const excerpt = await readExcerpt(response.body);
        const retryAfter = retryAfterMs(header(response.headers, 'retry-after'));
        const details = { status: statusCode, method: this.#method, url: redactUrl(url), body: excerpt, ...(contentType ? { contentType } : {}), ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }) };
        if (RETRYABLE_STATUS(statusCode)) throw new RetryableError('DOWNSTREAM_UNAVAILABLE', `${target} answered ${statusCode}`, { details });
        throw new PermanentError('DOWNSTREAM_REJECTED', `${target} answered ${statusCode}`, { details });
      }

      let body: Buffer;
      try {
        body = await readLimited(response.body, this.#limits.bodyBytes, response.headers['content-length']);
      } catch (err) {
        throw this.#transportError(err, url, ctx.signal);
      }
      return this.#reply(message, body, contentType, statusCode, url);
    } finally {
      this.#timeouts.end(attempt);
    }
  }

  /** "POST http://host/path", for messages: the URL without credentials, query and fragment. */
  #target(url: string): string {
    return `${this.#method} ${redactUrl(url)}`;
  }

  /** The request body and its content type, per the `body` option; undefined for none. */
  #payload(message: Message): { body: Buffer; contentType: string } | undefined {
    const mode = this.#body === 'auto' ? (this.#method === 'GET' || this.#method === 'DELETE' ? 'none' : 'auto') : this.#body;
    switch (mode) {
      case 'none':
        return undefined;
      case 'auto':
        return { body: message.body, contentType: message.contentType ?? 'application/octet-stream' };
      case 'json':
        if (message.isXml) throw new PermanentError('BAD_REQUEST', 'the REST sink sends JSON (body: json) but the message is XML; add an xml_to_json step first');
        return { body: Buffer.from(JSON.stringify(message.json()) ?? 'null', 'utf8'), contentType: 'application/json' };
      case 'xml':
        if (!message.isXml) throw new PermanentError('BAD_REQUEST', `the REST sink sends XML (body: xml) but the message is ${message.contentType ?? 'untyped'}; add a json_to_xml step first`);
        return { body: message.body, contentType: message.contentType! };
      case 'text':
        return { body: message.body, contentType: 'text/plain; charset=utf-8' };
    }
  }

  /** The reply message: same id, the downstream's body and content type, the request's correlation headers. */
  #reply(request: Message, body: Buffer, contentType: string | undefined, status: number, url: string): Message {
    const type = contentType ?? (body.length === 0 ? undefined : 'application/octet-stream');
    const kind = type === undefined ? 'empty' : isJsonType(type) ? 'json' : isXmlType(type) ? 'xml' : /^text\//i.test(type) ? 'text' : 'other';
    if (this.#expect !== 'any' && kind !== this.#expect && !(kind === 'empty')) {
      throw new PermanentError('BAD_REPLY', `${this.#target(url)} answered ${type}, expected ${this.#expect}`, { details: { status, contentType: type, body: excerptOf(body) } });
    }
    const headers: Record<string, string> = outboundHeaders(request.headers);
    if (type) headers['content-type'] = type;
    const meta = { ...request.meta, downstreamStatus: status };
    const limits = { maxDepth: this.#limits.maxDepth };
    try {
      // Headers and meta are made here for this message alone: owned, frozen as they are.
      if (kind === 'json') return new Message({ id: request.id, body, value: parseJson(body, limits), headers, meta, owned: true });
      if (kind === 'xml') checkXml(body.toString('utf8'), limits);
    } catch (err) {
      const e = toHubError(err);
      throw new PermanentError('BAD_REPLY', `${this.#target(url)} answered an unreadable ${kind.toUpperCase()} body: ${e.message}`, { cause: err, details: { status, contentType: type, reason: e.code, body: excerptOf(body) } });
    }
    return new Message({ id: request.id, body, headers, meta, owned: true });
  }

  #transportError(err: unknown, url: string, flowSignal: AbortSignal): HubError {
    const target = this.#target(url);
    // undici refuses a header value or URL that a template rendered badly before anything is sent.
    if (errorCode(err) === 'UND_ERR_INVALID_ARG') return hubError('TEMPLATE_FAILED', `${target} cannot be sent: ${(err as Error).message}`, { cause: err });
    return transportError(err, { url, what: target, timeoutMs: this.#timeoutMs, flowSignal });
  }
}

const ACCEPT: Record<SinkExpect, string | undefined> = {
  any: undefined,
  json: 'application/json',
  xml: 'application/xml, text/xml',
  text: 'text/plain',
};

/** A URL, checked, with its origin and path (and query) as undici's request takes them. */
interface RenderedUrl {
  url: string;
  origin: string;
  path: string;
}

interface UrlTemplate {
  render(message: Message): Promise<RenderedUrl>;
  /** The URL when it has no template part (and is a valid one). */
  constant?: RenderedUrl;
}

/**
 * Compiles a URL template. `{{ }}` parts after the origin (in the path, query or fragment) are percent-encoded, so a
 * value such as "../admin" or "a?b" stays one segment; parts in the origin (scheme, host, port) are inserted as is.
 */
export function compileUrl(source: string, report: (issue: ConfigIssue) => void): UrlTemplate {
  const re = /\{\{(.*?)\}\}/gs;
  const masked = source.replace(re, (m) => 'x'.repeat(m.length));
  const schemeEnd = masked.indexOf('://');
  const pathStart = masked.slice(schemeEnd === -1 ? 0 : schemeEnd + 3).search(/[/?#]/);
  const originEnd = pathStart === -1 ? source.length : pathStart + (schemeEnd === -1 ? 0 : schemeEnd + 3);
  const parts: (string | { template: CompiledTemplate; encode: boolean })[] = [];
  let last = 0;
  for (const m of source.matchAll(re)) {
    if (m.index > last) parts.push(source.slice(last, m.index));
    const at = m.index;
    parts.push({ template: compileTemplate(m[0], ['url'], (issue) => report({ ...issue, offset: at + (issue.offset ?? 0) })), encode: at >= originEnd });
    last = at + m[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  const check = (url: string): RenderedUrl => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`"${redactUrl(url)}" is not an absolute URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`"${redactUrl(url)}" is not an http(s) URL`);
    return { url, origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
  };
  if (parts.every((p) => typeof p === 'string')) {
    let constant: RenderedUrl;
    try {
      constant = check(source);
    } catch (err) {
      // Reported: the flow does not load, so nothing is ever sent to it.
      report({ path: ['url'], message: (err as Error).message });
      return { render: async () => ({ url: source, origin: '', path: '' }) };
    }
    return { render: async () => constant, constant };
  }
  return {
    async render(message) {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') out += part;
        else {
          const value = await part.template.render(message);
          out += part.encode ? encodeURIComponent(value) : value;
        }
      }
      try {
        return check(out);
      } catch (err) {
        throw new PermanentError('TEMPLATE_FAILED', `the REST sink's url template gave ${(err as Error).message}`, { details: { template: source } });
      }
    },
  };
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function excerptOf(body: Buffer): string {
  const text = body.subarray(0, EXCERPT_BYTES).toString('utf8');
  return body.length > EXCERPT_BYTES ? `${text}...` : text;
}

/** The first bytes of an error body as text; the rest is discarded so the connection can be reused. */
async function readExcerpt(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      if (size < EXCERPT_BYTES) chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > 64 * EXCERPT_BYTES) {
        body.destroy();
        break;
      }
    }
  } catch {
    // The status already says what happened; a broken error body adds nothing.
  }
  const text = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
  return size > EXCERPT_BYTES ? `${text}...` : text;
}

export const sinkFactory: SinkFactory<RestSinkConfig> = {
  schema: sinkSchema,
  requestReply: true,
  create: (config, ctx) => new RestSink(config, ctx),
};
