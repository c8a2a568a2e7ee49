import type { StepRegistration } from '../../core/contracts.js';
import { PermanentError } from '../../core/errors.js';
import { compileTemplate, type CompiledTemplate } from '../../kit/expression.js';
import { describe, issueCounter, objectConfig, unusableStep } from '../shared.js';

export type SetHeadersConfig = Record<string, string | number | boolean | null>;

/** An HTTP header name: an RFC 9110 token. */
const TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const TOKEN_RE = new RegExp(TOKEN);
/** What a header value may not contain: a line break would let a message inject headers of its own. */
const UNSAFE_VALUE = /[\r\n\0]/;

const setHeaders: StepRegistration<SetHeadersConfig> = {
  name: 'set_headers',
  description: 'Sets or removes headers. Each value is a template whose {{ }} parts are JSONata over the body; null removes the header.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Header name to value. Names are HTTP header names, stored lower-case; values are templates (`{{ expression }}` parts are JSONata over the body with $headers, $meta and $id bound); null removes the header.',
    minProperties: 1,
    additionalProperties: false,
    patternProperties: {
      [TOKEN]: {
        type: ['string', 'number', 'boolean', 'null'],
        description: 'The header value: text with optional {{ JSONata }} parts; numbers and booleans are written as text; null removes the header.',
        examples: ['{{ orderId }}', 'Bearer {{ $headers."x-token" }}', 'v1', null],
      },
    },
    examples: [{ 'x-order-id': '{{ orderId }}', 'x-source': 'erp', 'x-internal-token': null }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const entries: { name: string; template: CompiledTemplate | null }[] = [];
    const seen = new Map<string, string>();
    for (const [key, value] of Object.entries(objectConfig(config, issues.report))) {
      const name = key.toLowerCase();
      if (!TOKEN_RE.test(key)) {
        issues.report({ path: [key], message: `"${key}" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_\`|~ only; no spaces or colons)` });
        continue;
      }
      const earlier = seen.get(name);
      if (earlier !== undefined) issues.report({ path: [key], message: `header "${key}" is already set as "${earlier}" (header names ignore case)` });
      seen.set(name, key);
      if (value === null) {
        entries.push({ name, template: null });
      } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        const text = String(value);
        if (UNSAFE_VALUE.test(text)) issues.report({ path: [key], message: 'a header value cannot contain line breaks or NUL' });
        entries.push({ name, template: compileTemplate(text, [key], issues.report) });
      } else {
        issues.report({ path: [key], message: `must be a text template or null (to remove the header), got ${describe(value)}` });
      }
    }
    if (issues.errors) return unusableStep('set_headers');

    return async (message) => {
      const headers: Record<string, string> = { ...message.headers };
      for (const { name, template } of entries) {
        if (!template) {
          delete headers[name];
          continue;
        }
        const value = await template.render(message);
        if (UNSAFE_VALUE.test(value)) {
          throw new PermanentError('TEMPLATE_FAILED', `header "${name}" would contain a line break or NUL from template \`${template.source}\`; header values must be one line`);
        }
        headers[name] = value;
      }
      return [message.with({ headers })];
    };
  },
};

export default setHeaders;
