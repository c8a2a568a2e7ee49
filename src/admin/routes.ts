/**
 * The admin API's routes on the hub's server, under /admin/api: flows, the journal's messages, dead letters and
 * replay. Every route comes from an entry of OPERATIONS (api-spec.ts) and validates its request with that entry's
 * schemas; every error answer is application/problem+json from the one error table.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { Logger } from 'pino';
import { PROJECT_ROOT } from '../config/paths.js';
import { hubError, type HubError } from '../core/errors.js';
import { fromFastifyError, PROBLEM_CONTENT_TYPE, problemHeaders, toProblem } from '../core/problem.js';
import type { Journal, MessageQuery, MessageStatus } from '../journal/contract.js';
import { bodyBytes } from '../journal/shared.js';
import type { FlowRunner } from '../runtime/flow-runner.js';
import { ADMIN_PREFIX, MESSAGE_STATUSES, OPERATIONS, openApiDocument, type OperationId } from './api-spec.js';
import { fromJournalError, Replayer, requestHash, type BulkReplayRequest, type ReplayOptions } from './replay.js';

export interface AdminApiOptions {
  journal: Journal;
  runners: readonly FlowRunner[];
  /** The bearer token every request must carry; without one, only loopback clients are answered. */
  token: string | undefined;
  logger: Logger;
}

/** Adds the admin API to the hub's server (before it is ready). Logs one warning when no token protects it. */
export function registerAdminApi(app: FastifyInstance, options: AdminApiOptions): void {
  if (!options.token) options.logger.warn('admin API: no admin token is configured (admin.token in hub.yaml, or HUB_ADMIN_TOKEN), so it answers clients on this machine only');
  void app.register((scope: FastifyInstance) => adminRoutes(scope, options), { prefix: ADMIN_PREFIX });
}

type Handlers = Record<OperationId, RouteHandlerMethod>;

interface IdParams {
  id: string;
}

async function adminRoutes(app: FastifyInstance, options: AdminApiOptions): Promise<void> {
  const { journal, runners, logger } = options;
  const replayer = new Replayer(journal, runners, logger.child({ component: 'admin' }));

  // JSON in: any request body is read as JSON (curl -d sends a form content type by default), an empty one as none.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(hubError('BAD_JSON', `the request body is not JSON: ${(err as Error).message}`));
    }
  });
  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler((error: FastifyError, request, reply) => sendProblem(reply, request, fromFastifyError(error), logger));
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, hubError('NOT_FOUND', `no admin API route ${request.method} ${request.url.split('?')[0]}; see ${ADMIN_PREFIX}/openapi.json`), logger));
  app.addHook('onRequest', authorize(options.token));

  let document: Record<string, unknown> | undefined;
  const handlers: Handlers = {
    listFlows: async () => ({
      flows: runners.map((r) => ({
        name: r.name,
        ...(r.def.description ? { description: r.def.description } : {}),
        source: { adapter: r.def.source.adapter, requestReply: r.def.source.requestReply },
        sinks: [...r.def.sinks].map(([name, s]) => ({ name, adapter: s.adapter, requestReply: s.requestReply })),
        steps: r.def.steps.map((s) => s.label),
        journal: { record: r.def.journal.record, bodyBytes: r.def.journal.maxBodyBytes },
        ready: r.ready(),
        stats: { ...r.stats },
      })),
    }),
    listMessages: async (request) => {
      const { status, ...q } = request.query as Omit<MessageQuery, 'status'> & { status?: string[] };
      return journalCall(journal.query({ ...q, ...(status ? { status: statuses(status) } : {}) }));
    },
    getMessage: async (request) => {
      const { id } = request.params as IdParams;
      const record = await journalCall(journal.get(id));
      if (!record) throw noSuchMessage(id);
      return record;
    },
    getMessageBody: async (request, reply) => {
      const { id } = request.params as IdParams;
      const record = await journalCall(journal.get(id));
      if (!record) throw noSuchMessage(id);
      return reply
        .headers({
          'content-type': record.headers['content-type'] ?? 'application/octet-stream',
          // The bytes are whatever a sender sent: never let a browser run or sniff them as a page of this origin.
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; sandbox",
          'x-body-size': String(record.body.size),
          'x-body-sha256': record.body.sha256,
          'x-body-truncated': String(record.body.truncated),
        })
        .send(bodyBytes(record.body));
    },
    deleteMessage: async (request, reply) => {
      const { id } = request.params as IdParams;
      if (!(await journalCall(journal.remove(id)))) throw noSuchMessage(id);
      return reply.code(204).send();
    },
    replayMessage: async (request, reply) => {
      const { id } = request.params as IdParams;
      const body = (request.body ?? {}) as ReplayOptions;
      const key = idempotencyKey(request) ?? `auto:${requestHash({ id, ...body })}`;
      const result = await replayer.replayOne(id, body, key, actor(request));
      return reply.code(result.duplicate || result.outcome === 'delivered' ? 200 : 202).send(result);
    },
    replayMany: async (request) => {
      const body = request.body as BulkReplayRequest & { filter: { status?: string[] } };
      const key = idempotencyKey(request) ?? `auto-bulk:${requestHash(body)}`;
      const filter = { ...body.filter, ...(body.filter.status ? { status: statuses(body.filter.status) } : {}) };
      return replayer.replayMany({ ...body, filter }, key, actor(request));
    },
    listReplays: async (request) => journalCall(journal.listReplays(request.query as { originalId?: string; limit?: number; cursor?: string })),
    listDeadLetters: async (request) => ({ groups: await journalCall(journal.deadLetterGroups(request.query as { flow?: string })) }),
    getOpenApi: async () => (document ??= openApiDocument(version())),
  };

  for (const op of OPERATIONS) {
    app.route({
      method: op.method,
      url: op.path,
      schema: { ...(op.params ? { params: op.params } : {}), ...(op.querystring ? { querystring: op.querystring } : {}), ...(op.body ? { body: op.body } : {}) },
      handler: handlers[op.operationId],
    });
  }
}

function version(): string {
  return (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

async function journalCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw fromJournalError(err);
  }
}

function noSuchMessage(id: string): HubError {
  return hubError('NOT_FOUND', `no such message: ${id} (never recorded under its flow's journal policy, or removed)`);
}

/** Statuses given repeated or comma-separated, each checked. */
function statuses(values: string[]): MessageStatus[] {
  const out = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = out.filter((s) => !(MESSAGE_STATUSES as readonly string[]).includes(s));
  if (unknown.length) throw hubError('BAD_REQUEST', `unknown status ${unknown.map((s) => `"${s}"`).join(', ')}; statuses are ${MESSAGE_STATUSES.join(', ')}`);
  return out as MessageStatus[];
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
}

function idempotencyKey(request: FastifyRequest): string | undefined {
  const key = headerValue(request, 'idempotency-key');
  if (key !== undefined && (key.length > 200 || /[\u0000-\u001f]/.test(key))) throw hubError('BAD_REQUEST', 'Idempotency-Key must be at most 200 printable characters');
  return key;
}

/** Who asks, for the audit: the X-Hub-Actor header (the caller's word until the admin API has logins), else "api". */
function actor(request: FastifyRequest): string {
  return headerValue(request, 'x-hub-actor')?.replace(/[\u0000-\u001f]/g, '').slice(0, 200) || 'api';
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function authorize(token: string | undefined): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  // Hashes have one length, so the comparison takes the same time whatever was sent.
  const expected = token ? sha256(token) : undefined;
  return async (request, reply) => {
    if (expected) {
      const given = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(request, 'authorization') ?? '')?.[1];
      if (given !== undefined && timingSafeEqual(sha256(given), expected)) return;
      reply.header('www-authenticate', 'Bearer realm="hub-admin"');
      throw hubError('UNAUTHORIZED', given === undefined ? 'the admin API needs Authorization: Bearer <token>' : 'the admin token does not match');
    }
    // The socket's own peer, never a forwarded-for header a client could write.
    if (!LOOPBACK.test(request.socket.remoteAddress ?? '')) {
      throw hubError('FORBIDDEN', `no admin token is configured, so the admin API answers clients on the hub's machine only (this one is ${request.socket.remoteAddress ?? 'unknown'}); set admin.token or HUB_ADMIN_TOKEN`);
    }
  };
}

/** Ajv for the admin requests: query strings and paths coerced from text (a repeated parameter becomes an array), bodies as sent; every problem at once, unknown keys refused. */
function validatorCompiler(): (route: { schema: object; httpPart?: string }) => (data: unknown) => boolean | { error?: Error; value?: unknown } {
  const make = (coerce: boolean): Ajv2020 => {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, useDefaults: true, coerceTypes: coerce ? 'array' : false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    return ajv;
  };
  const text = make(true);
  const json = make(false);
  return ({ schema, httpPart }) => {
    const validate = (httpPart === 'body' ? json : text).compile(schema);
    return (data: unknown) => {
      // A POST without a body is an empty object: every option has its default.
      const value = httpPart === 'body' && (data === undefined || data === null) ? {} : data;
      if (validate(value)) return { value };
      return { error: validationError(httpPart ?? 'request', validate.errors ?? []) };
    };
  };
}

function validationError(part: string, errors: ErrorObject[]): HubError {
  const where = part === 'querystring' ? 'query' : part;
  const list = errors.map((e) => {
    const path = `${where}${e.instancePath.replace(/\//g, '.')}`;
    if (e.keyword === 'additionalProperties') return { path, message: `unknown ${part === 'body' ? 'key' : 'parameter'} "${String(e.params.additionalProperty)}"` };
    if (e.keyword === 'enum') return { path, message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    return { path, message: e.message ?? 'is not valid' };
  });
  return hubError('BAD_REQUEST', list.map((e) => `${e.path}: ${e.message}`).join('; '), { details: { errors: list } });
}

function sendProblem(reply: FastifyReply, request: FastifyRequest, err: HubError, logger: Logger): FastifyReply {
  const messageId = (request.params as Partial<IdParams> | undefined)?.id;
  const problem = toProblem(err, { ...(messageId ? { messageId } : {}), instance: request.url.split('?')[0]! });
  // Operators see the whole reason, also of server-side failures: it is theirs to act on (the journal shows them anyway).
  problem.detail = err.message;
  if (problem.status >= 500) logger.error({ err: err.cause ?? err, code: err.code, url: request.url }, `admin API: ${err.message}`);
  return reply
    .code(problem.status)
    .headers({ ...problemHeaders(err), 'content-type': PROBLEM_CONTENT_TYPE })
    .send(Buffer.from(JSON.stringify(problem), 'utf8'));
}
