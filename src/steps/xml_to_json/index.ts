import type { StepRegistration } from '../../core/contracts.js';
import { PermanentError } from '../../core/errors.js';
import { issueCounter, objectConfig, unusableStep, xmlToValue } from '../shared.js';

export interface XmlToJsonConfig {
  strip_namespaces?: boolean;
  parse_values?: boolean;
  always_array?: string[];
}

const xmlToJson: StepRegistration<XmlToJsonConfig> = {
  name: 'xml_to_json',
  description: 'Parses an XML body into JSON: elements become keys, attributes "@_name" keys, mixed text "#text". DOCTYPEs and entities are refused.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Turn the XML body into a JSON body, so later steps (validate, transform, route) can read it. `{}` takes the defaults.',
    additionalProperties: false,
    properties: {
      strip_namespaces: {
        type: 'boolean',
        default: true,
        description: 'Drop namespace prefixes and xmlns attributes: <soap:Body> becomes "Body". Set false to keep "soap:Body".',
      },
      parse_values: {
        type: 'boolean',
        default: true,
        description: 'Turn numeric and boolean text and attributes into JSON numbers and booleans ("42" becomes 42; "007" stays a string). Set false to keep every value a string.',
      },
      always_array: {
        type: 'array',
        items: { type: 'string', minLength: 1, description: 'An element name (without namespace prefix when strip_namespaces is on).' },
        uniqueItems: true,
        default: [],
        description: 'Element names that are always JSON arrays, even when they occur once, so expressions over repeated elements work for a single one too.',
        examples: [['Line', 'Item']],
      },
    },
    examples: [{}, { always_array: ['Line'] }, { strip_namespaces: false, parse_values: false }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    for (const key of ['strip_namespaces', 'parse_values'] as const) {
      if (c[key] !== undefined && typeof c[key] !== 'boolean') issues.report({ path: [key], message: `must be true or false, got ${JSON.stringify(c[key])}` });
    }
    const alwaysArray = c.always_array ?? [];
    if (!Array.isArray(alwaysArray) || alwaysArray.some((n) => typeof n !== 'string')) {
      issues.report({ path: ['always_array'], message: 'must be a list of element names' });
    }
    if (issues.errors) return unusableStep('xml_to_json');
    const options = {
      stripNamespaces: c.strip_namespaces !== false,
      parseValues: c.parse_values !== false,
      alwaysArray: alwaysArray as string[],
    };

    return (message) => {
      if (!message.isXml && (message.isJson || !looksLikeXml(message.body))) {
        throw new PermanentError('BAD_REQUEST', `the body is ${message.contentType ?? 'of no declared type'} and not XML, so xml_to_json cannot parse it; send XML (application/xml or text/xml) or remove the step`);
      }
      return [message.with({ value: xmlToValue(message.body, options, ctx.limits) })];
    };
  },
};

/** For bodies without an XML content type (some senders use text/plain or none): XML starts with "<" after an optional BOM and blanks. */
function looksLikeXml(body: Buffer): boolean {
  for (let i = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === 0x3c) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return false;
}

export default xmlToJson;
