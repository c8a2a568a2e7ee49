/**
 * The OpenAPI 3.1 document of the admin API (GET /admin/api/openapi.json and /admin/docs), assembled from the
 * operations and the components: each operation's parameters, body and answers, the problems every guarded
 * operation may answer, who may call it, and the security schemes.
 */
import type { JsonSchema } from '../../core/contracts.js';
import { COMPONENTS } from './components.js';
import { ADMIN_ROLES, CSRF_HEADER, ROLE_DESCRIPTIONS, SESSION_COOKIE } from './constants.js';
import { isStateChanging, openApiPath, type OperationSpec, type ResponseSpec } from './operation.js';
import { OPERATIONS } from './operations/index.js';
import { problem } from './schema-parts.js';

/** What every operation but the public ones may answer, besides its own answers. */
const COMMON_PROBLEMS: Record<number, ResponseSpec> = {
  401: problem('No valid session (cookie) or bearer token: log in with POST /admin/api/session, or send Authorization: Bearer <token>.'),
  403: problem('The caller\'s role does not allow this request; a state-changing request with a session lacks the X-CSRF-Token or comes from another origin; or, with no users and no token configured, the client is not on the hub\'s machine. Nothing was changed.'),
  503: problem('The journal cannot be reached.'),
};

/** What the document says about who may call an operation. */
function roleText(op: OperationSpec): string {
  if (op.role === 'public') return 'No login needed.';
  const rules = (op.elevate ?? []).map((r) => ` Role ${r.role} for ${r.when}.`).join('');
  const masks = op.viewerMasks ? ` A viewer gets ${op.viewerMasks} masked.` : '';
  return `Role ${op.role} or higher.${rules}${masks}`;
}

/** The OpenAPI 3.1 document of the admin API, built from OPERATIONS and COMPONENTS. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = [];
    for (const [name, schema] of Object.entries((op.params?.properties ?? {}) as Record<string, JsonSchema>)) parameters.push({ name, in: 'path', required: true, schema });
    for (const [name, schema] of Object.entries((op.querystring?.properties ?? {}) as Record<string, JsonSchema>)) {
      parameters.push({ name, in: 'query', required: false, ...(schema.type === 'array' ? { style: 'form', explode: true } : {}), schema });
    }
    for (const h of op.headers ?? []) parameters.push({ name: h.name, in: 'header', required: false, description: h.description, schema: h.schema });
    const responses: Record<string, unknown> = {};
    const common = op.role === 'public' ? {} : COMMON_PROBLEMS;
    for (const [status, r] of Object.entries({ ...op.responses, ...common })) {
      const content = r.content ?? (r.schema ? { 'application/json': { schema: r.schema } } : undefined);
      responses[status] = { description: r.description, ...(content ? { content } : {}) };
    }
    const session = isStateChanging(op.method) ? { session: [], csrfToken: [] } : { session: [] };
    (paths[openApiPath(op.path, op.prefix)] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      description: [op.description, roleText(op)].filter(Boolean).join('\n\n'),
      'x-required-role': op.role,
      ...(op.elevate?.length ? { 'x-role-rules': op.elevate.map((r) => ({ role: r.role, when: r.when })) } : {}),
      ...(op.viewerMasks ? { 'x-viewer-masks': op.viewerMasks } : {}),
      security: op.role === 'public' ? [{}] : [{ adminToken: [] }, session],
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: false, content: { 'application/json': { schema: op.body } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'integration-hub admin API',
      version,
      description: [
        'Flows, the message journal, dead letters and replay. JSON in and out; errors are application/problem+json.',
        'Who may call: a user of hub.yaml (`admin.users`) logged in with POST /admin/api/session (a session cookie; every POST, PUT, PATCH and DELETE of the session also sends the X-CSRF-Token the login gave, and a same-origin Origin/Referer if any), or a bearer token (`admin.token`, HUB_ADMIN_TOKEN: role admin, for the CLI and automation). With neither users nor a token configured, `hub run` makes a token at first start and keeps it in its state folder (state_dir/admin-token, readable by the hub\'s user only), where the CLI of that user finds it, and prints a one-time login link (GET /admin/login?code=...) for the console; no client is admin for being on the hub\'s machine.',
        `Roles (\`x-required-role\` of each operation; \`x-role-rules\` name requests that need more): ${ADMIN_ROLES.map((r) => `${r}: ${ROLE_DESCRIPTIONS[r]}`).join('; ')}.`,
      ].join('\n\n'),
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ adminToken: [] }, { session: [] }],
    paths,
    components: {
      schemas: COMPONENTS,
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'admin.token in hub.yaml, or HUB_ADMIN_TOKEN: role admin.' },
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'The session cookie POST /admin/api/session sets; the user\'s role from hub.yaml.' },
        csrfToken: { type: 'apiKey', in: 'header', name: CSRF_HEADER, description: 'The `csrfToken` of the session (from the login, or GET /admin/api/session): needed with the session cookie on every POST, PUT, PATCH and DELETE.' },
      },
    },
  };
}
