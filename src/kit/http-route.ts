/**
 * Rules shared by the adapters that take calls over the hub's HTTP server (REST and SOAP sources): how their paths
 * are compared when flows claim them, and how much of an error a caller is told.
 */
import { ERROR_CODES, type HubError } from '../core/errors.js';

/** The path as the server routes it: trailing slashes do not count (the server ignores them). */
export function routePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/**
 * The path as claims compare it: besides trailing slashes, parameter names do not matter (`/orders/:id` and
 * `/orders/:orderId` are one route to the router).
 */
export function normalizePath(path: string): string {
  return routePath(path.replace(/:[A-Za-z_][A-Za-z0-9_]*/g, ':param'));
}

/** The claim key of a plain HTTP route, e.g. "http POST /api/orders/:param". */
export function httpRouteKey(method: string, path: string): string {
  return `http ${method} ${normalizePath(path)}`;
}

/** Paths the hub serves itself (health, readiness, metrics, the admin API and console): no flow may take them. */
export const RESERVED_PATHS = ['/admin', '/healthz', '/readyz', '/metrics'];

/** The reserved path an HTTP claim key ("http POST /admin/x", "soap POST /healthz Op") falls under, if any. */
export function reservedPathOf(claimKey: string): string | undefined {
  const path = claimKey.split(' ').find((part) => part.startsWith('/'));
  if (path === undefined) return undefined;
  return RESERVED_PATHS.find((r) => path === r || path.startsWith(r + '/'));
}

/**
 * The text a caller gets for an error. Client-side codes (`fault: client` in the error table) keep their message:
 * it says what is wrong with the caller's input. Server-side ones get their title and the message id, because the
 * message may name internal hosts, downstream bodies or stack facts; the full error is logged under that id.
 */
export function callerDetail(err: HubError, messageId: string | undefined): string {
  const spec = ERROR_CODES[err.code];
  if (spec.fault === 'client') return err.message;
  return messageId ? `${spec.title}. Quote message id ${messageId} when reporting it.` : `${spec.title}.`;
}
