import { ATTRIBUTE_PREFIX, TEXT_KEY, buildXml } from '../../core/codec.js';
import type { StepRegistration } from '../../core/contracts.js';
import { PermanentError } from '../../core/errors.js';
import { describe, issueCounter, objectConfig, unusableStep } from '../shared.js';

export interface JsonToXmlConfig {
  root?: string;
  namespace?: string;
  declaration?: boolean;
}

/** An XML element name, optionally prefixed (ASCII and Unicode letters; close enough to the XML Name production). */
const XML_NAME = /^[\p{L}_][\p{L}\p{N}_.-]*(?::[\p{L}_][\p{L}\p{N}_.-]*)?$/u;

const jsonToXml: StepRegistration<JsonToXmlConfig> = {
  name: 'json_to_xml',
  description: 'Serializes the JSON body as XML (application/xml): keys become elements, "@_name" keys attributes, "#text" text.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Turn the JSON body into an XML body. The body needs exactly one top-level key (the root element) unless `root` names one.',
    additionalProperties: false,
    properties: {
      root: {
        type: 'string',
        pattern: '^[A-Za-z_][\\w.-]*(:[A-Za-z_][\\w.-]*)?$',
        description: 'Name of a root element to wrap the whole body in. Needed when the body has several top-level keys or is not an object.',
        examples: ['Order', 'ord:Order'],
      },
      namespace: {
        type: 'string',
        minLength: 1,
        description: 'Namespace URI put on the root element as xmlns (or xmlns:prefix when the root name has a prefix).',
        examples: ['urn:example:orders:v1'],
      },
      declaration: {
        type: 'boolean',
        default: false,
        description: 'Start the document with <?xml version="1.0" encoding="UTF-8"?>.',
      },
    },
    examples: [{}, { root: 'Order', namespace: 'urn:example:orders:v1', declaration: true }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const root = c.root;
    if (root !== undefined && (typeof root !== 'string' || !XML_NAME.test(root))) {
      issues.report({ path: ['root'], message: `must be an XML element name such as "Order" or "ord:Order", got ${JSON.stringify(root)}` });
    }
    if (c.namespace !== undefined && (typeof c.namespace !== 'string' || c.namespace === '')) {
      issues.report({ path: ['namespace'], message: 'must be a namespace URI, e.g. "urn:example:orders:v1"' });
    }
    if (c.declaration !== undefined && typeof c.declaration !== 'boolean') issues.report({ path: ['declaration'], message: 'must be true or false' });
    if (issues.errors) return unusableStep('json_to_xml');
    const namespace = c.namespace as string | undefined;
    const declaration = c.declaration === true;

    return (message) => {
      const body = message.json();
      const tree = rootElement(root === undefined ? body : { [root as string]: body });
      checkNames(tree.value, tree.name);
      const value = namespace === undefined ? tree.value : withNamespace(tree.value, tree.name, namespace);
      const xml = buildXml({ [tree.name]: value }, { declaration });
      return [message.with({ body: xml, headers: { ...message.headers, 'content-type': 'application/xml' } })];
    };
  },
};

/** The one root element the document gets; XML has exactly one, so anything else is refused with the way out. */
function rootElement(tree: unknown): { name: string; value: unknown } {
  const keys = tree !== null && typeof tree === 'object' && !Array.isArray(tree) ? Object.keys(tree) : [];
  if (keys.length !== 1) {
    const what = keys.length > 1 ? `an object with ${keys.length} top-level keys (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''})` : describe(tree);
    throw new PermanentError('BAD_REQUEST', `json_to_xml needs a body with exactly one top-level key to be the root element, but it is ${what}; set \`root\` on the step to wrap it in one`);
  }
  const name = keys[0]!;
  const value = (tree as Record<string, unknown>)[name];
  if (Array.isArray(value)) {
    throw new PermanentError('BAD_REQUEST', `json_to_xml cannot make the array "${name}" the root element (XML has one root); wrap it with \`root\` or reshape it in a transform step first`);
  }
  return { name, value };
}

/** Refuses keys that would make malformed XML, rather than handing a sink a document its peer cannot parse. */
function checkNames(value: unknown, name: string): void {
  if (!XML_NAME.test(name)) throw new PermanentError('BAD_REQUEST', `"${name}" is not a valid XML element name; rename it in a transform step before json_to_xml`);
  if (Array.isArray(value)) {
    for (const item of value) checkNames(item, name);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === TEXT_KEY) continue;
      if (key.startsWith(ATTRIBUTE_PREFIX)) {
        const attribute = key.slice(ATTRIBUTE_PREFIX.length);
        if (!XML_NAME.test(attribute)) throw new PermanentError('BAD_REQUEST', `"${attribute}" (from key "${key}") is not a valid XML attribute name`);
      } else checkNames(child, key);
    }
  }
}

function withNamespace(value: unknown, rootName: string, namespace: string): unknown {
  const colon = rootName.indexOf(':');
  const attribute = `${ATTRIBUTE_PREFIX}${colon === -1 ? 'xmlns' : `xmlns:${rootName.slice(0, colon)}`}`;
  if (value !== null && typeof value === 'object') return { ...value, [attribute]: namespace };
  return value === null || value === undefined ? { [attribute]: namespace } : { [attribute]: namespace, [TEXT_KEY]: value };
}

export default jsonToXml;
