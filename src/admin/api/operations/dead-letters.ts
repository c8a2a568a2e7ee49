/**
 * Dead letters: their groups, and archiving one dead message or a whole group.
 */
import { BULK_DEFAULT, BULK_MAX } from '../constants.js';
import type { OperationSpec } from '../operation.js';
import { ref, text, problem, ACTOR, idParam } from '../schema-parts.js';

export const DEAD_LETTER_OPERATIONS: OperationSpec[] = [
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
    path: '/dead-letters',
    operationId: 'listDeadLetters',
    role: 'viewer',
    summary: 'Dead letters grouped by flow, step and error code',
    querystring: { type: 'object', additionalProperties: false, properties: { flow: text('Only this flow.') } },
    responses: { 200: { description: 'The groups, largest first.', schema: { type: 'object', required: ['groups'], properties: { groups: { type: 'array', items: ref('DeadLetterGroup') } } } } },
  },
];
