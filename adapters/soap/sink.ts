/**
 * The SOAP sink: calls one operation of a SOAP 1.1 or 1.2 service and resolves with the reply's Body payload.
 *
 * Errors, by what trying again can do: a Server/Receiver fault, 5xx without a fault, 429, a refused or reset
 * connection and a timeout are retryable; a Client/Sender (or VersionMismatch, MustUnderstand) fault, any other 4xx,
 * a message that cannot be encoded and an unreadable reply are permanent.
 */
import { Agent, request } from 'undici';
import { buildXml, checkXml } from '../../src/core/codec.js';
import type { AdapterContext, HubLimits, SendContext, Sink, SinkFactory } from '../../src/core/contracts.js';
import { toMs } from '../../src/core/duration.js';
import { HubError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import { MESSAGE_ID_HEADER, outboundHeaders } from '../../src/core/propagation.js';
import { sinkSchema, type SoapSinkConfig } from './config.js';
import { buildEnvelope, contentTypeFor, parseEnvelope, parseFault, payloadXml, SOAP11_CONTENT_TYPE, SOAP12_CONTENT_TYPE, type ParsedEnvelope, type SoapVersion } from './envelope.js';
import { buildSecurityHeader } from './wsse.js';
import { stripDeclaration } from './xml-tree.js';

/** Connection-level failures undici reports, retried as DOWNSTREAM_UNAVAILABLE unless they are timeouts. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

export class SoapSink implements Sink {
  readonly #config: SoapSinkConfig;
  readonly #version: SoapVersion;
  readonly #timeoutMs: number;
  readonly #limits: HubLimits;
  /** One connection pool per sink, shared by all its sends; created here, opened lazily by the first send. */
  readonly #agent: Agent;
  #running = false;

  constructor(config: SoapSinkConfig, ctx: AdapterContext) {
    this.#config = config;
    this.#version = config.version ?? '1.1';
    this.#limits = ctx.limits;
    let timeoutMs = 30_000;
    try {
      timeoutMs = toMs(config.timeout ?? '30s');
    } catch (err) {
      ctx.report({ path: ['timeout'], message: (err as Error).message });
    }
    this.#timeoutMs = timeoutMs;
    this.#agent = new Agent({ connections: 64, keepAliveTimeout: 10_000, connectTimeout: Math.min(timeoutMs, 10_000) });
  }

  async start(): Promise<void> {
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#agent.close();
  }

  ready(): boolean {
    return this.#running;
  }

  async send(message: Message, ctx: SendContext): Promise<Message | undefined> {
    const config = this.#config;
    const action = config.soap_action ?? '';
    const security = config.ws_security
      ? buildSecurityHeader({ username: config.ws_security.username, password: config.ws_security.password, passwordType: config.ws_security.password_type ?? 'text' })
      : '';
    const envelope = buildEnvelope(this.#version, this.#payload(message), security);
    const headers: Record<string, string> = {
      ...config.headers,
      ...outboundHeaders(message.headers),
      [MESSAGE_ID_HEADER]: message.id,
      'content-type': contentTypeFor(this.#version, action || undefined),
      accept: this.#version === '1.1' ? SOAP11_CONTENT_TYPE : SOAP12_CONTENT_TYPE,
    };
    if (this.#version === '1.1') headers.soapaction = `"${action}"`;

    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    let status: number;
    let contentType: string | undefined;
    let raw: Buffer;
    try {
      const res = await request(config.url, { dispatcher: this.#agent, method: 'POST', headers, body: envelope, signal });
      status = res.statusCode;
      const ct = res.headers['content-type'];
      contentType = Array.isArray(ct) ? ct[0] : ct;
      raw = await readLimited(res.body, this.#limits.bodyBytes, config.url);
    } catch (err) {
      if (err instanceof HubError) throw err;
      throw this.#transportError(err, timeout, ctx.signal);
    }
    return this.#classify(message, status, contentType, raw);
  }

  /** The Body payload: XML as it is (checked), JSON built into the operation's element. */
  #payload(message: Message): string {
    const { operation, namespace } = this.#config;
    if (message.isXml) {
      const xml = stripDeclaration(message.text());
      checkXml(xml, { maxDepth: this.#limits.maxDepth });
      return xml;
    }
    if (!message.isJson && message.contentType !== undefined) {
      throw new PermanentError('UNSUPPORTED_MEDIA_TYPE', `the SOAP sink sends XML or JSON bodies, not ${message.contentType}; convert the message first`);
    }
    let content = message.json();
    if (content !== null && typeof content === 'object' && !Array.isArray(content)) {
      const keys = Object.keys(content);
      // `{ "PlaceOrder": {...} }` already names the operation element.
      if (keys.length === 1 && keys[0]!.slice(keys[0]!.indexOf(':') + 1) === operation) content = (content as Record<string, unknown>)[keys[0]!];
    }
    if (Array.isArray(content)) throw new PermanentError('BAD_REQUEST', `a JSON array cannot be the ${operation} request; give its items an element name`);
    const body: Record<string, unknown> = content !== null && typeof content === 'object' ? { ...(content as Record<string, unknown>) } : content === null || content === undefined ? {} : { '#text': content };
    let tree: Record<string, unknown>;
    if (!namespace) tree = { [operation]: body };
    else if ((this.#config.element_form ?? 'qualified') === 'qualified') tree = { [operation]: { '@_xmlns': namespace, ...body } };
    else tree = { [`ns:${operation}`]: { '@_xmlns:ns': namespace, ...body } };
    const xml = buildXml(tree);
    checkXml(xml, { maxDepth: this.#limits.maxDepth + 1 });
    return xml;
  }

  #transportError(err: unknown, timeout: AbortSignal, flowSignal: AbortSignal): HubError {
    const url = this.#config.url;
    if (timeout.aborted) return new RetryableError('TIMEOUT', `${url} did not answer ${this.#config.operation} within ${this.#timeoutMs}ms`, { cause: err });
    if (flowSignal.aborted) {
      const reason: unknown = flowSignal.reason;
      if (reason instanceof HubError) return reason;
      return new RetryableError('TIMEOUT', `the call to ${url} was cancelled: the flow's time for this message ran out or the hub is stopping`, { cause: err });
    }
    const e = err as { code?: string; cause?: { code?: string }; message?: string };
    const code = e.code ?? e.cause?.code;
    if (code && TIMEOUT_CODES.has(code)) return new RetryableError('TIMEOUT', `${url} timed out (${code})`, { cause: err });
    return new RetryableError('DOWNSTREAM_UNAVAILABLE', `cannot reach ${url}: ${e.message ?? String(err)}${code ? ` (${code})` : ''}`, { cause: err, details: { code } });
  }

  #classify(message: Message, status: number, contentType: string | undefined, raw: Buffer): Message | undefined {
    const { url, operation } = this.#config;
    const text = raw.toString('utf8');
    let parsed: ParsedEnvelope | undefined;
    let parseError: Error | undefined;
    if (text.trim()) {
      try {
        parsed = parseEnvelope(text, { maxDepth: this.#limits.maxDepth + 2 });
      } catch (err) {
        parseError = err as Error;
      }
    }
    const fault = parsed && parseFault(parsed);
    if (fault) {
      const details = { faultCode: fault.faultCode, reason: fault.reason, detail: fault.detail, subcodes: fault.subcodes, soapVersion: fault.version, httpStatus: status };
      const what = `${url} answered ${operation} with a SOAP ${fault.faultCode} fault: ${fault.reason}`;
      if (fault.standardCode === 'Receiver') throw new RetryableError('SOAP_FAULT_SERVER', what, { details });
      throw new PermanentError('SOAP_FAULT_CLIENT', what, { details });
    }
    if (status >= 200 && status < 300) {
      if (!text.trim()) return undefined;
      if (!parsed) {
        throw new PermanentError('BAD_REPLY', `${url} answered ${operation} with HTTP ${status} but not a SOAP envelope: ${parseError?.message ?? 'empty'}`, {
          cause: parseError,
          details: { httpStatus: status, contentType },
        });
      }
      const payload = payloadXml(parsed);
      if (payload === undefined) return undefined;
      return new Message({
        body: payload,
        headers: { ...outboundHeaders(message.headers), 'content-type': 'application/xml' },
        meta: { ...message.meta, soapVersion: parsed.version, operation, replyTo: message.id },
      });
    }
    const details = { httpStatus: status, contentType, body: text.slice(0, 500) };
    if (status === 429 || status >= 500) throw new RetryableError('DOWNSTREAM_UNAVAILABLE', `${url} answered ${operation} with HTTP ${status} and no SOAP fault`, { details });
    if (status === 408) throw new RetryableError('TIMEOUT', `${url} answered ${operation} with HTTP 408`, { details });
    throw new PermanentError('DOWNSTREAM_REJECTED', `${url} answered ${operation} with HTTP ${status}`, { details });
  }
}

/** Reads a reply body, refusing more than `limit` bytes (a hostile or broken peer cannot exhaust memory). */
async function readLimited(body: AsyncIterable<Buffer> & { destroy?: (err?: Error) => void }, limit: number, url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy?.();
      throw new PermanentError('BAD_REPLY', `${url} answered with more than ${limit} bytes (limits.body_bytes)`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export const sinkFactory: SinkFactory<SoapSinkConfig> = {
  schema: sinkSchema,
  requestReply: true,
  create: (config, ctx) => new SoapSink(config, ctx),
};

