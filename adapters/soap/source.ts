/**
 * The SOAP source: a SOAP 1.1/1.2 endpoint on the hub's HTTP server.
 *
 * Several flows may serve one path, each taking its own operations: the first source to start on a server registers
 * the path's routes, and every source adds its operations to that path's dispatch table, kept per server instance
 * (a WeakMap keyed by the fastify instance, so tests and flow-mode servers never share state).
 */
import { resolve } from 'node:path';
import { TextDecoder } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isoNow } from '../../src/core/clock.js';
import { newId } from '../../src/core/id.js';
import { buildXml, checkXml } from '../../src/core/codec.js';
import { plainXml } from '../../src/core/xml-fast.js';
import type { AdapterContext, Claim, Source, SourceContext, SourceFactory } from '../../src/core/contracts.js';
import { toMs } from '../../src/core/duration.js';
import { hubError, PermanentError, toHubError, type HubError } from '../../src/core/errors.js';
import { createGuard, refusalHeaders, type Admission, type Guard } from '../../src/kit/gateway/guard.js';
import { httpRouteKey, normalizePath, routePath } from '../../src/kit/http-route.js';
import { Message } from '../../src/core/message.js';
import { inboundHeaders, upstreamId } from '../../src/kit/propagation.js';
import { operationsOf, sourceSchema, type SoapSourceConfig } from './config.js';
import {
  buildEnvelope,
  buildFault,
  contentTypeFor,
  DEFAULT_SOAP12_SENDER_STATUS,
  faultForError,
  faultStatus,
  headersForUs,
  mandatoryHeaders,
  MustUnderstandError,
  parseContentType,
  parseEnvelope,
  payloadXml,
  SOAP12_NS,
  unquoteSoapAction,
  VersionMismatchError,
  versionOfContentType,
  type ParsedEnvelope,
  type SoapVersion,
} from './envelope.js';
import { loadWsdl, rewriteLocations, type WsdlInfo } from './wsdl.js';
import { SecurityError, UsernameTokenVerifier, WSSE_NS } from './wsse.js';
import { escapeXml, stripDeclaration } from './xml-tree.js';

/** Media types a SOAP request may use: the two SOAP bindings, and application/xml from lenient 1.1 clients. */
const ACCEPTED_MEDIA_TYPES = new Set(['text/xml', 'application/soap+xml', 'application/xml']);

// ---------------------------------------------------------------------------------------------------------------
// Per-server dispatch

interface Endpoint {
  path: string;
  sources: Set<SoapSource>;
  /** Operation to the source serving it; 'stopped' once its source stopped (answered as retryable). */
  operations: Map<string, SoapSource | 'stopped'>;
}

const servers = new WeakMap<FastifyInstance, Map<string, Endpoint>>();

function endpointFor(app: FastifyInstance, path: string, logger: SourceContext['logger']): Endpoint {
  let paths = servers.get(app);
  if (!paths) servers.set(app, (paths = new Map()));
  let endpoint = paths.get(path);
  if (!endpoint) {
    endpoint = { path, sources: new Set(), operations: new Map() };
    paths.set(path, endpoint);
    registerRoutes(app, endpoint, logger);
  }
  return endpoint;
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

function send(reply: FastifyReply, answer: Answer): FastifyReply {
  reply.code(answer.status).header('content-type', answer.contentType);
  for (const [k, v] of Object.entries(answer.headers ?? {})) reply.header(k, v);
  return reply.send(answer.body);
}

function faultAnswer(version: SoapVersion, err: HubError, messageId: string | undefined, correlationId: string | undefined, senderStatus: 400 | 500): Answer {
  const fault = faultForError(version, err, messageId);
  return {
    status: faultStatus(version, fault, err, senderStatus),
    contentType: contentTypeFor(version),
    body: buildFault(version, fault),
    headers: { ...refusalHeaders(err), ...(correlationId ? { 'correlation-id': correlationId } : {}) },
  };
}

/** The version to answer in before the envelope is read: the transport's, else a guess from the text. */
function guessVersion(contentTypeVersion: SoapVersion | undefined, text: string | undefined): SoapVersion {
  return contentTypeVersion ?? (text?.includes(SOAP12_NS) ? '1.2' : '1.1');
}

function registerRoutes(app: FastifyInstance, endpoint: Endpoint, logger: SourceContext['logger']): void {
  const onError = (error: Error & { code?: string; statusCode?: number }, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const version = guessVersion(versionOfContentType(parseContentType(request.headers['content-type'])), undefined);
    const err =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? new PermanentError('BODY_TOO_LARGE', `the request body is larger than the ${app.initialConfig.bodyLimit} bytes allowed`)
        : (error.statusCode ?? 500) < 500
          ? new PermanentError('BAD_REQUEST', error.message)
          : toHubError(error);
    if (err.code === 'INTERNAL') logger.error({ err: error, path: endpoint.path }, 'SOAP request failed');
    return send(reply, faultAnswer(version, err, undefined, undefined, senderStatusOf(endpoint)));
  };

  app.route({
    method: 'POST',
    url: endpoint.path,
    errorHandler: onError,
    handler: async (request, reply) => send(reply, await dispatch(endpoint, request, logger)),
  });
  app.route({
    method: 'GET',
    url: endpoint.path,
    errorHandler: onError,
    handler: async (request, reply) => {
      const query = request.url.includes('?') ? new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1)) : undefined;
      const wantsWsdl = query && [...query.keys()].some((k) => k.toLowerCase() === 'wsdl');
      const wsdl = [...endpoint.sources].find((s) => s.wsdl)?.wsdl;
      if (!wantsWsdl || !wsdl) {
        return reply
          .code(404)
          .header('content-type', 'text/plain; charset=utf-8')
          .send(wsdl ? `This is a SOAP endpoint; its WSDL is at ${endpoint.path}?wsdl\n` : 'This SOAP endpoint has no WSDL configured.\n');
      }
      const url = `${publicOrigin(request)}${endpoint.path}`;
      return reply.code(200).header('content-type', 'text/xml; charset=utf-8').send(rewriteLocations(wsdl, url));
    },
  });
}

/** A scheme and a host[:port] fit for a URL; anything else a proxy (or a client) forwarded is not used. */
const URL_SCHEME = /^https?$/;
const URL_HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/**
 * The origin a client used to reach the hub, for the WSDL's soap:address: behind a reverse proxy named in the hub's
 * trust_proxy (fastify's request.protocol and request.host read X-Forwarded-Proto and X-Forwarded-Host only from
 * it), the proxy's public scheme and host, so that a client behind a TLS-terminating proxy calls https://public-name;
 * else the Host the request was sent to (or, from an HTTP/1.0 client without one, the address it came in on).
 */
export function publicOrigin(request: FastifyRequest): string {
  const own = `${request.socket.localAddress?.includes(':') ? `[${request.socket.localAddress}]` : request.socket.localAddress}:${request.socket.localPort}`;
  const host = (request.host || '').trim();
  const protocol = (request.protocol || 'http').trim().toLowerCase();
  return `${URL_SCHEME.test(protocol) ? protocol : 'http'}://${URL_HOST.test(host) ? host : own}`;
}

async function dispatch(endpoint: Endpoint, request: FastifyRequest, logger: SourceContext['logger']): Promise<Answer> {
  const messageId = newId();
  const contentType = parseContentType(request.headers['content-type']);
  const transportVersion = versionOfContentType(contentType);
  let text: string | undefined;
  let parsed: ParsedEnvelope | undefined;
  let served: SoapSource | 'stopped' | undefined;
  try {
    const raw = request.body;
    if (!Buffer.isBuffer(raw) || raw.length === 0) throw new PermanentError('SOAP_BAD_ENVELOPE', 'the request has no body: send a SOAP Envelope');
    if (!contentType || !ACCEPTED_MEDIA_TYPES.has(contentType.mediaType)) {
      throw new PermanentError('UNSUPPORTED_MEDIA_TYPE', `content type "${contentType?.mediaType ?? ''}" is not SOAP: use text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)`);
    }
    text = decode(raw, contentType.params.charset);
    parsed = parseEnvelope(text, { maxDepth: maxDepthOf(endpoint) });
    if (transportVersion && parsed.version !== transportVersion) {
      throw new VersionMismatchError(
        `a SOAP ${parsed.version} Envelope was sent as ${contentType.mediaType}, the SOAP ${transportVersion} content type; SOAP 1.1 uses text/xml, SOAP 1.2 application/soap+xml`,
      );
    }
    const action = unquoteSoapAction(contentType.params.action) ?? unquoteSoapAction(request.headers.soapaction);
    const operation = resolveOperation(endpoint, parsed, action);
    const source = (served = endpoint.operations.get(operation));
    if (source === 'stopped') throw hubError('FLOW_STOPPING', `the flow serving ${operation} is stopping`);
    if (!source) {
      const served = [...endpoint.operations.entries()].filter(([, s]) => s !== 'stopped').map(([op]) => op);
      throw new PermanentError('SOAP_UNKNOWN_OPERATION', `operation ${operation} is not served at ${endpoint.path}; it serves ${served.join(', ') || 'nothing'}`);
    }
    return await source.handle(request, parsed, operation, action, messageId);
  } catch (error) {
    const err = toHubError(error);
    const version = parsed && !(err instanceof VersionMismatchError) ? parsed.version : guessVersion(transportVersion, text);
    if (err.code === 'INTERNAL') logger.error({ err: error, messageId, path: endpoint.path }, 'SOAP request failed');
    else logger.debug({ code: err.code, reason: err.message, messageId, path: endpoint.path }, 'SOAP request refused');
    // Refused before any flow had it: the flow it was for (the only one here, when the operation is not known) keeps it.
    const flowSource = served instanceof SoapSource ? served : endpoint.sources.size === 1 ? endpoint.sources.values().next().value : undefined;
    if (flowSource && err.spec.fault === 'client') await flowSource.refused(request, messageId, err);
    else err.journal = 'not kept';
    return faultAnswer(version, err, messageId, undefined, senderStatusOf(endpoint));
  }
}

/** The SOAP 1.2 Sender fault status of a call no flow took yet: the path's first source's choice. */
function senderStatusOf(endpoint: Endpoint): 400 | 500 {
  return endpoint.sources.values().next().value?.senderStatus ?? DEFAULT_SOAP12_SENDER_STATUS;
}

function maxDepthOf(endpoint: Endpoint): number {
  const first = endpoint.sources.values().next().value;
  // The Envelope and Body add two levels above the payload the limit is meant for.
  return (first?.maxDepth ?? 64) + 2;
}

function decode(raw: Buffer, charset: string | undefined): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? 'utf-8', { fatal: true });
  } catch {
    throw new PermanentError('UNSUPPORTED_MEDIA_TYPE', `charset "${charset}" is not supported; use utf-8`);
  }
  try {
    return decoder.decode(raw);
  } catch {
    throw new PermanentError('BAD_XML', `the body is not valid ${charset ?? 'utf-8'}`);
  }
}

/**
 * The operation a request calls: by its action (a WSDL soapAction matched whole, else the action's last segment
 * after "/", "#" or ":" taken as an operation name), else by the Body payload's element (a WSDL input element, or
 * an operation of that name).
 */
function resolveOperation(endpoint: Endpoint, parsed: ParsedEnvelope, action: string | undefined): string {
  const sources = [...endpoint.sources];
  const known = new Set<string>([...endpoint.operations.keys()]);
  for (const s of sources) for (const op of s.wsdl?.operations.keys() ?? []) known.add(op);
  if (action) {
    for (const s of sources) {
      for (const op of s.wsdl?.operations.values() ?? []) if (op.soapActions.includes(action)) return op.name;
    }
    const last = action.split(/[/#:]/).pop();
    if (last && known.has(last)) return last;
  }
  const payload = parsed.payload;
  if (!payload) throw new PermanentError('SOAP_BAD_ENVELOPE', 'the Body is empty: it must hold the operation\'s request element');
  for (const s of sources) {
    for (const op of s.wsdl?.operations.values() ?? []) {
      if (op.input && op.input.local === payload.local && op.input.ns === payload.ns) return op.name;
    }
  }
  if (known.has(payload.local)) return payload.local;
  throw new PermanentError(
    'SOAP_UNKNOWN_OPERATION',
    `no operation matches ${action ? `SOAPAction "${action}" or ` : ''}the Body element <${payload.name}>; this endpoint serves ${[...endpoint.operations.keys()].join(', ')}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The source

export class SoapSource implements Source {
  readonly config: SoapSourceConfig;
  readonly path: string;
  readonly operations: string[];
  readonly wsdl: WsdlInfo | undefined;
  readonly maxDepth: number;
  /** meta.source of its messages. */
  readonly #source: string;
  /** The HTTP status of this flow's SOAP 1.2 Sender faults (soap12_sender_status). */
  readonly senderStatus: 400 | 500;
  readonly #verifier: UsernameTokenVerifier | undefined;
  readonly #versions: Set<SoapVersion>;
  readonly #inflight = new Set<Promise<unknown>>();
  /** The auth and rate-limit gate; undefined (and not a cost) when the source has neither. */
  readonly #guard: Guard | undefined;
  #ctx: SourceContext | undefined;
  #endpoint: Endpoint | undefined;
  #running = false;

  constructor(config: SoapSourceConfig, ctx: AdapterContext) {
    this.config = config;
    this.path = routePath(config.path);
    this.operations = operationsOf(config);
    this.maxDepth = ctx.limits.maxDepth;
    this.#source = `soap:POST ${this.path}`;
    this.senderStatus = config.soap12_sender_status ?? DEFAULT_SOAP12_SENDER_STATUS;
    this.#versions = new Set(config.versions ?? ['1.1', '1.2']);
    this.#guard = createGuard(config, ctx, `soap:POST ${this.path}`);
    if (config.wsdl) {
      const file = resolve(ctx.baseDir, config.wsdl);
      try {
        this.wsdl = loadWsdl(file);
      } catch (err) {
        ctx.report({ path: ['wsdl'], message: `cannot use WSDL ${file}: ${(err as Error).message}` });
      }
      if (this.wsdl) {
        const key = config.operations ? 'operations' : 'operation';
        this.operations.forEach((op, i) => {
          if (!this.wsdl!.operations.has(op)) {
            ctx.report({
              path: config.operations ? [key, i] : [key],
              message: `operation "${op}" is not in ${config.wsdl}; it has ${[...this.wsdl!.operations.keys()].join(', ')}`,
            });
          }
        });
      }
    }
    const sec = config.ws_security;
    if (sec) {
      let maxAgeMs = 300_000;
      try {
        maxAgeMs = toMs(sec.max_age ?? '5m');
      } catch (err) {
        ctx.report({ path: ['ws_security', 'max_age'], message: (err as Error).message });
      }
      this.#verifier = new UsernameTokenVerifier({
        username: sec.username,
        password: sec.password,
        passwordType: sec.password_type ?? 'any',
        maxAgeMs,
        nonceCacheSize: sec.nonce_cache_size ?? 100_000,
      });
    }
  }

  async start(ctx: SourceContext): Promise<void> {
    this.#ctx = ctx;
    await this.#guard?.start();
    const endpoint = endpointFor(ctx.http, this.path, ctx.logger);
    for (const op of this.operations) {
      const holder = endpoint.operations.get(op);
      // A new version of the same flow (a reload) takes its operations over; the old one finishes what it has.
      if (holder instanceof SoapSource && holder !== this && holder.#ctx?.flow !== ctx.flow) {
        throw new Error(`SOAP operation ${op} on ${this.path} is already served by flow "${holder.#ctx?.flow ?? '?'}"`);
      }
      if (holder instanceof SoapSource && holder !== this) endpoint.sources.delete(holder);
    }
    endpoint.sources.add(this);
    for (const op of this.operations) endpoint.operations.set(op, this);
    this.#endpoint = endpoint;
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    const endpoint = this.#endpoint;
    if (endpoint) {
      for (const op of this.operations) if (endpoint.operations.get(op) === this) endpoint.operations.set(op, 'stopped');
    }
    await Promise.allSettled([...this.#inflight]);
    await this.#guard?.stop();
  }

  ready(): boolean {
    return this.#running;
  }

  /** A request refused before delivery, handed to the flow's journal (SourceContext.refused). */
  async refused(request: FastifyRequest, messageId: string, err: HubError): Promise<void> {
    const refused = this.#ctx?.refused;
    if (!refused) {
      err.journal = 'not kept';
      return;
    }
    const headers = { ...inboundHeaders(request.headers, messageId), 'content-type': String(request.headers['content-type'] ?? '') };
    await refused({ id: messageId, source: `soap:POST ${this.path}`, headers, ...(Buffer.isBuffer(request.body) ? { body: request.body } : {}) }, err);
  }

  /** Handles one call routed to this flow; errors are turned into Faults by the caller. */
  async handle(request: FastifyRequest, parsed: ParsedEnvelope, operation: string, action: string | undefined, messageId: string): Promise<Answer> {
    const ctx = this.#ctx!;
    if (!this.#versions.has(parsed.version)) {
      throw new VersionMismatchError(`SOAP ${parsed.version} is not accepted here; send SOAP ${[...this.#versions].join(' or ')}`);
    }
    const notUnderstood = mandatoryHeaders(parsed).filter((h) => !(this.#verifier && h.ns === WSSE_NS && h.local === 'Security'));
    if (notUnderstood.length) throw new MustUnderstandError(notUnderstood.map((h) => ({ ns: h.ns, local: h.local })));
    if (this.#verifier) {
      try {
        this.#verifier.verify(parsed.text, headersForUs(parsed, WSSE_NS, 'Security'));
      } catch (err) {
        if (err instanceof SecurityError) ctx.logger.warn({ messageId, operation, reason: err.reason }, 'WS-Security check failed');
        throw err;
      }
    }
    let admitted: Admission | undefined;
    if (this.#guard) admitted = await this.#guard.admit(request);
    const body = payloadXml(parsed);
    if (body === undefined) throw new PermanentError('SOAP_BAD_ENVELOPE', 'the Body is empty: it must hold the operation\'s request element');

    const wsdlOp = this.wsdl?.operations.get(operation);
    const soapAction = action ?? wsdlOp?.soapActions[0];
    const headers: Record<string, string> = {
      ...inboundHeaders(request.headers, messageId),
      'content-type': 'application/xml',
      ...(soapAction ? { 'soap-action': soapAction } : {}),
      ...(admitted?.consumer ? { 'x-consumer': admitted.consumer } : {}),
    };
    const message = new Message({
      id: messageId,
      body,
      headers,
      meta: {
        flow: ctx.flow,
        source: this.#source,
        receivedAt: isoNow(),
        attempt: 1,
        soapVersion: parsed.version,
        operation,
        path: this.path,
        upstreamId: upstreamId(request.headers),
        ...(admitted?.consumer ? { consumer: admitted.consumer } : {}),
      },
    });
    const correlationId = headers['correlation-id'];
    const delivery = ctx.deliver(message);
    this.#inflight.add(delivery);
    try {
      const result = await delivery;
      const reply = result.replies[0];
      if (result.replies.length > 1) ctx.logger.debug({ messageId, replies: result.replies.length }, 'SOAP source answers with the first of several replies');
      const payload = reply ? this.#replyPayload(reply, operation) : '';
      return {
        status: 200,
        contentType: contentTypeFor(parsed.version),
        body: buildEnvelope(parsed.version, payload),
        headers: { ...admitted?.headers, ...(correlationId ? { 'correlation-id': correlationId } : {}) },
      };
    } catch (error) {
      const err = toHubError(error);
      if (err.code === 'INTERNAL') ctx.logger.error({ err: error, messageId, operation }, 'SOAP flow failed');
      else ctx.logger.debug({ code: err.code, reason: err.message, messageId, operation }, 'SOAP flow refused the call');
      return faultAnswer(parsed.version, err, messageId, correlationId, this.senderStatus);
    } finally {
      this.#inflight.delete(delivery);
    }
  }

  /**
   * The reply's XML for the Body: XML as it is; JSON built into XML (an object with one key names the element,
   * anything else is wrapped in the operation's response element) in the WSDL's (or `namespace`) namespace.
   */
  #replyPayload(reply: Message, operation: string): string {
    const wsdlOp = this.wsdl?.operations.get(operation);
    const ns = this.config.namespace ?? wsdlOp?.output?.ns ?? this.wsdl?.targetNamespace;
    const wrapper = wsdlOp?.output?.local ?? `${operation}Response`;
    let xml: string;
    if (reply.isXml) {
      xml = stripDeclaration(reply.text());
    } else if (reply.isJson || reply.contentType === undefined) {
      const tree = jsonRoot(reply.json(), wrapper, ns);
      // A value of plain names and text is written directly, as a document sound without scanning it again.
      const plain = plainXml(tree, this.maxDepth + 2);
      if (plain !== undefined) return plain;
      xml = buildXml(tree);
    } else {
      xml = `<${wrapper}${ns ? ` xmlns="${escapeXml(ns)}"` : ''}>${escapeXml(reply.text())}</${wrapper}>`;
    }
    try {
      checkXml(xml, { maxDepth: this.maxDepth + 2 });
    } catch (err) {
      throw new PermanentError('INTERNAL', `the flow's reply is not usable as a SOAP Body: ${(err as Error).message}`, { cause: err });
    }
    return xml;
  }
}

function jsonRoot(value: unknown, wrapper: string, ns: string | undefined): Record<string, unknown> {
  const withNs = (content: unknown): unknown => {
    if (!ns) return content;
    if (content !== null && typeof content === 'object' && !Array.isArray(content)) {
      return '@_xmlns' in content ? content : { '@_xmlns': ns, ...content };
    }
    if (Array.isArray(content)) return { '@_xmlns': ns, item: content };
    return { '@_xmlns': ns, '#text': content };
  };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const only = keys[0];
    if (keys.length === 1 && only && !only.startsWith('@_') && only !== '#text' && !Array.isArray((value as Record<string, unknown>)[only])) {
      const content = (value as Record<string, unknown>)[only];
      return { [only]: only.includes(':') ? content : withNs(content) };
    }
  }
  return { [wrapper]: withNs(Array.isArray(value) ? value : value ?? '') };
}

export const sourceFactory: SourceFactory<SoapSourceConfig> = {
  schema: sourceSchema,
  requestReply: true,
  create: (config, ctx) => new SoapSource(config, ctx),
  claims(config): Claim[] {
    const path = normalizePath(config.path);
    const conflicts = [httpRouteKey('POST', config.path), httpRouteKey('GET', config.path)];
    if (config.operations) return config.operations.map((op, i) => ({ key: `soap POST ${path} ${op}`, path: ['operations', i], conflicts }));
    return operationsOf(config).map((op) => ({ key: `soap POST ${path} ${op}`, path: ['operation'], conflicts }));
  },
};
