/**
 * The console's calls to the admin API (/admin/api): JSON in and out, the session cookie sent by the browser, and
 * the session's CSRF token as X-CSRF-Token on every change. Errors come back as the API's problems.
 */

export type Role = 'viewer' | 'operator' | 'admin';

export interface Session {
  user: string;
  role: Role;
  via: 'session' | 'token' | 'loopback';
  csrfToken?: string;
}

export interface ErrorInfo {
  code: string;
  message: string;
  step?: string;
}

export interface MessageSummary {
  id: string;
  correlationId?: string;
  flow: string;
  source: string;
  receivedAt: string;
  updatedAt: string;
  status: string;
  attempts: number;
  lastError?: ErrorInfo;
  replayOf?: string;
}

export interface TimelineEvent {
  type: string;
  at: string;
  attempt?: number;
  step?: string;
  error?: ErrorInfo;
  dueAt?: string;
  detail?: string;
}

export interface MessageRecord extends MessageSummary {
  headers: Record<string, string>;
  body: { encoding: 'utf8' | 'base64'; data: string; size: number; truncated: boolean; sha256: string; masked?: boolean };
  timeline: TimelineEvent[];
  replayedAs: string[];
}

export interface Page<T> {
  items: T[];
  next?: string;
}

export interface FlowInfo {
  name: string;
  description?: string;
  source: { adapter: string; requestReply: boolean };
  sinks: { name: string; adapter: string; requestReply: boolean }[];
  steps: string[];
  journal: { record: string; bodyBytes: number };
  ready: boolean;
  state: 'running' | 'paused';
  paused?: { at: string; by: string; held: number };
  rate: { perSecond: number; p99Ms?: number; samples: number; windowSeconds: number };
  stats: { received: number; completed: number; failed: number; inFlight: number; waiting: number; dead: number; retried: number; lastError?: ErrorInfo & { at?: string; messageId?: string } };
}

export interface DeadLetterGroup {
  flow: string;
  step: string;
  code: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface ReplayRecord {
  requestKey: string;
  originalId: string;
  newId: string;
  flow: string;
  by: string;
  at: string;
  target: { to: string; step?: string; sink?: string };
  edited: boolean;
  note?: string;
}

export interface ReplayResult {
  replay: ReplayRecord;
  newId: string;
  duplicate: boolean;
  outcome?: 'delivered' | 'waiting-for-retry' | 'dead';
  error?: ErrorInfo;
}

export interface ReplayCheck {
  ok: boolean;
  schema?: string;
  errors: { path: string; message: string }[];
}

export interface ArchiveResult {
  id: string;
  status: 'archived';
  removableFrom?: string;
}

export interface GroupArchiveResult {
  matched: number;
  capped: boolean;
  archived: number;
  failed: { id: string; reason: string }[];
  keepMs?: number;
}

export interface BulkReplayResult {
  matched: number;
  capped: boolean;
  replayed: number;
  duplicates: number;
  outcomes: { delivered: number; 'waiting-for-retry': number; dead: number };
  failed: { id: string; reason: string }[];
}

/** A bulk replay running on in the hub (POST /replays with `background: true`): its counts so far. */
export interface ReplayJob extends BulkReplayResult {
  id: string;
  state: 'running' | 'finished' | 'failed';
  by: string;
  startedAt: string;
  finishedAt?: string;
  done: number;
  error?: string;
}

export interface AuditEntry {
  seq: number;
  at: string;
  action: string;
  outcome: string;
  actor: string;
  role?: string;
  client: string;
  target?: string;
  status?: number;
  detail?: string;
}

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
