/**
 * The admin API as data: every operation with its path, parameters, request body, responses and the role it needs,
 * in JSON Schema (2020-12, as OpenAPI 3.1 uses it). routes.ts registers one route per entry, validates requests with
 * these very schemas and checks the caller's role against the entry's `role` and `elevate` rules;
 * `openApiDocument()` turns the same entries into GET /admin/api/openapi.json (and /admin/docs). So the document
 * and the behaviour cannot drift apart.
 */
import type { JsonSchema } from '../core/contracts.js';
import { AUDIT_ACTIONS, type AuditAction } from './audit.js';
import { REPORT_SCHEMA } from '../mesh/compare/report.js';
import { REPORT_NAME } from '../mesh/compare/report-folder.js';

/** Everything the admin serves is under this path (the API, its docs, later the console). */
export const ADMIN_ROOT = '/admin';
export const ADMIN_PREFIX = '/admin/api';
export const DOCS_PATH = '/admin/docs';
/** What a console asset (/admin/assets/NAME) may be called: one plain file name, no folders. */
export const CONSOLE_ASSET_NAME = '^[a-z0-9][a-z0-9-]*\\.(js|css|svg|png)$';

/** The session cookie: HttpOnly, Secure, SameSite=Strict, Path=/admin. */
export const SESSION_COOKIE = 'hub_session';
export const CSRF_HEADER = 'X-CSRF-Token';

/** Roles of admin users, each allowed what the one before it is, and more. */
export const ADMIN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** Whether `role` is allowed what `needed` is. */
export function roleAllows(role: AdminRole, needed: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(role) >= ADMIN_ROLES.indexOf(needed);
}

export const ROLE_DESCRIPTIONS: Record<AdminRole, string> = {
  viewer: 'reads flows, messages (bodies and header values masked), dead letters and the replay audit',
  operator: 'what a viewer may, with whole bodies, and replays (stored bodies, through the flow)',
  admin: 'everything: edited replays and their dry run, replays straight to a sink, pausing and resuming flows, archiving and deleting records, the admin audit',
};

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
    properties: { encoding: { enum: ['utf8', 'base64'] }, data: { type: 'string' }, size: { type: 'integer', minimum: 0 }, truncated: { type: 'boolean' }, sha256: { type: 'string' }, masked: { type: 'boolean', description: 'True for a viewer: `data` is withheld.' } },
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
  ReplayCheck: {
    type: 'object',
    description: 'The dry run of a replay: whether the body would be sent, and if not why. Nothing was booked or sent.',
    required: ['ok', 'errors'],
    properties: {
      ok: { type: 'boolean', description: 'True when the body passes: the same replay would be sent.' },
      schema: { type: 'string', description: 'The flow\'s input schema that was checked (its first `validate` step), when it has one in reach.' },
      errors: { type: 'array', description: 'Each problem found (empty when `ok`).', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
    },
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
  ReplayJob: {
    description: 'A bulk replay that runs on in the hub (POST /replays with `Prefer: respond-async` or `background: true`): its counts so far. Kept in the hub\'s memory, the newest 100 jobs.',
    allOf: [
      ref('BulkReplayResult'),
      {
        type: 'object',
        required: ['id', 'state', 'by', 'startedAt', 'done'],
        properties: {
          id: { type: 'string' },
          state: { enum: ['running', 'finished', 'failed'], description: '`failed`: the job stopped early (`error` says why).' },
          by: { type: 'string', description: 'Who started it.' },
          startedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time' },
          done: { type: 'integer', minimum: 0, description: 'Messages dealt with so far (replayed, duplicates and failed), of `matched`.' },
          error: { type: 'string' },
        },
      },
    ],
  },
  Session: {
    type: 'object',
    description: 'The caller of the admin API.',
    required: ['user', 'role', 'via'],
    properties: {
      user: { type: 'string', description: 'The user name; "token" for the bearer token; "local" for a loopback client of a hub without users and token.' },
      role: { enum: [...ADMIN_ROLES] },
      via: { enum: ['session', 'token', 'loopback'] },
      csrfToken: { type: 'string', description: 'For a session: send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE.' },
      idleExpiresAt: { type: 'string', format: 'date-time', description: 'For a session: when it ends unless used before.' },
      expiresAt: { type: 'string', format: 'date-time', description: 'For a session: when it ends at the latest.' },
    },
  },
  FlowState: {
    type: 'object',
    required: ['name', 'state', 'changed'],
    properties: {
      name: { type: 'string' },
      state: { enum: ['running', 'paused'] },
      changed: { type: 'boolean', description: 'False when the flow was in that state already.' },
      paused: { type: 'object', required: ['at', 'by', 'held'], properties: { at: { type: 'string', format: 'date-time' }, by: { type: 'string' }, held: { type: 'integer', minimum: 0 } } },
    },
  },
  ArchiveResult: {
    type: 'object',
    required: ['id', 'status'],
    properties: {
      id: { type: 'string' },
      status: { const: 'archived' },
      removableFrom: { type: 'string', format: 'date-time', description: 'When the retention sweeper may remove the record: archived at plus `journal.keep.archived`. Absent when archived records are kept until deleted.' },
    },
  },
  GroupArchiveResult: {
    type: 'object',
    required: ['matched', 'capped', 'archived', 'failed'],
    properties: {
      matched: { type: 'integer', description: 'Dead messages of the group (at most `max`).' },
      capped: { type: 'boolean', description: 'True when the group holds more than `max`: run it again for the rest.' },
      archived: { type: 'integer' },
      failed: { type: 'array', items: { type: 'object', required: ['id', 'reason'], properties: { id: { type: 'string' }, reason: { type: 'string' } } } },
      keepMs: { type: 'integer', description: '`journal.keep.archived` in ms: archived records are removed by the retention sweeper this long after they were received. Absent: kept until deleted.' },
    },
  },
  AuditEntry: {
    type: 'object',
    required: ['seq', 'at', 'action', 'outcome', 'actor', 'client'],
    properties: {
      seq: { type: 'integer' },
      at: { type: 'string', format: 'date-time' },
      action: { enum: [...AUDIT_ACTIONS] },
      outcome: { enum: ['ok', 'failed', 'denied', 'rate-limited'] },
      actor: { type: 'string', description: 'A user name, "token[:X-Hub-Actor]", "local[:X-Hub-Actor]", or "anonymous".' },
      role: { type: 'string' },
      client: { type: 'string', description: 'The client\'s address.' },
      target: { type: 'string', description: 'A message id, or a bulk replay\'s filter.' },
      status: { type: 'integer', description: 'The HTTP status of the answer.' },
      detail: { type: 'string' },
    },
  },
  AuditPage: {
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: ref('AuditEntry') }, next: { type: 'string', description: 'Pass as `cursor` for the next page; absent on the last.' } },
  },
  CompareReport: REPORT_SCHEMA,
  CompareReportSummary: {
    type: 'object',
    description: 'One report of GET /compare/reports: its folder\'s name and what the run was.',
    required: ['name', 'id', 'startedAt', 'finishedAt', 'flows', 'styles', 'phaseSeconds'],
    properties: {
      name: { type: 'string', description: 'The report\'s folder under compare.reports: pass it to GET /compare/reports/{name}.' },
      id: { type: 'string' },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      incomplete: { type: 'string', description: 'Why the run ended early, when it did.' },
      flows: { type: 'array', items: { type: 'string' } },
      styles: { type: 'array', items: { enum: ['hub', 'mesh'] } },
      phaseSeconds: { type: 'number' },
    },
  },
  FlowInfo: {
    type: 'object',
    required: ['name', 'source', 'sinks', 'steps', 'journal', 'ready', 'state', 'rate', 'stats'],
    properties: {
      name: { type: 'string' },
      description: { type: 'string' },
      source: { type: 'object', required: ['adapter', 'requestReply'], properties: { adapter: { type: 'string' }, requestReply: { type: 'boolean' } } },
      sinks: { type: 'array', items: { type: 'object', required: ['name', 'adapter', 'requestReply'], properties: { name: { type: 'string' }, adapter: { type: 'string' }, requestReply: { type: 'boolean' } } } },
      steps: { type: 'array', items: { type: 'string' }, description: 'Step labels ("0:validate", ...): the N of a failed step "N:kind" is where a failed-step replay resumes.' },
      journal: { type: 'object', required: ['record', 'bodyBytes'], properties: { record: { enum: ['all', 'failures', 'none'] }, bodyBytes: { type: 'integer' } } },
      ready: { type: 'boolean' },
      state: { enum: ['running', 'paused'], description: 'Paused: the flow takes no new messages (POST /flows/{name}/pause).' },
      paused: { type: 'object', required: ['at', 'by', 'held'], description: 'While paused: since when, by whom, and how many broker deliveries are held.', properties: { at: { type: 'string', format: 'date-time' }, by: { type: 'string' }, held: { type: 'integer', minimum: 0 } } },
      rate: {
        type: 'object',
        description: 'Over the last minute: messages delivered per second, and the 99th percentile of the time from the runner taking a message to its delivery, over the latest (at most 1024) deliveries.',
        required: ['perSecond', 'samples', 'windowSeconds'],
        properties: { perSecond: { type: 'number', minimum: 0 }, p99Ms: { type: 'number', minimum: 0, description: 'Absent when nothing was delivered in the window.' }, samples: { type: 'integer', minimum: 0 }, windowSeconds: { type: 'integer' } },
      },
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

const REPLAY_BODY: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...replayOptions,
    body: { type: 'string', maxLength: 64 * 1024 * 1024, description: 'An edited body to replay instead of the stored one (needed when the stored one is truncated).' },
    bodyEncoding: { enum: ['utf8', 'base64'], default: 'utf8', description: 'How `body` is written: text, or base64 for bytes that are not UTF-8.' },
    contentType: text('The content type of the replayed message (default: the original\'s).'),
    note: text('Why: kept in the audit.'),
  },
};

const flowParam: JsonSchema = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 200, description: 'A flow\'s name.' } } };

const idParam: JsonSchema = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 512, description: 'A message id.' } } };

const header = (name: string, description: string): { name: string; schema: JsonSchema; description: string } => ({ name, schema: { type: 'string', minLength: 1, maxLength: 200 }, description });
const ACTOR = header('X-Hub-Actor', 'Who is asking, for the audit, when the caller is a bearer token (recorded as "token:<actor>") or a loopback client of a hub without users and token. A session\'s actor is its user, whatever this says.');
const PREFER = header('Prefer', '`respond-async`: answer 202 with a job at once (as `background: true` does) instead of when every replay is done.');
const IDEMPOTENCY_KEY = header('Idempotency-Key', 'A key per intended replay: the same key submitted again sends nothing and answers with the earlier replay. Without it, a hash of the request is the key, so the same request twice replays once.');

export interface ResponseSpec {
  description: string;
  /** A schema of an application/json answer; a media-type map for anything else. */
  schema?: JsonSchema;
  content?: Record<string, { schema: JsonSchema }>;
}

export type OperationId =
  | 'createSession'
  | 'getSession'
  | 'deleteSession'
  | 'listFlows'
  | 'streamEvents'
  | 'pauseFlow'
  | 'resumeFlow'
  | 'listMessages'
  | 'getMessage'
  | 'getMessageBody'
  | 'deleteMessage'
  | 'replayMessage'
  | 'checkReplay'
  | 'replayMany'
  | 'getReplayJob'
  | 'archiveMessage'
  | 'archiveDeadLetters'
  | 'listReplays'
  | 'listDeadLetters'
  | 'listAudit'
  | 'getOpenApi'
  | 'getDocs'
  | 'getConsole'
  | 'getConsoleAsset'
  | 'listCompareReports'
  | 'getCompareReport';

/** A request that needs a higher role than its operation's: `applies` sees the validated body. */
export interface RoleRule {
  role: AdminRole;
  /** What the document says. */
  when: string;
  applies: (body: Record<string, unknown>) => boolean;
}

export interface OperationSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path under `prefix`, fastify style (`/messages/:id`). */
  path: string;
  /** Where `path` is (default ADMIN_PREFIX); it must be under ADMIN_ROOT. */
  prefix?: string;
  operationId: OperationId;
  summary: string;
  description?: string;
  /** The least role that may call it; `public` only for logging in and the console's own files (which hold no data). */
  role: AdminRole | 'public';
  /** Requests of this operation that need more. */
  elevate?: RoleRule[];
  /** What a viewer gets masked in the answer. */
  viewerMasks?: string;
  /** The change it makes, recorded in the admin audit (refusals too). */
  audit?: AuditAction;
  params?: JsonSchema;
  querystring?: JsonSchema;
  headers?: { name: string; schema: JsonSchema; description: string }[];
  body?: JsonSchema;
  responses: Record<number, ResponseSpec>;
}

/** Methods that change something: with a session they need the CSRF token, and a same-origin Origin/Referer when one is sent. */
export function isStateChanging(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

const problem = (description: string): ResponseSpec => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const COMMON_PROBLEMS: Record<number, ResponseSpec> = {
  401: problem('No valid session (cookie) or bearer token: log in with POST /admin/api/session, or send Authorization: Bearer <token>.'),
  403: problem('The caller\'s role does not allow this request; a state-changing request with a session lacks the X-CSRF-Token or comes from another origin; or, with no users and no token configured, the client is not on the hub\'s machine. Nothing was changed.'),
  503: problem('The journal cannot be reached.'),
};

const replayNeedsAdmin: RoleRule[] = [
  { role: 'admin', when: 'an edited body (`body`, `bodyEncoding`, `contentType`) or a replay straight to a sink (`sink`)', applies: (b) => b.body !== undefined || b.contentType !== undefined || b.bodyEncoding === 'base64' || b.sink !== undefined },
];
const bulkNeedsAdmin: RoleRule[] = [{ role: 'admin', when: 'a replay straight to a sink (`sink`)', applies: (b) => b.sink !== undefined }];

export const OPERATIONS: OperationSpec[] = [
  {
    method: 'POST',
    path: '/session',
    operationId: 'createSession',
    summary: 'Log in',
    description:
      'Checks a user of hub.yaml (`admin.users`) and starts a session: the answer sets the session cookie (`hub_session`, HttpOnly, Secure, SameSite=Strict, Path=/admin) and carries the CSRF token to send as X-CSRF-Token with every POST, PUT, PATCH and DELETE of the session. An unknown name and a wrong password get the same 401. After 5 failed logins within a minute from one address or for one name, logins from it or for it get 429 with Retry-After.',
    role: 'public',
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'password'],
      properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
    },
    responses: {
      200: { description: 'Logged in: the session cookie is set.', schema: ref('Session') },
      400: problem('The request body is not { name, password }.'),
      401: problem('The name or the password is wrong (the same answer for both), or no users are configured.'),
      403: problem('The request comes from another origin (Origin/Referer).'),
      503: problem('The journal cannot be reached.'),
      429: problem('Too many failed logins from this address or for this name; try again after Retry-After seconds.'),
    },
  },
  {
    method: 'GET',
    path: '/session',
    operationId: 'getSession',
    summary: 'Who am I',
    description: 'The caller: its user and role, how it is authenticated, and for a session its CSRF token and when it ends.',
    role: 'viewer',
    responses: { 200: { description: 'The caller.', schema: ref('Session') } },
  },
  {
    method: 'DELETE',
    path: '/session',
    operationId: 'deleteSession',
    summary: 'Log out',
    description: 'Ends the session and clears its cookie.',
    role: 'viewer',
    responses: { 204: { description: 'Logged out.' } },
  },
  {
    method: 'GET',
    path: '/flows',
    operationId: 'listFlows',
    role: 'viewer',
    summary: 'The flows this hub runs',
    description: 'Each flow with its source adapter, sinks, steps, journal policy, readiness, state (running or paused), its rate and p99 latency over the last minute, and counters since start.',
    responses: { 200: { description: 'The flows.', schema: { type: 'object', required: ['flows'], properties: { flows: { type: 'array', items: ref('FlowInfo') } } } } },
  },
  {
    method: 'GET',
    path: '/events',
    operationId: 'streamEvents',
    role: 'viewer',
    summary: 'Live updates (server-sent events)',
    description:
      'A text/event-stream that stays open: `event: flows` at once and then every second, with the data of GET /flows; `event: message` when a message changed off the common path (`{ id, flow, status, at, replayOf? }`: parked waiting for a retry or dead, delivered by a durable retry or a replay, archived; first-time deliveries show in the flows\' rates instead); `event: session-ended` before the stream of an ended session closes. Nothing is replayed on reconnect: re-read what you show. Watching does not keep a session alive. At most 64 streams per hub; a client that leaves more than 256 KiB unread is dropped.',
    responses: {
      200: { description: 'The stream.', content: { 'text/event-stream': { schema: { type: 'string', description: 'Server-sent events: `event: flows` (data: { flows: FlowInfo[] }), `event: message` (data: { id, flow, status, at, replayOf? }), `event: session-ended`.' } } } },
      429: problem('The hub has as many live streams as it serves.'),
    },
  },
  {
    method: 'POST',
    path: '/flows/:name/pause',
    operationId: 'pauseFlow',
    role: 'admin',
    audit: 'pause',
    summary: 'Pause a flow: it takes no new messages until resumed',
    description:
      'A source that waits for a reply (REST, SOAP) answers 503 FLOW_PAUSED (retryable, with Retry-After). A broker source\'s deliveries are held in the runner until the flow is resumed or the hub stops, so its prefetch (AMQP) or its partition (Kafka) stops further consumption; a broker may take back a delivery held past its own limit (RabbitMQ\'s consumer_timeout, 30 min by default) and deliver it again. Durable retries that come due are put back 30 s at a time, their attempts not counted. Messages already in the flow finish. Replays are refused (409) while paused; the dry run is not. The pause lives in this process: a restart, or another replica, runs the flow. Pausing a paused flow changes nothing.',
    params: flowParam,
    headers: [ACTOR],
    responses: { 200: { description: 'Paused (or it was).', schema: ref('FlowState') }, 404: problem('No such flow in this hub.') },
  },
  {
    method: 'POST',
    path: '/flows/:name/resume',
    operationId: 'resumeFlow',
    role: 'admin',
    audit: 'resume',
    summary: 'Resume a paused flow',
    description: 'The flow takes messages again; the held broker deliveries go on first, and durable retries run when next due. Resuming a running flow changes nothing.',
    params: flowParam,
    headers: [ACTOR],
    responses: { 200: { description: 'Running.', schema: ref('FlowState') }, 404: problem('No such flow in this hub.') },
  },
  {
    method: 'GET',
    path: '/messages',
    operationId: 'listMessages',
    role: 'viewer',
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
    role: 'viewer',
    viewerMasks: 'the body\'s `data` (emptied, with `masked: true`; size and sha256 stay) and every header\'s value',
    summary: 'One message with its stored body, headers and timeline',
    params: idParam,
    responses: { 200: { description: 'The message.', schema: ref('MessageRecord') }, 404: problem('No such message (never recorded under its flow\'s journal policy, or removed).') },
  },
  {
    method: 'GET',
    path: '/messages/:id/body',
    operationId: 'getMessageBody',
    role: 'operator',
    summary: 'The stored body as raw bytes',
    description: 'Served with the message\'s own content type (base64-stored bodies decoded). Headers: x-body-size (the whole body\'s size), x-body-sha256, x-body-truncated (true when only the start is stored).',
    params: idParam,
    responses: { 200: { description: 'The bytes.', content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } }, 404: problem('No such message.') },
  },
  {
    method: 'DELETE',
    path: '/messages/:id',
    operationId: 'deleteMessage',
    role: 'admin',
    audit: 'delete',
    summary: 'Remove a message\'s record (and any retry waiting for it)',
    description: 'Replays that refer to it keep their audit entries.',
    params: idParam,
    responses: { 204: { description: 'Removed.' }, 404: problem('No such message.') },
  },
  {
    method: 'POST',
    path: '/messages/:id/replay',
    operationId: 'replayMessage',
    role: 'operator',
    elevate: replayNeedsAdmin,
    audit: 'replay',
    summary: 'Replay one message',
    description:
      'Books the replay in the journal (the audit entry, and the idempotency check), then runs a copy with a new id and `replayOf` through its flow: from the start, from the failed step, or straight to one sink. An edited body replaces the stored one; it must pass the flow\'s input schema (for a replay to a sink: be well-formed). The original becomes `resolved`. 200 when the replay was delivered, 202 when it was parked again (waiting for a retry, or dead: see `outcome`), 200 with `duplicate: true` when the key was booked before.',
    params: idParam,
    headers: [IDEMPOTENCY_KEY, ACTOR],
    body: REPLAY_BODY,
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
    path: '/messages/:id/replay/check',
    operationId: 'checkReplay',
    role: 'admin',
    summary: 'Check a replay\'s body without sending it (dry run)',
    description:
      'Takes the body of POST /messages/{id}/replay and answers what the flow\'s input schema says of the body (the edited one, else the stored one) where it would enter: the first `validate` step, reached through steps that only change the message in memory; for a replay to a sink, only well-formedness. Nothing is booked, sent or audited. The console calls it as the operator edits. An admin\'s operation, like the edited replay it checks.',
    params: idParam,
    body: REPLAY_BODY,
    responses: {
      200: { description: 'The check: `ok`, or the problems found.', schema: ref('ReplayCheck') },
      400: problem('A bad request: unknown sink, sink with failed-step, bad base64.'),
      404: problem('No such message.'),
      409: problem('The stored body is truncated and no edited body was given, or the message\'s flow does not run in this hub.'),
    },
  },
  {
    method: 'POST',
    path: '/replays',
    operationId: 'replayMany',
    role: 'operator',
    elevate: bulkNeedsAdmin,
    audit: 'bulk-replay',
    summary: 'Replay every message a filter matches',
    description:
      'Each match is replayed as by POST /messages/{id}/replay, a few at a time, each under its own key (the request\'s key and the message id), so submitting the same request again replays nothing twice. It answers with the counts when every replay is done; with `Prefer: respond-async` (or `background: true`) it answers 202 at once with a job (`Location`: GET /replays/jobs/{id}) and the live feed announces its progress (`event: replay-progress`): for thousands of messages.',
    headers: [IDEMPOTENCY_KEY, ACTOR, PREFER],
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
        background: { type: 'boolean', default: false, description: 'Answer 202 with a job at once, as `Prefer: respond-async` does.' },
      },
    },
    responses: {
      200: { description: 'Counts.', schema: ref('BulkReplayResult') },
      202: { description: 'Started as a job (`Location` names it); its counts are those so far.', schema: ref('ReplayJob') },
      400: problem('A bad filter.'),
      404: problem('No message matches the filter.'),
    },
  },
  {
    method: 'GET',
    path: '/replays/jobs/:id',
    operationId: 'getReplayJob',
    role: 'operator',
    summary: 'How a bulk replay job is going',
    description: 'The counts so far of a job POST /replays started (matched, done, replayed, duplicates, outcomes, failed) and whether it has finished. The newest 100 jobs are kept, in the hub\'s memory.',
    params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 64, description: 'A job id.' } } },
    responses: { 200: { description: 'The job.', schema: ref('ReplayJob') }, 404: problem('No such job (or it is one of the older ones, no longer kept).') },
  },
  {
    method: 'POST',
    path: '/messages/:id/archive',
    operationId: 'archiveMessage',
    role: 'admin',
    audit: 'archive',
    summary: 'Archive a dead message',
    description: 'Appends the journal\'s `archived` event (who, and `reason`): the message leaves its dead-letter group and its status becomes `archived`. The retention sweeper removes archived records once `journal.keep.archived` (hub.yaml; 30 days by default) has passed since they were received; until then they can be read and replayed.',
    params: idParam,
    headers: [ACTOR],
    body: { type: 'object', additionalProperties: false, properties: { reason: text('Why: kept in the message\'s timeline and the audit.') } },
    responses: { 200: { description: 'Archived.', schema: ref('ArchiveResult') }, 404: problem('No such message.'), 409: problem('The message is not dead.') },
  },
  {
    method: 'POST',
    path: '/dead-letters/archive',
    operationId: 'archiveDeadLetters',
    role: 'admin',
    audit: 'bulk-archive',
    summary: 'Archive a whole dead-letter group',
    description: 'Archives every dead message of one group of GET /dead-letters (its flow, step and code), as POST /messages/{id}/archive does, up to `max`.',
    headers: [ACTOR],
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['flow', 'step', 'code'],
      properties: {
        flow: text('The group\'s flow.'),
        step: { type: 'string', maxLength: 1000, description: 'The group\'s step ("" for errors without one).' },
        code: text('The group\'s error code.'),
        reason: text('Why: kept in each message\'s timeline and the audit.'),
        max: { type: 'integer', minimum: 1, maximum: BULK_MAX, default: BULK_DEFAULT, description: 'Most messages archived by this request.' },
      },
    },
    responses: { 200: { description: 'Counts.', schema: ref('GroupArchiveResult') }, 404: problem('The group has no dead message.') },
  },
  {
    method: 'GET',
    path: '/replays',
    operationId: 'listReplays',
    role: 'viewer',
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
    role: 'viewer',
    summary: 'Dead letters grouped by flow, step and error code',
    querystring: { type: 'object', additionalProperties: false, properties: { flow: text('Only this flow.') } },
    responses: { 200: { description: 'The groups, largest first.', schema: { type: 'object', required: ['groups'], properties: { groups: { type: 'array', items: ref('DeadLetterGroup') } } } } },
  },
  {
    method: 'GET',
    path: '/compare/reports',
    operationId: 'listCompareReports',
    role: 'viewer',
    summary: 'The reports of hub compare',
    description: 'Every run `hub compare` wrote under the hub\'s reports folder (compare.reports in hub.yaml, default .hub/compare; one folder per run with its report.json), newest first, at most 100. A folder without a readable report is left out. Read from disk on each request.',
    responses: { 200: { description: 'The reports, newest first.', schema: { type: 'object', required: ['reports'], properties: { reports: { type: 'array', items: ref('CompareReportSummary') } } } } },
  },
  {
    method: 'GET',
    path: '/compare/reports/:name',
    operationId: 'getCompareReport',
    role: 'viewer',
    summary: 'One report of hub compare',
    description: 'The whole report.json of the run: settings, per style, phase and flow the throughput, latency percentiles and errors, per process CPU and peak memory, and the blast radius. The console\'s Comparison page draws it.',
    params: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', pattern: REPORT_NAME, description: 'A report\'s folder name, from GET /compare/reports.' } } },
    responses: { 200: { description: 'The report.', schema: ref('CompareReport') }, 400: problem('Not a report name.'), 404: problem('No readable report of that name.') },
  },
  {
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    role: 'viewer',
    summary: 'This document',
    responses: { 200: { description: 'The OpenAPI 3.1 document of the admin API.', schema: { type: 'object' } } },
  },
  {
    method: 'GET',
    path: '/docs',
    prefix: '/admin',
    operationId: 'getDocs',
    summary: 'This document, where the console will render it',
    description: 'For now the same JSON as /admin/api/openapi.json.',
    role: 'viewer',
    responses: { 200: { description: 'The OpenAPI 3.1 document of the admin API.', schema: { type: 'object' } } },
  },
  {
    method: 'GET',
    path: '/',
    prefix: ADMIN_ROOT,
    operationId: 'getConsole',
    summary: 'The admin console',
    description: 'The web console\'s page (HTML). It logs in with POST /admin/api/session and shows only what the API answers the logged-in user; the page itself holds no data. Built by npm run build from src/admin/console/.',
    role: 'public',
    responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, 404: problem('The console was not built (npm run build).') },
  },
  {
    method: 'GET',
    path: '/assets/:file',
    prefix: ADMIN_ROOT,
    operationId: 'getConsoleAsset',
    summary: 'A script or style sheet of the admin console',
    description: 'JavaScript modules (text/javascript) and the style sheet (text/css) of the console, served as files since the Content-Security-Policy allows no inline script or style.',
    role: 'public',
    params: { type: 'object', required: ['file'], additionalProperties: false, properties: { file: { type: 'string', pattern: CONSOLE_ASSET_NAME, description: 'A file name: app.js, console.css, ...' } } },
    responses: {
      200: { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
      400: problem('Not a console file name.'),
      404: problem('No such file.'),
    },
  },
  {
    method: 'GET',
    path: '/audit',
    operationId: 'listAudit',
    summary: 'The admin audit log',
    description: 'Logins (failed ones too, with the client\'s address), logouts and every change (replay, bulk replay, delete; refused ones too), newest first. Kept in the hub process\'s memory (the newest 10,000 since it started) and written to its log as lines with `audit: true`; the replay audit with body hashes is GET /replays.',
    role: 'admin',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        action: { enum: [...AUDIT_ACTIONS], description: 'Only this action.' },
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
        cursor: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'The `next` of the previous page.' },
      },
    },
    responses: { 200: { description: 'One page.', schema: ref('AuditPage') }, 400: problem('A parameter is not valid.') },
  },
];

/** The whole path of an operation, fastify style: `/admin/api/messages/:id`. */
export function fullPath(op: Pick<OperationSpec, 'path' | 'prefix'>): string {
  return (op.prefix ?? ADMIN_PREFIX) + op.path;
}

/** `/messages/:id` as OpenAPI writes it: `/admin/api/messages/{id}`. */
export function openApiPath(path: string, prefix: string = ADMIN_PREFIX): string {
  return prefix + path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** What the document says about who may call an operation. */
function roleText(op: OperationSpec): string {
  if (op.role === 'public') return 'No login needed.';
  const rules = (op.elevate ?? []).map((r) => ` Role ${r.role} for ${r.when}.`).join('');
  const masks = op.viewerMasks ? ` A viewer gets ${op.viewerMasks} masked.` : '';
  return `Role ${op.role} or higher.${rules}${masks}`;
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
    const common = op.role === 'public' ? {} : COMMON_PROBLEMS;
    for (const [status, r] of Object.entries({ ...op.responses, ...common })) {
      const content = r.content ?? (r.schema ? { 'application/json': { schema: r.schema } } : undefined);
      responses[status] = { description: r.description, ...(content ? { content } : {}) };
    }
    const session = isStateChanging(op.method) ? { session: [], csrfToken: [] } : { session: [] };
    (paths[openApiPath(op.path, op.prefix)] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      description: [op.description, roleText(op)].filter(Boolean).join('\n\n'),
      'x-required-role': op.role,
      ...(op.elevate?.length ? { 'x-role-rules': op.elevate.map((r) => ({ role: r.role, when: r.when })) } : {}),
      ...(op.viewerMasks ? { 'x-viewer-masks': op.viewerMasks } : {}),
      security: op.role === 'public' ? [{}] : [{ adminToken: [] }, session],
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
      description: [
        'Flows, the message journal, dead letters and replay. JSON in and out; errors are application/problem+json.',
        'Who may call: a user of hub.yaml (`admin.users`) logged in with POST /admin/api/session (a session cookie; every POST, PUT, PATCH and DELETE of the session also sends the X-CSRF-Token the login gave, and a same-origin Origin/Referer if any), or a bearer token (`admin.token`, HUB_ADMIN_TOKEN: role admin, for the CLI and automation). With neither users nor a token configured, only clients on the hub\'s machine are answered, as admin.',
        `Roles (\`x-required-role\` of each operation; \`x-role-rules\` name requests that need more): ${ADMIN_ROLES.map((r) => `${r}: ${ROLE_DESCRIPTIONS[r]}`).join('; ')}.`,
      ].join('\n\n'),
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ adminToken: [] }, { session: [] }],
    paths,
    components: {
      schemas: COMPONENTS,
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'admin.token in hub.yaml, or HUB_ADMIN_TOKEN: role admin.' },
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'The session cookie POST /admin/api/session sets; the user\'s role from hub.yaml.' },
        csrfToken: { type: 'apiKey', in: 'header', name: CSRF_HEADER, description: 'The `csrfToken` of the session (from the login, or GET /admin/api/session): needed with the session cookie on every POST, PUT, PATCH and DELETE.' },
      },
    },
  };
}
