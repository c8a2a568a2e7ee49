import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isoNow } from '../../src/core/clock.js';
import { newId } from '../../src/core/id.js';
import { FORBIDDEN_KEYS, checkXml, parseJson } from '../../src/core/codec.js';
import type { AdapterContext, Claim, HubLimits, Source, SourceContext, SourceFactory } from '../../src/core/contracts.js';
import { hubError, toHubError, type HubError } from '../../src/core/errors.js';
import { isJsonType, isXmlType, Message } from '../../src/core/message.js';
import { createGuard, refusalHeaders, type Admission, type Guard } from '../../src/kit/gateway/guard.js';
import { httpRouteKey } from '../../src/kit/http-route.js';
import { fromFastifyError, PROBLEM_CONTENT_TYPE, problemHeaders, toProblem } from '../../src/kit/problem.js';
import { inboundHeaders, upstreamId } from '../../src/kit/propagation.js';
import { sourceSchema, type BodyFormat, type HttpMethod, type RestSourceConfig } from './config.js';

const ALL_FORMATS: BodyFormat[] = ['json', 'xml', 'text'];
const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

interface Incoming {
  id: string;
  correlationId: string;
  /** The propagated headers (inboundHeaders), made once per request. */
  headers: Record<string, string>;
  /** Handed to the flow: an error after that is the flow's (journalled by it), one before is a refusal of the input. */
  delivered: boolean;
}

/**
 * One HTTP route feeding a flow. Each request becomes one message; the answer is sent only once the flow settled
 * it (every sink confirmed or parked), so a 2xx means the hub has taken responsibility for the message.
 */
export class RestSource implements Source {
  readonly #method: HttpMethod;
  readonly #path: string;
  readonly #accept: ReadonlySet<BodyFormat>;
  readonly #status: number;
  readonly #keepHeaders: readonly string[];
  readonly #endpoint: string;
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Ids given to requests as they arrive, so that even an error raised before the handler has one. */
  readonly #ids = new WeakMap<FastifyRequest, Incoming>();
  /** The auth and rate-limit gate; undefined (and not a cost) when the source has neither. */
  readonly #guard: Guard | undefined;
  #ctx: SourceContext | undefined;
  #running = false;

  constructor(config: RestSourceConfig, ctx?: AdapterContext) {
    this.#method = config.method ?? 'POST';
    this.#path = config.path;
    this.#accept = new Set(config.accept ?? ALL_FORMATS);
    this.#status = config.status ?? 200;
    this.#endpoint = `rest:${this.#method} ${this.#path}`;
    this.#guard = ctx && createGuard(config, ctx, this.#endpoint);
    // A credential never reaches a message, even when a header that carries one is named to keep.
    this.#keepHeaders = (config.headers ?? []).map((h) => h.toLowerCase()).filter((h) => !this.#guard?.credentialHeaders.has(h));
  }

  get endpoint(): string {
    return this.#endpoint;
  }

  async start(ctx: SourceContext): Promise<void> {
    this.#ctx = ctx;
    await this.#guard?.start();
    const http: FastifyInstance = ctx.http;
    try {
      http.route({
        method: this.#method,
        url: this.#path,
        handler: (request, reply) => this.#handle(request, reply, ctx),
        // Route-level: the server is shared with SOAP and admin routes, so nothing here may change their answers.
        errorHandler: (error, request, reply) => this.#fail(error, request, reply),
      });
    } catch (err) {
      throw new Error(`rest source of flow "${ctx.flow}" cannot add ${this.#method} ${this.#path}: ${(err as Error).message}`, { cause: err });
    }
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.allSettled([...this.#inFlight]);
    await this.#guard?.stop();
  }

  ready(): boolean {
    return this.#running;
  }

  /** The request's id and propagated headers, made on first use: by the handler, or by the error handler when fastify refused the request before it. */
  #incoming(request: FastifyRequest): Incoming {
    let incoming = this.#ids.get(request);
    if (!incoming) {
      const id = newId();
      const headers = inboundHeaders(request.headers, id);
      incoming = { id, correlationId: headers['correlation-id']!, headers, delivered: false };
      this.#ids.set(request, incoming);
    }
    return incoming;
  }

  async #handle(request: FastifyRequest, reply: FastifyReply, ctx: SourceContext): Promise<FastifyReply> {
    const incoming = this.#incoming(request);
    if (!this.#running) throw hubError('FLOW_STOPPING', 'the flow is stopping and takes no new requests');
    let admitted: Admission | undefined;
    if (this.#guard) reply.headers((admitted = await this.#guard.admit(request)).headers);
    const message = this.#toMessage(request, incoming, ctx, admitted);
    incoming.delivered = true;
    const delivery = ctx.deliver(message);
    this.#inFlight.add(delivery);
    try {
      const { replies } = await delivery;
      return this.#answer(reply, incoming, replies);
    } finally {
      this.#inFlight.delete(delivery);
    }
  }

  #toMessage(request: FastifyRequest, incoming: Incoming, ctx: SourceContext, admitted?: Admission): Message {
    const id = incoming.id;
    const params = plainRecord(request.params, 'path parameter');
    const query = plainRecord(request.query, 'query parameter');
    if (admitted && this.#guard!.credentialQuery) delete query[this.#guard!.credentialQuery];
    const url = request.url;
    const q = url.indexOf('?');
    const meta = {
      flow: ctx.flow,
      source: this.endpoint,
      receivedAt: isoNow(),
      attempt: 1,
      method: request.method,
      path: q === -1 ? url : url.slice(0, q),
      params,
      query,
      upstreamId: upstreamId(request.headers),
      ...(admitted?.consumer ? { consumer: admitted.consumer } : {}),
    };
    // The message's own copy: a request failed after this (in the flow) still answers with the headers as received.
    const headers = { ...incoming.headers };
    for (const name of this.#keepHeaders) {
      const v = request.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    if (admitted?.consumer) headers['x-consumer'] = admitted.consumer;
    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    if (!body || body.length === 0) {
      headers['content-type'] = 'application/json';
      return new Message({ id, value: { params, query }, headers, meta, owned: true });
    }
    const contentType = request.headers['content-type']?.trim();
    const format = this.#format(contentType);
    headers['content-type'] = contentType!;
    if (format === 'json') {
      const value = parseJson(body, limitsOf(ctx.limits));
      return new Message({ id, body, value, headers, meta, owned: true });
    }
    const text = body.toString('utf8');
    if (format === 'xml') {
      const declared = /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']/i.exec(text.slice(0, 200))?.[1];
      if (declared && !UTF8_CHARSETS.has(declared.toLowerCase())) throw hubError('UNSUPPORTED_MEDIA_TYPE', `XML encoded as ${declared} is not accepted; send UTF-8`);
      checkXml(text, limitsOf(ctx.limits));
    }
    return new Message({ id, body, headers, meta, owned: true });
  }

  /** Which accepted format a content type is; anything else is a 415. The last answer is kept: callers repeat theirs. */
  #format(contentType: string | undefined): BodyFormat {
    if (contentType !== undefined && contentType === this.#lastType) return this.#lastFormat!;
    const format = this.#formatOf(contentType);
    this.#lastType = contentType;
    this.#lastFormat = format;
    return format;
  }

  #lastType: string | undefined;
  #lastFormat: BodyFormat | undefined;

  #formatOf(contentType: string | undefined): BodyFormat {
    const accepted = [...this.#accept].join(', ');
    if (!contentType) throw hubError('UNSUPPORTED_MEDIA_TYPE', `a request body needs a Content-Type; this endpoint accepts ${accepted}`);
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
    if (charset && !UTF8_CHARSETS.has(charset.toLowerCase())) throw hubError('UNSUPPORTED_MEDIA_TYPE', `charset ${charset} is not accepted; send UTF-8`);
    const format: BodyFormat | undefined = isJsonType(contentType) ? 'json' : isXmlType(contentType) ? 'xml' : /^text\/plain\s*(;|$)/i.test(contentType) ? 'text' : undefined;
    if (!format || !this.#accept.has(format)) {
      throw hubError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${contentType.split(';')[0]} is not accepted here; this endpoint accepts ${accepted}`, { details: { accepted: [...this.#accept] } });
    }
    return format;
  }

  #answer(reply: FastifyReply, incoming: Incoming, replies: Message[]): FastifyReply {
    const first = replies[0];
    reply.header('x-message-id', incoming.id);
    reply.header('x-correlation-id', first?.headers['correlation-id'] ?? incoming.correlationId);
    if (!first) return reply.code(204).send();
    const flowStatus = first.meta.status;
    const status = typeof flowStatus === 'number' && Number.isInteger(flowStatus) && flowStatus >= 200 && flowStatus <= 299 ? flowStatus : this.#status;
    reply.code(status);
    if (status === 204 || status === 205) return reply.send();
    if (replies.length === 1) {
      return reply.header('content-type', first.contentType ?? 'application/octet-stream').send(first.body);
    }
    let bodies: unknown[];
    try {
      bodies = replies.map((r) => (r.isJson ? r.json() : r.text()));
    } catch (err) {
      // The flow built these replies; a caller's 400 would blame the wrong party.
      throw hubError('INTERNAL', `a reply of the flow is not readable JSON: ${(err as Error).message}`, { cause: err });
    }
    return reply.header('content-type', 'application/json; charset=utf-8').send(Buffer.from(JSON.stringify(bodies), 'utf8'));
  }

  /** Hands a request refused before delivery to the flow's journal (SourceContext.refused); a server-side refusal is not kept. */
  async #refused(request: FastifyRequest, incoming: Incoming, err: HubError): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx?.refused || err.spec.fault !== 'client') {
      err.journal = 'not kept';
      return;
    }
    const headers: Record<string, string> = { ...incoming.headers };
    const type = request.headers['content-type'];
    if (type) headers['content-type'] = type;
    await ctx.refused({ id: incoming.id, source: this.endpoint, headers, ...(Buffer.isBuffer(request.body) ? { body: request.body } : {}) }, err);
  }

  async #fail(error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      const incoming = this.#incoming(request);
      const err = fromFastifyError(error);
      // Refused before the flow had it (bad input): the flow journals it under its policy, and the answer says whether.
      if (!incoming.delivered) await this.#refused(request, incoming, err);
      if (err.code === 'INTERNAL') this.#ctx?.logger.error({ err: error, messageId: incoming.id }, `rest ${this.#method} ${this.#path}: ${error.message}`);
      else this.#ctx?.logger.debug({ messageId: incoming.id, code: err.code }, `rest ${this.#method} ${this.#path}: ${err.message}`);
      const url = request.url;
      const q = url.indexOf('?');
      const problem = toProblem(err, { messageId: incoming.id, instance: q === -1 ? url : url.slice(0, q) });
      reply
        .code(problem.status)
        .headers({ ...problemHeaders(err), ...refusalHeaders(err), 'x-message-id': incoming.id, 'x-correlation-id': incoming.correlationId, 'content-type': PROBLEM_CONTENT_TYPE })
        .send(Buffer.from(JSON.stringify(problem), 'utf8'));
    } catch (err) {
      // Last resort: never leave a request hanging or crash the server because formatting the answer failed.
      this.#ctx?.logger.error({ err }, 'rest source could not answer with a problem');
      if (!reply.sent) reply.code(500).header('content-type', PROBLEM_CONTENT_TYPE).send('{"type":"urn:integration-hub:error:INTERNAL","title":"Internal error","status":500,"code":"INTERNAL"}');
    }
  }
}

function limitsOf(limits: HubLimits): { maxDepth: number } {
  return { maxDepth: limits.maxDepth };
}

/** A copy of fastify's params or query as a plain object, refusing prototype-polluting names. */
function plainRecord(value: unknown, what: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!value || typeof value !== 'object') return out;
  for (const [k, v] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(k)) throw hubError('FORBIDDEN_KEY', `${what} "${k}" is refused (prototype pollution guard)`);
    out[k] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return out;
}

export const sourceFactory: SourceFactory<RestSourceConfig> = {
  schema: sourceSchema,
  requestReply: true,
  create: (config, ctx) => new RestSource(config, ctx),
  claims: (config): Claim[] => [{ key: httpRouteKey(config.method ?? 'POST', config.path), path: ['path'] }],
};
