/**
 * Replaying: one message, its dry run, many by a filter (at once or as a job), and the replay audit.
 */
import type { JsonSchema } from '../../../core/contracts.js';
import { BULK_DEFAULT, BULK_MAX } from '../constants.js';
import { DEFAULT_RATE } from '../../replay-jobs.js';
import type { OperationSpec, RoleRule } from '../operation.js';
import { ref, text, problem, ACTOR, PREFER, IDEMPOTENCY_KEY, idParam, messageFilter } from '../schema-parts.js';

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

const replayNeedsAdmin: RoleRule[] = [
  { role: 'admin', when: 'an edited body (`body`, `bodyEncoding`, `contentType`) or a replay straight to a sink (`sink`)', applies: (b) => b.body !== undefined || b.contentType !== undefined || b.bodyEncoding === 'base64' || b.sink !== undefined },
];
const bulkNeedsAdmin: RoleRule[] = [{ role: 'admin', when: 'a replay straight to a sink (`sink`)', applies: (b) => b.sink !== undefined }];

const JOB_ID = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 64, description: 'A job id.' } } } satisfies JsonSchema;

export const REPLAY_OPERATIONS: OperationSpec[] = [
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
        flow: text('Replay into this flow instead of each message\'s own (a new version deployed beside the old), from its start.'),
        max: { type: 'integer', minimum: 1, maximum: 100_000_000, description: `Most messages replayed by this request: by default ${BULK_DEFAULT} when answered when done (at most ${BULK_MAX}), every match for a job.` },
        note: text('Why: kept in each audit entry.'),
        background: { type: 'boolean', default: false, description: 'Answer 202 with a job at once, as `Prefer: respond-async` does.' },
        rate: { type: 'number', exclusiveMinimum: 0, maximum: 10_000, description: `A job's pace: messages a second (default ${DEFAULT_RATE}).` },
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
    description: 'The counts so far of a job POST /replays started (matched, done, replayed, duplicates, removed, parked, outcomes, failed), its pace and state. Jobs are kept in the journal (the newest 100): a hub restart resumes one that was running.',
    params: JOB_ID,
    responses: { 200: { description: 'The job.', schema: ref('ReplayJob') }, 404: problem('No such job (or it is one of the older ones, no longer kept).') },
  },
  {
    method: 'GET',
    path: '/replays/jobs',
    operationId: 'listReplayJobs',
    role: 'operator',
    summary: 'The replay jobs, newest first',
    description: 'The jobs the journal keeps (the newest 100), running, paused or ended, each with its counts.',
    querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 } } },
    responses: { 200: { description: 'The jobs.', schema: { type: 'object', required: ['jobs'], properties: { jobs: { type: 'array', items: ref('ReplayJob') } } } } },
  },
  {
    method: 'GET',
    path: '/replays/jobs/:id/results',
    operationId: 'getReplayJobResults',
    role: 'operator',
    summary: 'A replay job\'s result for each message',
    description: 'In the order the job dealt with them: the message, when, its outcome (delivered, waiting-for-retry, dead, duplicate, removed, parked, failed), the replay\'s id, and why, for one that did not go through.',
    params: JOB_ID,
    querystring: { type: 'object', additionalProperties: false, properties: { offset: { type: 'integer', minimum: 0, default: 0 }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
    responses: { 200: { description: 'One page of results, and how many there are.', schema: ref('ReplayJobResults') }, 404: problem('No such job.') },
  },
  ...(['pause', 'resume', 'cancel'] as const).map((action): OperationSpec => ({
    method: 'POST',
    path: `/replays/jobs/:id/${action}`,
    operationId: `${action}ReplayJob`,
    role: 'operator',
    audit: 'job-control',
    summary: `${action[0]!.toUpperCase()}${action.slice(1)} a replay job`,
    description: 'A paused job replays nothing until resumed; a cancelled one stops for good (what it replayed stays replayed). Audited with who did it (action job-control). A job that has ended, or is already in the state asked for, is answered as it is (`changed: false`).',
    params: JOB_ID,
    headers: [ACTOR],
    responses: { 200: { description: 'The job now.', schema: ref('ReplayJob') }, 404: problem('No such job.') },
  })),
  {
    method: 'POST',
    path: '/replays/count',
    operationId: 'countMessages',
    role: 'operator',
    summary: 'How many messages a bulk filter matches now',
    description: 'What a bulk replay or archive of this filter would take on (dead messages unless the filter says), counted before it is confirmed. `exact` is false when counting took more than 5 s (the count is then a lower bound).',
    body: { type: 'object', additionalProperties: false, required: ['filter'], properties: { filter: { type: 'object', additionalProperties: false, properties: { ...messageFilter, status: { ...messageFilter.status, description: 'Only these statuses (default: dead).' } } } } },
    responses: { 200: { description: 'The count.', schema: { type: 'object', required: ['count', 'exact'], properties: { count: { type: 'integer', minimum: 0 }, exact: { type: 'boolean' } } } }, 400: problem('A bad filter.') },
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
];
