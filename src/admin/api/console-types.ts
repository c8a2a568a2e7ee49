/**
 * Writes the console's TypeScript types from the admin API's description: one type per component, and per
 * operation its JSON answer (`Answers`) and request body (`Bodies`). The console is a browser program of its own
 * (src/admin/console/tsconfig.json: DOM types, no node types, its own rootDir), so it cannot import the schemas
 * themselves; it imports the generated src/admin/console/api-types.ts, which `npm run console-types` rewrites and
 * console-types.test.ts holds to this output, so the console's shapes cannot drift from what the API answers.
 *
 * It knows the part of JSON Schema the admin's schemas use and refuses any other keyword, rather than guess a type.
 */
import type { JsonSchema } from '../../core/contracts.js';
import { COMPONENTS } from './components.js';
import type { OperationSpec } from './operation.js';
import { OPERATIONS } from './operations/index.js';

/** The generated file, from the project's root. */
export const CONSOLE_TYPES_FILE = 'src/admin/console/api-types.ts';

const COMPONENT_REF = '#/components/schemas/';

/** Keywords that only constrain or annotate a value: they change no TypeScript type. */
const ANNOTATIONS = new Set(['description', 'format', 'minimum', 'exclusiveMinimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern', 'default', 'contentMediaType', 'title', 'examples']);
const SHAPES = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', '$ref', 'allOf', 'anyOf', 'oneOf']);

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** The longest nested object written on one line. */
const ONE_LINE = 100;

function literal(value: unknown, where: string): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  throw new Error(`${where}: only string, number, boolean and null literals become types, not ${JSON.stringify(value)}`);
}

function comment(description: unknown, indent: string): string {
  return typeof description === 'string' ? `${indent}/** ${description.replace(/\*\//g, '*\\/')} */\n` : '';
}

/** The type of a schema as an operand of `T[]` or `A & B`: a union or intersection in parentheses. */
function operand(schema: JsonSchema, where: string, indent: string): string {
  const type = typeOf(schema, where, indent);
  const several = (list: unknown): boolean => Array.isArray(list) && list.length > 1;
  return schema.$ref === undefined && ('const' in schema ? false : several(schema.enum) || several(schema.anyOf) || several(schema.oneOf) || several(schema.allOf)) ? `(${type})` : type;
}

/** The TypeScript type of a schema; `indent` is where the type's own line starts, for objects written over lines. */
export function typeOf(schema: JsonSchema, where: string, indent = ''): string {
  for (const key of Object.keys(schema)) if (!ANNOTATIONS.has(key) && !SHAPES.has(key)) throw new Error(`${where}: the console types do not know the keyword "${key}"`);
  if (typeof schema.$ref === 'string') {
    if (!schema.$ref.startsWith(COMPONENT_REF)) throw new Error(`${where}: only components are referred to, not ${schema.$ref}`);
    return schema.$ref.slice(COMPONENT_REF.length);
  }
  if (Array.isArray(schema.allOf)) return (schema.allOf as JsonSchema[]).map((s, i) => operand(s, `${where}.allOf[${i}]`, indent)).join(' & ');
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) return (alternatives as JsonSchema[]).map((s, i) => typeOf(s, `${where}.anyOf[${i}]`, indent)).join(' | ');
  if ('const' in schema) return literal(schema.const, where);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => literal(v, where)).join(' | ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return schema.items === undefined ? 'unknown[]' : `${operand(schema.items as JsonSchema, `${where}[]`, indent)}[]`;
    case 'object':
    case undefined:
      if (schema.properties !== undefined) return objectType(schema, where, indent);
      if (schema.type === undefined) return 'unknown';
      if (typeof schema.additionalProperties === 'object') return `Record<string, ${typeOf(schema.additionalProperties as JsonSchema, `${where}.*`, indent)}>`;
      return 'Record<string, unknown>';
    default:
      throw new Error(`${where}: the console types do not know the type ${JSON.stringify(schema.type)}`);
  }
}

function objectType(schema: JsonSchema, where: string, indent: string): string {
  if (typeof schema.additionalProperties === 'object') throw new Error(`${where}: properties with additionalProperties of a schema have no plain TypeScript type`);
  const properties = schema.properties as Record<string, JsonSchema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  for (const name of required) if (!(name in properties)) throw new Error(`${where}: "${name}" is required but not among the properties`);
  const inner = `${indent}  `;
  const members = Object.entries(properties).map(([name, s]) => ({
    description: s.description,
    member: `${IDENTIFIER.test(name) ? name : literal(name, where)}${required.has(name) ? '' : '?'}: ${typeOf(s, `${where}.${name}`, inner)};`,
  }));
  // A nested object of a few plain members reads best on one line, as one would write it by hand.
  const line = `{ ${members.map((m) => m.member.slice(0, -1)).join('; ')} }`;
  if (indent !== '' && members.every((m) => m.description === undefined && !m.member.includes('\n')) && line.length <= ONE_LINE) return line;
  return `{\n${members.map((m) => `${comment(m.description, inner)}${inner}${m.member}\n`).join('')}${indent}}`;
}

/** One named type: an interface for a plain object, else a type alias. */
function declaration(name: string, schema: JsonSchema): string {
  const type = typeOf(schema, name);
  const plainObject = schema.properties !== undefined && schema.allOf === undefined;
  return `${comment(schema.description, '')}${plainObject ? `export interface ${name} ${type}` : `export type ${name} = ${type};`}\n`;
}

/** An interface with one member per operation that has one: `operationId: Type`. */
function perOperation(name: string, description: string, typeOfOp: (op: OperationSpec) => string | undefined): string {
  const members = OPERATIONS.flatMap((op) => {
    const type = typeOfOp(op);
    return type === undefined ? [] : [`${comment(`${op.method} ${op.path}: ${op.summary}`, '  ')}  ${op.operationId}: ${type};\n`];
  });
  return `${comment(description, '')}export interface ${name} {\n${members.join('')}}\n`;
}

/** The JSON bodies of an operation's 2xx answers, as one type (a union when they differ). */
function answerType(op: OperationSpec): string | undefined {
  const types = Object.entries(op.responses)
    .filter(([status, r]) => Number(status) >= 200 && Number(status) < 300 && r.schema !== undefined)
    .map(([status, r]) => typeOf(r.schema!, `${op.operationId}.responses.${status}`, '  '));
  return types.length ? [...new Set(types)].join(' | ') : undefined;
}

/** The whole generated file. */
export function consoleTypes(): string {
  const header = [
    '// Written by `npm run console-types` from the admin API\'s description (src/admin/api/: its components, and each',
    '// operation\'s JSON answers and request body). Do not edit: src/admin/api/console-types.test.ts fails when it is stale.',
    '',
  ].join('\n');
  const components = Object.entries(COMPONENTS).map(([name, schema]) => declaration(name, schema));
  const answers = perOperation('Answers', 'The JSON answer of each operation that gives one (its 2xx application/json bodies).', answerType);
  const bodies = perOperation('Bodies', 'The JSON request body of each operation that takes one.', (op) => (op.body ? typeOf(op.body, `${op.operationId}.body`, '  ') : undefined));
  return [header, ...components, answers, bodies].join('\n');
}
