/**
 * Logging in and out, and who the caller is.
 */
import type { OperationSpec } from '../operation.js';
import { ref, problem } from '../schema-parts.js';

export const SESSION_OPERATIONS: OperationSpec[] = [
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
];
