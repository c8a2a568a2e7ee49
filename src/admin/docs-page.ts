/**
 * /admin/docs: the admin API's reference rendered by swagger-ui (swagger-ui-dist), served by the hub from its own
 * files (no CDN, so it works on a machine without outside network and under the admin's CSP, which allows no inline
 * script). The JSON document stays beside it (/admin/api/openapi.json); a client that does not ask for HTML (no
 * text/html in its Accept: curl, tools) gets the JSON.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The files of swagger-ui-dist the page uses, and the page's own script. */
const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'docs-init.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Integration hub: admin API reference</title>
  <link rel="stylesheet" href="/admin/docs/assets/swagger-ui.css">
</head>
<body>
  <p><a href="/admin">admin console</a> · <a href="/admin/api/openapi.json" id="openapi-json">the OpenAPI document (JSON)</a></p>
  <div id="swagger-ui"></div>
  <script src="/admin/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/admin/docs/assets/docs-init.js"></script>
</body>
</html>
`;

const INIT = `// Renders /admin/api/openapi.json with swagger-ui: a file, since the admin's CSP allows no inline script.
window.addEventListener('load', function () {
  window.SwaggerUIBundle({ url: '/admin/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
});
`;

export class DocsPage {
  readonly #dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  readonly #cache = new Map<string, Buffer>();

  page(): { contentType: string; data: string } {
    return { contentType: 'text/html; charset=utf-8', data: PAGE };
  }

  /** One of the page's files, or undefined for any other name. */
  async asset(name: string): Promise<{ contentType: string; data: Buffer | string } | undefined> {
    const contentType = FILES[name];
    if (!contentType) return undefined;
    if (name === 'docs-init.js') return { contentType, data: INIT };
    let data = this.#cache.get(name);
    if (!data) this.#cache.set(name, (data = await readFile(join(this.#dir, name))));
    return { contentType, data };
  }
}

/** True when the request wants the JSON document rather than the page: a browser asks for text/html, tools do not. */
export function wantsJson(accept: string | undefined): boolean {
  return accept === undefined || !/text\/html/i.test(accept);
}
