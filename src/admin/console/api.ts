/**
 * The console's calls to the admin API (/admin/api): JSON in and out, the session cookie sent by the browser, and
 * the session's CSRF token as X-CSRF-Token on every change. Errors come back as the API's problems.
 */

import type { Answers, Bodies, Session } from './api-types.js';

// The shapes of the API's answers and bodies, written from its description (src/admin/api/) into api-types.ts.
export type * from './api-types.js';

export type Role = Session['role'];

/** What an operation answers (its JSON body), by operationId. */
export type Answer<Id extends keyof Answers> = Answers[Id];
/** What an operation takes as its JSON body, by operationId. */
export type Body<Id extends keyof Bodies> = Bodies[Id];

export const API = '/admin/api';

/** A problem answer of the API (application/problem+json), or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: { path?: string; message: string }[] = [],
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;
let onUnauthorized: (() => void) | undefined;

export function setSession(session: Session | undefined): void {
  csrfToken = session?.csrfToken;
}

/** What to do when a call answers 401 (the session ended): the app shows the login again. */
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

export async function call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const h: Record<string, string> = { accept: 'application/json', ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) h['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(API + path, { method, headers: h, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new ApiError(0, 'UNREACHABLE', `the hub cannot be reached (${(err as Error).message})`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const p = (json ?? {}) as { code?: string; detail?: string; title?: string; errors?: { path?: string; message: string }[] };
    if (res.status === 401 && path !== '/session' && onUnauthorized) onUnauthorized();
    throw new ApiError(res.status, p.code ?? `HTTP_${res.status}`, p.detail ?? p.title ?? `${method} ${path} answered ${res.status}`, Array.isArray(p.errors) ? p.errors : []);
  }
  return json as T;
}

/** A query string from the set values. */
export function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A fresh key for one intended replay: a double click sends the same key, so the hub replays once. */
export function idempotencyKey(): string {
  return `console-${crypto.randomUUID()}`;
}
