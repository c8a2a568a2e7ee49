/**
 * What one operation of the admin API is: its method and path, parameters, request body and answers in JSON
 * Schema (2020-12, as OpenAPI 3.1 uses it), the role it needs and the requests that need more. routes.ts registers
 * one route per operation and validates requests with these very schemas, security.ts checks the caller's role
 * against `role` and `elevate`, and document.ts writes the same entries into the served OpenAPI document, so the
 * document and the behaviour cannot drift apart.
 */
import type { JsonSchema } from '../../core/contracts.js';
import type { AuditAction } from '../audit.js';
import { ADMIN_PREFIX, type AdminRole } from './constants.js';

export type OperationId =
  | 'createSession'
  | 'getSession'
  | 'deleteSession'
  | 'createLoginLink'
  | 'redeemLoginLink'
  | 'listFlows'
  | 'streamEvents'
  | 'pauseFlow'
  | 'resumeFlow'
  | 'reloadFlows'
  | 'traceFlow'
  | 'listMessages'
  | 'getMessage'
  | 'getMessageBody'
  | 'deleteMessage'
  | 'replayMessage'
  | 'checkReplay'
  | 'replayMany'
  | 'getReplayJob'
  | 'archiveMessage'
  | 'archiveDeadLetters'
  | 'listReplays'
  | 'listReplayJobs'
  | 'getReplayJobResults'
  | 'pauseReplayJob'
  | 'resumeReplayJob'
  | 'cancelReplayJob'
  | 'countMessages'
  | 'getDocsAsset'
  | 'listDeadLetters'
  | 'listAudit'
  | 'getOpenApi'
  | 'getDocs'
  | 'getConsole'
  | 'getConsoleAsset'
  | 'listCompareReports'
  | 'getCompareReport';

export interface ResponseSpec {
  description: string;
  /** A schema of an application/json answer; a media-type map for anything else. */
  schema?: JsonSchema;
  content?: Record<string, { schema: JsonSchema }>;
}

export interface HeaderSpec {
  name: string;
  schema: JsonSchema;
  description: string;
}

/** A request that needs a higher role than its operation's: `applies` sees the validated body. */
export interface RoleRule {
  role: AdminRole;
  /** What the document says. */
  when: string;
  applies: (body: Record<string, unknown>) => boolean;
}

export interface OperationSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path under `prefix`, fastify style (`/messages/:id`). */
  path: string;
  /** Where `path` is (default ADMIN_PREFIX); it must be under ADMIN_ROOT. */
  prefix?: string;
  operationId: OperationId;
  summary: string;
  description?: string;
  /** The least role that may call it; `public` only for logging in and the console's own files (which hold no data). */
  role: AdminRole | 'public';
  /** Requests of this operation that need more. */
  elevate?: RoleRule[];
  /** What a viewer gets masked in the answer. */
  viewerMasks?: string;
  /** The change it makes, recorded in the admin audit (refusals too). */
  audit?: AuditAction;
  params?: JsonSchema;
  querystring?: JsonSchema;
  headers?: HeaderSpec[];
  body?: JsonSchema;
  responses: Record<number, ResponseSpec>;
}

/** Methods that change something: with a session they need the CSRF token, and a same-origin Origin/Referer when one is sent. */
export function isStateChanging(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/** The whole path of an operation, fastify style: `/admin/api/messages/:id`. */
export function fullPath(op: Pick<OperationSpec, 'path' | 'prefix'>): string {
  return (op.prefix ?? ADMIN_PREFIX) + op.path;
}

/** `/messages/:id` as OpenAPI writes it: `/admin/api/messages/{id}`. */
export function openApiPath(path: string, prefix: string = ADMIN_PREFIX): string {
  return prefix + path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}
