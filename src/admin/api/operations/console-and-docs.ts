/**
 * What the admin serves besides data: this API's OpenAPI document, the console's page and its files.
 */
import { ADMIN_ROOT, CONSOLE_ASSET_NAME } from '../constants.js';
import type { OperationSpec } from '../operation.js';
import { text, problem } from '../schema-parts.js';

export const CONSOLE_AND_DOCS_OPERATIONS: OperationSpec[] = [
  {
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    role: 'viewer',
    summary: 'This document',
    responses: { 200: { description: 'The OpenAPI 3.1 document of the admin API.', schema: { type: 'object' } } },
  },
  {
    method: 'GET',
    path: '/docs',
    prefix: '/admin',
    operationId: 'getDocs',
    summary: 'This document, rendered',
    description: 'The admin API\'s reference as a page (swagger-ui, served by the hub from its own files: no CDN), reading /admin/api/openapi.json. A client that accepts JSON and not HTML gets the JSON document itself.',
    role: 'viewer',
    responses: { 200: { description: 'The page, or the OpenAPI 3.1 document of the admin API.', content: { 'text/html': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object' } } } } },
  },
  {
    method: 'GET',
    path: '/docs/assets/:file',
    prefix: '/admin',
    operationId: 'getDocsAsset',
    summary: 'A file of the rendered reference',
    description: 'swagger-ui\'s script and style sheet (from swagger-ui-dist) and the page\'s own script.',
    role: 'public',
    params: { type: 'object', required: ['file'], additionalProperties: false, properties: { file: { type: 'string', pattern: '^[a-z][a-z0-9.-]{0,63}$', description: 'swagger-ui.css, swagger-ui-bundle.js or docs-init.js.' } } },
    responses: { 200: { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } }, 404: problem('No such file.') },
  },
  {
    method: 'GET',
    path: '/',
    prefix: ADMIN_ROOT,
    operationId: 'getConsole',
    summary: 'The admin console',
    description: 'The web console\'s page (HTML). It logs in with POST /admin/api/session and shows only what the API answers the logged-in user; the page itself holds no data. Built by npm run build from src/admin/console/.',
    role: 'public',
    responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, 404: problem('The console was not built (npm run build).') },
  },
  {
    method: 'GET',
    path: '/assets/:file',
    prefix: ADMIN_ROOT,
    operationId: 'getConsoleAsset',
    summary: 'A script or style sheet of the admin console',
    description: 'JavaScript modules (text/javascript) and the style sheet (text/css) of the console, served as files since the Content-Security-Policy allows no inline script or style.',
    role: 'public',
    params: { type: 'object', required: ['file'], additionalProperties: false, properties: { file: { type: 'string', pattern: CONSOLE_ASSET_NAME, description: 'A file name: app.js, console.css, ...' } } },
    responses: {
      200: { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
      400: problem('Not a console file name.'),
      404: problem('No such file.'),
    },
  },
];
