/**
 * The SOAP sink: calls one operation of a SOAP 1.1 or 1.2 service and resolves with the reply's Body payload.
 *
 * Errors, by what trying again can do: a Server/Receiver fault, 5xx without a fault, 429, a refused or reset
 * connection and a timeout are retryable; a Client/Sender (or VersionMismatch, MustUnderstand) fault, any other 4xx,
 * a message that cannot be encoded and an unreadable reply are permanent.
 */
import { request } from 'undici';
import { buildXml, checkXml } from '../../src/core/codec.js';
import type { AdapterContext, HubLimits, SendContext, Sink, SinkFactory } from '../../src/core/contracts.js';
import { durationOption } from '../../src/core/duration.js';
import { hubError, PermanentError, RetryableError } from '../../src/core/errors.js';
import { Message } from '../../src/core/message.js';
import { MESSAGE_ID_HEADER, outboundHeaders } from '../../src/kit/propagation.js';
import { AttemptTimeouts } from '../../src/kit/attempt-timeouts.js';
import { AgentLease, readLimited, redactUrl, transportError } from '../../src/kit/http-client.js';
import { sinkSchema, type SoapSinkConfig } from './config.js';
import { buildEnvelope, contentTypeFor, parseEnvelope, parseFault, payloadXml, SOAP11_CONTENT_TYPE, SOAP12_CONTENT_TYPE, type ParsedEnvelope, type SoapVersion } from './envelope.js';
import { buildSecurityHeader } from './wsse.js';
import { stripDeclaration } from './xml-tree.js';

export class SoapSink implements Sink {
  readonly #config: SoapSinkConfig;
  readonly #version: SoapVersion;
  readonly #timeoutMs: number;
  readonly #limits: HubLimits;
  /** The config's URL as errors and logs show it: no credentials, no query. */
  readonly #where: string;
  /** This sink's hold on the process-wide keep-alive pool (src/kit/http-client.ts). */
  readonly #pool = new AgentLease();
  /** Every attempt's timeout, connect to last byte, on one timer. */
  readonly #timeouts: AttemptTimeouts;

  constructor(config: SoapSinkConfig, ctx: AdapterContext) {
    this.#config = config;
    this.#version = config.version ?? '1.1';
    this.#limits = ctx.limits;
    this.#timeoutMs = durationOption(config.timeout, '30s', ['timeout'], ctx.report, 1);
    this.#timeouts = new AttemptTimeouts(this.#timeoutMs);
    this.#where = redactUrl(config.url);
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

  async send(message: Message, ctx: SendContext): Promise<Message | undefined> {
    const agent = this.#pool.agent;
    if (!agent) throw hubError('FLOW_STOPPING', 'the SOAP sink is not started');
    const config = this.#config;
    const action = config.soap_action ?? '';
    const security = config.ws_security
      ? buildSecurityHeader({ username: config.ws_security.username, password: config.ws_security.password, passwordType: config.ws_security.password_type ?? 'text' })
      : '';
    const envelope = buildEnvelope(this.#version, this.#payload(message), security);
    const headers: Record<string, string> = {
      ...outboundHeaders(message.headers),
      // The configured headers (an API key, say) win over the message's, which may come from a caller.
      ...Object.fromEntries(Object.entries(config.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
      [MESSAGE_ID_HEADER]: message.id,
      'content-type': contentTypeFor(this.#version, action || undefined),
      accept: this.#version === '1.1' ? SOAP11_CONTENT_TYPE : SOAP12_CONTENT_TYPE,
    };
    if (this.#version === '1.1') headers.soapaction = `"${action}"`;

    let status: number;
    let contentType: string | undefined;
    let raw: Buffer;
    const attempt = this.#timeouts.begin(ctx);
    try {
      const res = await request(config.url, { dispatcher: agent, method: 'POST', headers, body: envelope, signal: attempt.asSignal });
      status = res.statusCode;
      const ct = res.headers['content-type'];
      contentType = Array.isArray(ct) ? ct[0] : ct;
      raw = await readLimited(res.body, this.#limits.bodyBytes, res.headers['content-length']);
    } catch (err) {
      throw transportError(err, { url: config.url, what: `${config.operation} at ${this.#where}`, timeoutMs: this.#timeoutMs, flowSignal: ctx.signal });
    } finally {
      this.#timeouts.end(attempt);
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

  #classify(message: Message, status: number, contentType: string | undefined, raw: Buffer): Message | undefined {
    const { operation } = this.#config;
    const url = this.#where;
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

export const sinkFactory: SinkFactory<SoapSinkConfig> = {
  schema: sinkSchema,
  requestReply: true,
  create: (config, ctx) => new SoapSink(config, ctx),
};

