/**
 * RFC 9457 problem details, built from a HubError and the one error table: the REST source's error answers and the
 * admin API's.
 *
 * What a caller sees depends on whose fault it is: for client-side codes (`fault: client` in the table) `detail` is
 * the error's message, which says what is wrong with the request; for server-side codes it is a fixed sentence,
 * because the message may name internal hosts, downstream bodies or stack facts. The full error is in the log under
 * the same message id.
 */
import type { FastifyError } from 'fastify';
import { ERROR_CODES, hubError, toHubError, type ErrorCode, type HubError } from '../core/errors.js';
import { callerDetail } from './http-route.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The stable `type` URI of a code; the same namespace as the flow schema's `urn:integration-hub:...` ids. */
export function problemType(code: ErrorCode): string {
  return `urn:integration-hub:error:${code}`;
}

export interface ProblemDetailsError {
  /** JSON pointer into the request body (for validation errors). */
  path?: string;
  message: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: ErrorCode;
  /** The message the problem is about (the REST source's inbound message; the admin API's message in the path). */
  messageId?: string;
  /** Whether the hub's journal keeps that message (its id can be looked up), when the hub said. */
  journal?: 'kept' | 'not kept';
  errors?: ProblemDetailsError[];
}

export interface ProblemContext {
  messageId?: string;
  /** The request path (without the query), as the occurrence's `instance`. */
  instance?: string;
}

/** Seconds a client should wait before retrying a retryable 503 (overloaded, stopping). */
export const RETRY_AFTER_SECONDS = 5;

export function toProblem(err: HubError, ctx: ProblemContext): ProblemDetails {
  const spec = ERROR_CODES[err.code];
  const problem: ProblemDetails = {
    type: problemType(err.code),
    title: spec.title,
    status: spec.status,
    detail: callerDetail(err, ctx.messageId),
    ...(ctx.instance ? { instance: ctx.instance } : {}),
    code: err.code,
    ...(ctx.messageId ? { messageId: ctx.messageId } : {}),
    ...(ctx.messageId && err.journal ? { journal: err.journal } : {}),
  };
  const errors = validationErrors(err);
  if (errors) problem.errors = errors;
  return problem;
}

/** Headers that go with a problem answer besides its content type. */
export function problemHeaders(err: HubError): Record<string, string> {
  if (!err.retryable) return {};
  const status = ERROR_CODES[err.code].status;
  if (status === 429) return { 'retry-after': String(retryAfterOf(err) ?? RETRY_AFTER_SECONDS) };
  return status === 503 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {};
}

/** The seconds an error says to wait (`details.retryAfterSeconds`, as the throttle step gives), if it says. */
function retryAfterOf(err: HubError): number | undefined {
  const seconds = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds > 0 ? Math.ceil(seconds) : undefined;
}

/** `details.errors` of a client-side error (the validate step's schema errors), cleaned to `{ path, message }`. */
function validationErrors(err: HubError): ProblemDetailsError[] | undefined {
  if (ERROR_CODES[err.code].fault !== 'client') return undefined;
  const details = err.details as { errors?: unknown } | undefined;
  if (!details || typeof details !== 'object' || !Array.isArray(details.errors)) return undefined;
  const out: ProblemDetailsError[] = [];
  for (const e of details.errors as unknown[]) {
    if (!e || typeof e !== 'object') continue;
    const { path, message } = e as { path?: unknown; message?: unknown };
    if (typeof message !== 'string') continue;
    out.push(typeof path === 'string' ? { path, message } : { message });
  }
  return out;
}

/** fastify's own errors (body too large, bad content length ...) and anything thrown, as a HubError. */
export function fromFastifyError(error: unknown): HubError {
  const e = error as Partial<FastifyError> | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('FST_')) {
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) return hubError('BODY_TOO_LARGE', 'the request body is larger than the hub accepts', { cause: error });
    if (e.statusCode === 415) return hubError('UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported media type', { cause: error });
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return hubError('BAD_REQUEST', e.message ?? 'bad request', { cause: error });
  }
  return toHubError(error);
}
