/**
 * The admin audit log: logins, logouts and every change made through the admin API.
 */
import { AUDIT_ACTIONS } from '../../audit.js';
import type { OperationSpec } from '../operation.js';
import { ref, problem } from '../schema-parts.js';

export const AUDIT_OPERATIONS: OperationSpec[] = [
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
