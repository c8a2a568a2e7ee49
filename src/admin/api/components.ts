/**
 * The shapes of the admin API's answers: `components.schemas` of the served document, which the operations refer to
 * (`ref('Name')`), the tests check every answer against, and the console's types are written from
 * (src/admin/console/api-types.ts, by console-types.ts). The journal's lists (statuses, timeline events) and the
 * admin's (roles, audit actions) are read from where they are defined, so the document cannot name another.
 */
import type { JsonSchema } from '../../core/contracts.js';
import { MESSAGE_STATUSES, STATUS_OF_EVENT, type TimelineEventType } from '../../journal/contract.js';
import { REPORT_SCHEMA } from '../../mesh/compare/report.js';
import { AUDIT_ACTIONS } from '../audit.js';
import { ADMIN_ROLES } from './constants.js';
import { ref } from './schema-parts.js';

/** Every kind of timeline event: the keys of STATUS_OF_EVENT, which its type makes name each kind exactly once. */
const TIMELINE_EVENT_TYPES = Object.keys(STATUS_OF_EVENT) as TimelineEventType[];

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
      type: { enum: TIMELINE_EVENT_TYPES },
      at: { type: 'string', format: 'date-time' },
      attempt: { type: 'integer' },
      step: { type: 'string' },
      error: ref('ErrorInfo'),
      dueAt: { type: 'string', format: 'date-time' },
      detail: { type: 'string' },
      meta: { type: 'object', additionalProperties: true, description: 'For `received` under the `all` journal policy: the transport\'s facts (method, path, params, query; operation; topic, key; exchange, routing key). Withheld from a viewer.' },
      call: {
        type: 'object',
        description: 'For `sink` (under the `all` journal policy): one try of a sink call, and the reply (body withheld from a viewer) or the error.',
        required: ['sink', 'try'],
        properties: {
          sink: { type: 'string' },
          try: { type: 'integer', minimum: 1 },
          reply: {
            type: 'object',
            required: ['headers', 'body', 'encoding', 'truncated'],
            properties: { status: { type: 'integer' }, headers: { type: 'object', additionalProperties: { type: 'string' } }, body: { type: 'string' }, encoding: { enum: ['utf8', 'base64'] }, truncated: { type: 'boolean' }, masked: { type: 'boolean' } },
          },
          failure: ref('ErrorInfo'),
        },
      },
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
          callerAnswered: { type: 'object', required: ['at'], properties: { at: { type: 'string', format: 'date-time' } }, description: 'Set when the message came from a caller that waits for the reply (REST, SOAP) and was answered with the error: it may have sent the request again, so a replay could do the work twice.' },
          permanent: { type: 'boolean', description: 'With a last error: true when it failed for a permanent reason of its own (BAD_JSON, VALIDATION_FAILED, ...: a permanent error with the sender at fault): the same body would fail the same way, so edit it before replaying.' },
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
    description: 'A bulk replay that runs on in the hub (POST /replays with `Prefer: respond-async` or `background: true`): its state, pace and counts so far. Kept in the journal, the newest 100: a hub restart resumes a running one.',
    allOf: [
      ref('BulkReplayResult'),
      {
        type: 'object',
        required: ['id', 'state', 'by', 'startedAt', 'updatedAt', 'done', 'rate', 'removed', 'parked', 'failedCount', 'request'],
        properties: {
          id: { type: 'string' },
          state: { enum: ['running', 'paused', 'finished', 'cancelled', 'failed'], description: '`failed`: the job stopped early (`error` says why: its flow was removed, the journal failed); the counts say how far it got.' },
          by: { type: 'string', description: 'Who started it (it runs on when their session ends).' },
          startedAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time' },
          rate: { type: 'number', description: 'Its pace: messages a second.' },
          request: { type: 'object', description: 'What it replays: the filter (its `to` fixed at the start, so that messages dying later are not taken) and the target (to, sink, flow).' },
          done: { type: 'integer', minimum: 0, description: 'Messages dealt with so far, of `matched`.' },
          removed: { type: 'integer', minimum: 0, description: 'Gone from the journal (retention) before their turn: not failures.' },
          parked: { type: 'integer', minimum: 0, description: 'Replayed too often (a line of replays that each failed): parked as dead with REPLAY_LIMIT instead.' },
          failedCount: { type: 'integer', minimum: 0, description: 'Failures in all; `failed` lists the first 100, the results have each.' },
          pausedBy: { type: 'string' },
          resumedBy: { type: 'string' },
          cancelledBy: { type: 'string' },
          resumed: { type: 'integer', description: 'Times a hub restart resumed it.' },
          requestKey: { type: 'string' },
          changed: { type: 'boolean', description: 'For pause, resume and cancel: whether it changed the job.' },
          error: { type: 'string' },
        },
      },
    ],
  },
  ReplayJobResults: {
    type: 'object',
    required: ['items', 'total', 'offset'],
    properties: {
      total: { type: 'integer', minimum: 0 },
      offset: { type: 'integer', minimum: 0 },
      items: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'at', 'outcome'],
          properties: {
            id: { type: 'string', description: 'The message replayed.' },
            at: { type: 'string', format: 'date-time' },
            outcome: { enum: ['delivered', 'waiting-for-retry', 'dead', 'sent', 'duplicate', 'removed', 'parked', 'failed'] },
            newId: { type: 'string', description: 'The replay\'s id.' },
            reason: { type: 'string' },
          },
        },
      },
    },
  },
  Session: {
    type: 'object',
    description: 'The caller of the admin API.',
    required: ['user', 'role', 'via'],
    properties: {
      user: { type: 'string', description: 'The user name; "token" for the bearer token; "login-link" for a session opened with a one-time login link.' },
      role: { enum: [...ADMIN_ROLES] },
      via: { enum: ['session', 'token'] },
      csrfToken: { type: 'string', description: 'For a session: send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE.' },
      idleExpiresAt: { type: 'string', format: 'date-time', description: 'For a session: when it ends unless used before.' },
      expiresAt: { type: 'string', format: 'date-time', description: 'For a session: when it ends at the latest.' },
    },
  },
  ReloadReport: {
    type: 'object',
    required: ['added', 'changed', 'removed', 'unchanged', 'kept', 'problems', 'tookMs'],
    properties: {
      added: { type: 'array', items: { type: 'string' }, description: 'New flows, started.' },
      changed: { type: 'array', items: { type: 'string' }, description: 'Flows whose new version took over.' },
      removed: { type: 'array', items: { type: 'string' }, description: 'Flows whose file is gone, stopped.' },
      unchanged: { type: 'array', items: { type: 'string' } },
      kept: { type: 'array', items: { type: 'string' }, description: 'Flows whose file has errors: the running version goes on.' },
      problems: { type: 'array', items: { type: 'object', required: ['file', 'line', 'col', 'message'], properties: { file: { type: 'string' }, line: { type: 'integer' }, col: { type: 'integer' }, message: { type: 'string' }, severity: { enum: ['error', 'warning'] } } } },
      tookMs: { type: 'integer', minimum: 0 },
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
  SinkHealth: {
    type: 'object',
    description: 'A sink\'s health from its real calls: `degraded` from its first call in a row that failed for a retryable reason (down, refusing connections, timing out, 5xx), with the latest error; `ok` again at the first call that succeeds (`since`: when it recovered).',
    required: ['state'],
    properties: {
      state: { enum: ['ok', 'degraded'] },
      since: { type: 'string', format: 'date-time' },
      error: { type: 'object', required: ['code', 'message', 'at'], properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'string', format: 'date-time' } } },
      failures: { type: 'integer', minimum: 1, description: 'Failing calls in a row.' },
    },
  },
  FlowInfo: {
    type: 'object',
    required: ['name', 'source', 'sinks', 'steps', 'journal', 'ready', 'health', 'state', 'rate', 'stats'],
    properties: {
      name: { type: 'string' },
      description: { type: 'string' },
      source: { type: 'object', required: ['adapter', 'requestReply'], properties: { adapter: { type: 'string' }, requestReply: { type: 'boolean' } } },
      sinks: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'adapter', 'requestReply', 'connected', 'health'],
          properties: {
            name: { type: 'string' },
            adapter: { type: 'string' },
            requestReply: { type: 'boolean' },
            connected: { type: 'boolean', description: 'What the sink says of its connection (a broker sink: connected; an HTTP sink: always).' },
            health: ref('SinkHealth'),
          },
        },
      },
      steps: { type: 'array', items: { type: 'string' }, description: 'Step labels ("0:validate", ...): the N of a failed step "N:kind" is where a failed-step replay resumes.' },
      journal: { type: 'object', required: ['record', 'bodyBytes'], properties: { record: { enum: ['all', 'failures', 'none'] }, bodyBytes: { type: 'integer' } } },
      ready: { type: 'boolean', description: 'The source and every sink are connected.' },
      health: { enum: ['ready', 'degraded', 'not ready'], description: '`not ready` when a connection is down; `degraded` when connected but a sink\'s calls fail for retryable reasons now (see `degraded` and each sink\'s `health`); else `ready`.' },
      degraded: { type: 'array', items: { type: 'string' }, description: 'The sinks that are degraded now.' },
      now: {
        type: 'object',
        description: 'How many of the flow\'s messages stand in these statuses now, from the journal (so a replay or a restart cannot make them wrong; messages the flow\'s journal policy does not record are not counted).',
        required: ['dead', 'waiting', 'failed'],
        properties: { dead: { type: 'integer', minimum: 0 }, waiting: { type: 'integer', minimum: 0, description: 'Waiting for a durable retry.' }, failed: { type: 'integer', minimum: 0, description: 'Failed and not parked: a request-reply caller got the error.' } },
      },
      nowError: { type: 'string', description: 'Instead of `now`, when the journal could not be read.' },
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
        description: 'Counters of this process since it started (what it handled), not what stands now: see `now`.',
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
