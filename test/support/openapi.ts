import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { ADMIN_PREFIX } from '../../src/admin/api/constants.js';
import { openApiDocument } from '../../src/admin/api/document.js';
import { openApiPath } from '../../src/admin/api/operation.js';

type Check = (method: string, path: string, res: LightMyRequestResponse) => void;

/**
 * Checks an admin API answer against the OpenAPI document's schema for that operation and status (the JSON and
 * problem+json ones; streams and raw bodies are only checked to be documented). Tests call it on every answer they
 * get, so a route whose answer drifts from /admin/docs fails the test that exercised it.
 */
export function docChecker(): Check {
  const doc = openApiDocument('test') as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>; components: { schemas: Record<string, object> } };
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  const rewrite = (s: object): object => JSON.parse(JSON.stringify(s).replaceAll('#/components/schemas/', 'https://hub.test/admin-components#/$defs/')) as object;
  ajv.addSchema({ $id: 'https://hub.test/admin-components', $defs: rewrite(doc.components.schemas) });
  // A concrete path (/messages/01J.../replay?x=1) finds its template; literal segments beat parameters.
  const templates = Object.keys(doc.paths).map((t) => ({ t, parts: t.split('/') })).sort((a, b) => a.t.split('{').length - b.t.split('{').length);
  const templateOf = (path: string): string | undefined => {
    const parts = path.split('?')[0]!.split('/');
    return templates.find((c) => c.parts.length === parts.length && c.parts.every((p, i) => (p.startsWith('{') ? parts[i] !== '' : p === parts[i])))?.t;
  };
  return (method, path, res) => {
    const full = path.startsWith('/admin') ? path : ADMIN_PREFIX + path;
    const op = doc.paths[path.includes(':') ? openApiPath(path.replace(ADMIN_PREFIX, '')) : (templateOf(full) ?? full)]?.[method.toLowerCase()];
    expect(op, `${method} ${path} is in the document`).toBeDefined();
    const response = op!.responses[String(res.statusCode)];
    expect(response, `${method} ${path} documents status ${res.statusCode}`).toBeDefined();
    const [type, media] = Object.entries(response!.content ?? {})[0] ?? [];
    if (!type || !media) return;
    if (type === 'application/json' || type === 'application/problem+json') {
      expect(res.headers['content-type']).toContain(type);
      const validate = ajv.compile(rewrite(media.schema));
      const ok = validate(res.json());
      expect(ok, `${method} ${path} ${res.statusCode} matches the document: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  };
}
