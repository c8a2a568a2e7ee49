/**
 * The admin API as data: every operation with its path, parameters, request body and responses, in JSON Schema
 * (2020-12, as OpenAPI 3.1 uses it). routes.ts registers one route per entry and validates requests with these very
 * schemas; `openApiDocument()` turns the same entries into GET /admin/api/openapi.json. So the document and the
 * behaviour cannot drift apart.
 */
import type { JsonSchema } from '../core/contracts.js';

export const ADMIN_PREFIX = '/admin/api';

export const MESSAGE_STATUSES = ['received', 'delivered', 'failed', 'waiting-for-retry', 'dead', 'resolved', 'archived'] as const;

/** Most messages one bulk replay takes on. */
export const BULK_MAX = 10_000;
export const BULK_DEFAULT = 1_000;

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const iso = (description: string): JsonSchema => ({ type: 'string', format: 'date-time', description });
const text = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', minLength: 1, maxLength: 1000, description, ...extra });

/** Shared shapes of the answers: `components.schemas` of the document. */
export const COMPONENTS: Record<string, JsonSchema> = {
  Problem: {
    type: 'object',
    description: 'An RFC 9457 problem: every error answer of the admin API (application/problem+json).',
    required: ['type', 'title', 'status', 'detail', 'code'],
    properties: {
      type: { type: 'string', description: 'urn:integration-hub:error:<code>' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string', description: 'What is wrong and what to do about it.' },
      instance: { type: 'string' },
      code: { type: 'string', description: 'The code from the hub\'s error table (src/core/errors.ts).' },
      messageId: { type: 'string', description: 'The message the problem is about, when it is about one.' },
      errors: { type: 'array', description: 'Each problem found in the request (schema errors of an edited body, bad parameters).', items: { type: 'object', required: ['message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
    },
  },
  MessageStatus: { enum: [...MESSAGE_STATUSES], description: 'Where a message stands: the status its latest status-setting event gave it.' },
  ErrorInfo: {
    type: 'object',
    required: ['code', 'message'],
    properties: { code: { type: 'string' }, message: { type: 'string' }, step: { type: 'string', description: 'Where it arose: "2:validate" (step index and kind), "sink:orders", "reply".' } },
  },
  MessageSummary: {
    type: 'object',
    required: ['id', 'flow', 'source', 'receivedAt', 'updatedAt', 'status', 'attempts'],
    properties: {
      id: { type: 'string' },
      correlationId: { type: 'string' },
      flow: { type: 'string' },
      source: { type: 'string', description: 'The source endpoint, e.g. "amqp:orders.eu".' },
      receivedAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      status: ref('MessageStatus'),
      attempts: { type: 'integer', minimum: 0 },
      lastError: ref('ErrorInfo'),
      replayOf: { type: 'string', description: 'For a replay: the original message\'s id.' },
    },
  },
  StoredBody: {
    type: 'object',
    description: 'The body as the journal holds it: UTF-8 text, or base64 when it is not valid UTF-8. `size` and `sha256` describe the whole body even when only its start is stored (`truncated`). GET /messages/{id}/body serves the bytes.',
    required: ['encoding', 'data', 'size', 'truncated', 'sha256'],
    properties: { encoding: { enum: ['utf8', 'base64'] }, data: { type: 'string' }, size: { type: 'integer', minimum: 0 }, truncated: { type: 'boolean' }, sha256: { type: 'string' } },
  },
  TimelineEvent: {
    type: 'object',
    required: ['type', 'at'],
    properties: {
      type: { enum: ['received', 'step', 'delivered', 'failed', 'waiting-for-retry', 'dead', 'replayed', 'resolved', 'archived'] },
      at: { type: 'string', format: 'date-time' },
      attempt: { type: 'integer' },
      step: { type: 'string' },
      error: ref('ErrorInfo'),
      dueAt: { type: 'string', format: 'date-time' },
      detail: { type: 'string' },
    },
  },
  MessageRecord: {
    allOf: [
      ref('MessageSummary'),
      {
        type: 'object',
        required: ['headers', 'body', 'timeline', 'replayedAs'],
        properties: {
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          body: ref('StoredBody'),
          timeline: { type: 'array', items: ref('TimelineEvent'), description: 'Oldest first.' },
          replayedAs: { type: 'array', items: { type: 'string' }, description: 'Ids of the replays made from this message, oldest first.' },
        },
      },
    ],
  },
  MessagePage: {
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: ref('MessageSummary') }, next: { type: 'string', description: 'Pass as `cursor` for the next page; absent on the last.' } },
  },
  DeadLetterGroup: {
    type: 'object',
    required: ['flow', 'step', 'code', 'count', 'firstSeen', 'lastSeen'],
    properties: { flow: { type: 'string' }, step: { type: 'string' }, code: { type: 'string' }, count: { type: 'integer' }, firstSeen: { type: 'string', format: 'date-time' }, lastSeen: { type: 'string', format: 'date-time' } },
  },
  ReplayTarget: {
    type: 'object',
    required: ['to'],
    properties: { to: { enum: ['start', 'failed-step'] }, step: { type: 'string', description: 'The failed step it resumed at.' }, sink: { type: 'string' } },
  },
  ReplayRecord: {
    type: 'object',
    description: 'The audit entry of one replay.',
    required: ['requestKey', 'originalId', 'newId', 'flow', 'by', 'at', 'target', 'edited', 'bodyHashBefore', 'bodyHashAfter'],
    properties: {
      requestKey: { type: 'string', description: 'The idempotency key it was booked under.' },
      originalId: { type: 'string' },
      newId: { type: 'string' },
      flow: { type: 'string' },
      by: { type: 'string', description: 'Who asked: the X-Hub-Actor header, else "api".' },
      at: { type: 'string', format: 'date-time' },
      target: ref('ReplayTarget'),
      edited: { type: 'boolean' },
      bodyHashBefore: { type: 'string', description: 'sha256 (hex) of the original body.' },
      bodyHashAfter: { type: 'string', description: 'sha256 (hex) of the body replayed.' },
      note: { type: 'string' },
    },
  },
  ReplayPage: {
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: ref('ReplayRecord') }, next: { type: 'string' } },
  },
  ReplayOutcome: { enum: ['delivered', 'waiting-for-retry', 'dead'], description: 'What became of the replayed message: delivered, or parked in the journal.' },
  ReplayResult: {
    type: 'object',
    required: ['replay', 'newId', 'duplicate'],
    properties: {
      replay: ref('ReplayRecord'),
      newId: { type: 'string' },
      duplicate: { type: 'boolean', description: 'True when this idempotency key was booked before: nothing was sent, `replay` is the earlier replay.' },
      outcome: ref('ReplayOutcome'),
      error: ref('ErrorInfo'),
    },
  },
  BulkReplayResult: {
    type: 'object',
    required: ['matched', 'replayed', 'duplicates', 'failed', 'outcomes', 'capped'],
    properties: {
      matched: { type: 'integer', description: 'Messages the filter matched (at most `max`).' },
      capped: { type: 'boolean', description: 'True when more messages matched than `max`: run it again for the rest.' },
      replayed: { type: 'integer', description: 'Replays booked and sent by this request.' },
      duplicates: { type: 'integer', description: 'Replays booked under this request\'s key before: not sent again.' },
      outcomes: { type: 'object', properties: { delivered: { type: 'integer' }, 'waiting-for-retry': { type: 'integer' }, dead: { type: 'integer' } }, required: ['delivered', 'waiting-for-retry', 'dead'] },
      failed: { type: 'array', items: { type: 'object', required: ['id', 'reason'], properties: { id: { type: 'string' }, reason: { type: 'string' } } } },
    },
  },
  FlowInfo: {
    type: 'object',
    required: ['name', 'source', 'sinks', 'steps', 'journal', 'ready', 'stats'],
    properties: {
      name: { type: 'string' },
      description: { type: 'string' },
      source: { type: 'object', required: ['adapter', 'requestReply'], properties: { adapter: { type: 'string' }, requestReply: { type: 'boolean' } } },
      sinks: { type: 'array', items: { type: 'object', required: ['name', 'adapter', 'requestReply'], properties: { name: { type: 'string' }, adapter: { type: 'string' }, requestReply: { type: 'boolean' } } } },
      steps: { type: 'array', items: { type: 'string' }, description: 'Step labels ("0:validate", ...): the N of a failed step "N:kind" is where a failed-step replay resumes.' },
      journal: { type: 'object', required: ['record', 'bodyBytes'], properties: { record: { enum: ['all', 'failures', 'none'] }, bodyBytes: { type: 'integer' } } },
      ready: { type: 'boolean' },
      stats: {
        type: 'object',
        required: ['received', 'completed', 'failed', 'inFlight', 'waiting', 'dead', 'retried'],
        properties: {
          received: { type: 'integer' },
          completed: { type: 'integer' },
          failed: { type: 'integer' },
          inFlight: { type: 'integer' },
          waiting: { type: 'integer' },
          dead: { type: 'integer' },
          retried: { type: 'integer' },
          lastError: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, step: { type: 'string' }, at: { type: 'string' }, messageId: { type: 'string' } } },
        },
      },
    },
  },
};

const messageFilter = {
  flow: text('Only this flow.'),
  status: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 20, description: `Only these statuses (${MESSAGE_STATUSES.join(', ')}): repeat the parameter or separate by commas.` },
  from: iso('Received at or after this time.'),
  to: iso('Received before this time.'),
  errorCode: text('The last error\'s code, e.g. DOWNSTREAM_UNAVAILABLE.'),
  errorStep: text('The last error\'s step, e.g. "2:to".'),
  errorText: text('A case-insensitive part of the last error\'s message.'),
} satisfies Record<string, JsonSchema>;

const replayOptions = {
  to: { enum: ['start', 'failed-step'], default: 'start', description: 'Run from the flow\'s start, or resume at the step that failed (its lastError.step "N:kind"; from the start when the message has none).' },
  sink: text('Skip the steps and send the message straight to this sink of the flow (not with to: failed-step).'),
} satisfies Record<string, JsonSchema>;

const idParam: JsonSchema = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 512, description: 'A message id.' } } };

const header = (name: string, description: string): { name: string; schema: JsonSchema; description: string } => ({ name, schema: { type: 'string', minLength: 1, maxLength: 200 }, description });
const ACTOR = header('X-Hub-Actor', 'Who is asking, recorded in the replay audit (default "api"). Until the admin API has logins, it is the caller\'s word.');
const IDEMPOTENCY_KEY = header('Idempotency-Key', 'A key per intended replay: the same key submitted again sends nothing and answers with the earlier replay. Without it, a hash of the request is the key, so the same request twice replays once.');

export interface ResponseSpec {
  description: string;
  /** A schema of an application/json answer; a media-type map for anything else. */
  schema?: JsonSchema;
  content?: Record<string, { schema: JsonSchema }>;
}

export type OperationId = 'listFlows' | 'listMessages' | 'getMessage' | 'getMessageBody' | 'deleteMessage' | 'replayMessage' | 'replayMany' | 'listReplays' | 'listDeadLetters' | 'getOpenApi';

export interface OperationSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path under ADMIN_PREFIX, fastify style (`/messages/:id`). */
  path: string;
  operationId: OperationId;
  summary: string;
  description?: string;
  params?: JsonSchema;
  querystring?: JsonSchema;
  headers?: { name: string; schema: JsonSchema; description: string }[];
  body?: JsonSchema;
  responses: Record<number, ResponseSpec>;
}

const problem = (description: string): ResponseSpec => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const COMMON_PROBLEMS: Record<number, ResponseSpec> = {
  401: problem('An admin token is configured and the request does not carry it.'),
  403: problem('No admin token is configured and the client is not on the hub\'s machine.'),
  503: problem('The journal cannot be reached.'),
};

export const OPERATIONS: OperationSpec[] = [
  {
    method: 'GET',
    path: '/flows',
    operationId: 'listFlows',
    summary: 'The flows this hub runs',
    description: 'Each flow with its source adapter, sinks, steps, journal policy, readiness and counters since start.',
    responses: { 200: { description: 'The flows.', schema: { type: 'object', required: ['flows'], properties: { flows: { type: 'array', items: ref('FlowInfo') } } } } },
  },
  {
    method: 'GET',
    path: '/messages',
    operationId: 'listMessages',
    summary: 'Search the journal',
    description: 'Messages matching every given criterion, newest first, a page at a time. A page may hold fewer than `limit` and still have a `next`.',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...messageFilter,
        correlationId: text('Only messages with this correlation id.'),
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 50, description: 'Page size.' },
        cursor: { type: 'string', minLength: 1, maxLength: 2000, description: 'The `next` of the previous page.' },
      },
    },
    responses: { 200: { description: 'One page.', schema: ref('MessagePage') }, 400: problem('A parameter is not valid.') },
  },
  {
    method: 'GET',
    path: '/messages/:id',
    operationId: 'getMessage',
    summary: 'One message with its stored body, headers and timeline',
    params: idParam,
    responses: { 200: { description: 'The message.', schema: ref('MessageRecord') }, 404: problem('No such message (never recorded under its flow\'s journal policy, or removed).') },
  },
  {
    method: 'GET',
    path: '/messages/:id/body',
    operationId: 'getMessageBody',
    summary: 'The stored body as raw bytes',
    description: 'Served with the message\'s own content type (base64-stored bodies decoded). Headers: x-body-size (the whole body\'s size), x-body-sha256, x-body-truncated (true when only the start is stored).',
    params: idParam,
    responses: { 200: { description: 'The bytes.', content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } }, 404: problem('No such message.') },
  },
  {
    method: 'DELETE',
    path: '/messages/:id',
    operationId: 'deleteMessage',
    summary: 'Remove a message\'s record (and any retry waiting for it)',
    description: 'Replays that refer to it keep their audit entries.',
    params: idParam,
    responses: { 204: { description: 'Removed.' }, 404: problem('No such message.') },
  },
  {
    method: 'POST',
    path: '/messages/:id/replay',
    operationId: 'replayMessage',
    summary: 'Replay one message',
    description:
      'Books the replay in the journal (the audit entry, and the idempotency check), then runs a copy with a new id and `replayOf` through its flow: from the start, from the failed step, or straight to one sink. An edited body replaces the stored one; it must pass the flow\'s input schema (for a replay to a sink: be well-formed). The original becomes `resolved`. 200 when the replay was delivered, 202 when it was parked again (waiting for a retry, or dead: see `outcome`), 200 with `duplicate: true` when the key was booked before.',
    params: idParam,
    headers: [IDEMPOTENCY_KEY, ACTOR],
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...replayOptions,
        body: { type: 'string', maxLength: 64 * 1024 * 1024, description: 'An edited body to replay instead of the stored one (needed when the stored one is truncated).' },
        bodyEncoding: { enum: ['utf8', 'base64'], default: 'utf8', description: 'How `body` is written: text, or base64 for bytes that are not UTF-8.' },
        contentType: text('The content type of the replayed message (default: the original\'s).'),
        note: text('Why: kept in the audit.'),
      },
    },
    responses: {
      200: { description: 'Delivered, or a duplicate (nothing sent).', schema: ref('ReplayResult') },
      202: { description: 'Replayed and parked again (see `outcome`).', schema: ref('ReplayResult') },
      400: problem('A bad request: unknown sink, sink with failed-step, bad base64.'),
      404: problem('No such message.'),
      409: problem('The stored body is truncated and no edited body was given; the message\'s flow does not run in this hub; or the Idempotency-Key was used for another message.'),
      422: problem('The edited body does not pass the flow\'s input schema (`errors` lists why). Nothing was sent.'),
    },
  },
  {
    method: 'POST',
    path: '/replays',
    operationId: 'replayMany',
    summary: 'Replay every message a filter matches',
    description: 'Each match is replayed as by POST /messages/{id}/replay, a few at a time, each under its own key (the request\'s key and the message id), so submitting the same request again replays nothing twice.',
    headers: [IDEMPOTENCY_KEY, ACTOR],
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['filter'],
      properties: {
        filter: { type: 'object', additionalProperties: false, properties: { ...messageFilter, status: { ...messageFilter.status, description: 'Only these statuses (default: dead).' } } },
        ...replayOptions,
        sink: text('Send each straight to this sink (needs filter.flow).'),
        max: { type: 'integer', minimum: 1, maximum: BULK_MAX, default: BULK_DEFAULT, description: 'Most messages replayed by this request.' },
        note: text('Why: kept in each audit entry.'),
      },
    },
    responses: { 200: { description: 'Counts.', schema: ref('BulkReplayResult') }, 400: problem('A bad filter.'), 404: problem('No message matches the filter.') },
  },
  {
    method: 'GET',
    path: '/replays',
    operationId: 'listReplays',
    summary: 'The replay audit',
    description: 'Who replayed what, when, to where, edited or not, with the body hashes; newest first.',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        originalId: text('Only the replays of this message.'),
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
        cursor: { type: 'string', minLength: 1, maxLength: 2000 },
      },
    },
    responses: { 200: { description: 'One page.', schema: ref('ReplayPage') }, 400: problem('A parameter is not valid.') },
  },
  {
    method: 'GET',
    path: '/dead-letters',
    operationId: 'listDeadLetters',
    summary: 'Dead letters grouped by flow, step and error code',
    querystring: { type: 'object', additionalProperties: false, properties: { flow: text('Only this flow.') } },
    responses: { 200: { description: 'The groups, largest first.', schema: { type: 'object', required: ['groups'], properties: { groups: { type: 'array', items: ref('DeadLetterGroup') } } } } },
  },
  {
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This document',
    responses: { 200: { description: 'The OpenAPI 3.1 document of the admin API.', schema: { type: 'object' } } },
  },
];

/** `/messages/:id` as OpenAPI writes it: `/messages/{id}`. */
export function openApiPath(path: string): string {
  return ADMIN_PREFIX + path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** The OpenAPI 3.1 document of the admin API, built from OPERATIONS and COMPONENTS. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = [];
    for (const [name, schema] of Object.entries((op.params?.properties ?? {}) as Record<string, JsonSchema>)) parameters.push({ name, in: 'path', required: true, schema });
    for (const [name, schema] of Object.entries((op.querystring?.properties ?? {}) as Record<string, JsonSchema>)) {
      parameters.push({ name, in: 'query', required: false, ...(schema.type === 'array' ? { style: 'form', explode: true } : {}), schema });
    }
    for (const h of op.headers ?? []) parameters.push({ name: h.name, in: 'header', required: false, description: h.description, schema: h.schema });
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries({ ...op.responses, ...COMMON_PROBLEMS })) {
      const content = r.content ?? (r.schema ? { 'application/json': { schema: r.schema } } : undefined);
      responses[status] = { description: r.description, ...(content ? { content } : {}) };
    }
    (paths[openApiPath(op.path)] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: false, content: { 'application/json': { schema: op.body } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'integration-hub admin API',
      version,
      description: 'Flows, the message journal, dead letters and replay. JSON in and out; errors are application/problem+json. With an admin token configured every request needs `Authorization: Bearer <token>`; without one, only clients on the hub\'s machine are answered.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ adminToken: [] }, {}],
    paths,
    components: { schemas: COMPONENTS, securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'admin.token in hub.yaml, or HUB_ADMIN_TOKEN.' } } },
  };
}
