/**
 * Pieces of JSON Schema that several operations share: a reference to a component, bounded text, a date, the
 * headers the audit and replay read, the path parameters, the message filter, and a problem answer.
 */
import type { JsonSchema } from '../../core/contracts.js';
import { MESSAGE_STATUSES } from '../../journal/contract.js';
import type { HeaderSpec, ResponseSpec } from './operation.js';

/** A reference to one of COMPONENTS, as the document writes it. */
export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
export const iso = (description: string): JsonSchema => ({ type: 'string', format: 'date-time', description });
export const text = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', minLength: 1, maxLength: 1000, description, ...extra });

/** An application/problem+json answer. */
export const problem = (description: string): ResponseSpec => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });

const header = (name: string, description: string): HeaderSpec => ({ name, schema: { type: 'string', minLength: 1, maxLength: 200 }, description });
export const ACTOR = header('X-Hub-Actor', 'Who is asking, for the audit, when the caller is the bearer token (recorded as "token:<actor>"). A session\'s actor is its user, whatever this says.');
export const PREFER = header('Prefer', '`respond-async`: answer 202 with a job at once (as `background: true` does) instead of when every replay is done.');
export const IDEMPOTENCY_KEY = header('Idempotency-Key', 'A key per intended replay: the same key submitted again sends nothing and answers with the earlier replay. Without it, a hash of the request is the key, so the same request twice replays once.');

export const flowParam: JsonSchema = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 200, description: 'A flow\'s name.' } } };

export const idParam: JsonSchema = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 512, description: 'A message id.' } } };

/** What GET /messages and POST /replays filter by. */
export const messageFilter = {
  flow: text('Only this flow.'),
  status: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 20, description: `Only these statuses (${MESSAGE_STATUSES.join(', ')}): repeat the parameter or separate by commas.` },
  from: iso('Received at or after this time.'),
  to: iso('Received before this time.'),
  errorCode: text('The last error\'s code, e.g. DOWNSTREAM_UNAVAILABLE.'),
  errorStep: text('The last error\'s step, e.g. "2:to".'),
  errorText: text('A case-insensitive part of the last error\'s message.'),
} satisfies Record<string, JsonSchema>;
