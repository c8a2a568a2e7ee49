/**
 * Logging in and out, and who the caller is.
 */
import { ADMIN_ROOT } from '../constants.js';
import type { OperationSpec } from '../operation.js';
import { ref, problem } from '../schema-parts.js';

export const SESSION_OPERATIONS: OperationSpec[] = [
  {
    method: 'POST',
    path: '/session',
    operationId: 'createSession',
    summary: 'Log in',
    description:
      'Checks a user of hub.yaml (`admin.users`) and starts a session: the answer sets the session cookie (`hub_session`, HttpOnly, Secure, SameSite=Strict, Path=/admin) and carries the CSRF token to send as X-CSRF-Token with every POST, PUT, PATCH and DELETE of the session. An unknown name and a wrong password get the same 401. Failed logins are limited per name and address (5 a minute: that name from that address gets 429 with Retry-After), per address (20 a minute) and per name (100 in 15 minutes, out of one address\'s reach), so one address cannot lock a user out for everyone.',
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
      429: problem('Too many failed logins for this name from this address, from this address, or for this name; try again after Retry-After seconds.'),
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
    method: 'POST',
    path: '/session/links',
    operationId: 'createLoginLink',
    summary: 'Make a one-time login link',
    description:
      'A link to the console (`/admin/login?code=...`) that opens an admin session for whoever opens it first, within 15 minutes, once. `hub admin login-link` asks for one with the admin token; the hub prints one at every start when it made its own token.',
    role: 'admin',
    responses: {
      200: {
        description: 'The link.',
        schema: { type: 'object', additionalProperties: false, required: ['url', 'expiresAt'], properties: { url: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } } },
      },
    },
  },
  {
    method: 'GET',
    path: '/login',
    prefix: ADMIN_ROOT,
    operationId: 'redeemLoginLink',
    summary: 'Log in with a one-time link',
    description:
      'Opens an admin session (user `login-link`) with the code of a one-time login link, uses the link up, sets the session cookie and sends the browser on to the console. An unknown, used or expired code is a 401; 20 unusable codes a minute from one address get 429.',
    role: 'public',
    querystring: { type: 'object', additionalProperties: false, required: ['code'], properties: { code: { type: 'string', minLength: 1, maxLength: 200 } } },
    responses: {
      303: { description: 'Logged in: the session cookie is set, and Location is the console.' },
      400: problem('No code.'),
      401: problem('The code is unknown, used already, or expired.'),
      429: problem('Too many unusable codes from this address; try again after Retry-After seconds.'),
    },
  },
];
