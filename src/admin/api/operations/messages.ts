/**
 * The journal's messages: searching, reading one with its body and timeline, removing one.
 */
import type { OperationSpec } from '../operation.js';
import { ref, text, problem, idParam, messageFilter } from '../schema-parts.js';

export const MESSAGE_OPERATIONS: OperationSpec[] = [
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
    viewerMasks: 'the body\'s `data` (emptied, with `masked: true`; size and sha256 stay), every header\'s value, the correlation id and every error\'s text (which may quote the body)',
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
];
