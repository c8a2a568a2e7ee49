/**
 * What every adapter's config.test.ts checks of its source and sink schemas, so that the four (and any adapter
 * written after them) hold their schemas to one standard: adapters/amqp/config.test.ts shows the use.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import { ANNOTATION_KEYWORDS } from '../../src/config/flow-schema.js';
import type { JsonSchema } from '../../src/core/contracts.js';
import { DURATION_PATTERN } from '../../src/core/duration.js';

/**
 * Each key of a config type, and whether the type requires it. Written as a literal (`{ url: 'required', ... }`),
 * it does not compile once a key is added to or dropped from the type, or changes between optional and required.
 */
export type Keys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? 'optional' : 'required' };

/** As much of JSON Schema as the checks walk. */
export interface SchemaNode {
  description?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  $defs?: Record<string, SchemaNode>;
  $ref?: string;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  allOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  pattern?: string;
  [keyword: string]: unknown;
}

/** The validator the hub compiles flow schemas with: strict, knowing the flow schema's annotation keywords. */
export function strictAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
  for (const keyword of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string'] });
  return ajv;
}

/** Compiles a config schema with a fresh strictAjv. */
export function compileStrict(schema: JsonSchema): ValidateFunction {
  return strictAjv().compile(schema);
}

/** The node at a dotted path, e.g. `properties.tls.oneOf.1` or `$defs.reconnect`. */
export function at(schema: JsonSchema | SchemaNode, path: string): SchemaNode {
  return path.split('.').reduce<SchemaNode>((node, key) => {
    const next = node[key] as SchemaNode | undefined;
    if (next === undefined) throw new Error(`no "${key}" in the schema at ${path}`);
    return next;
  }, schema as SchemaNode);
}

/** Every schema below `node` (itself included), with its dotted path: under properties, $defs, the combinators, items and maps. */
function nodes(node: SchemaNode, path = ''): [string, SchemaNode][] {
  const out: [string, SchemaNode][] = [[path, node]];
  const join = (key: string): string => (path === '' ? key : `${path}.${key}`);
  for (const [k, v] of Object.entries(node.properties ?? {})) out.push(...nodes(v, join(`properties.${k}`)));
  for (const [k, v] of Object.entries(node.$defs ?? {})) out.push(...nodes(v, join(`$defs.${k}`)));
  for (const combinator of ['oneOf', 'anyOf', 'allOf'] as const) node[combinator]?.forEach((v, i) => out.push(...nodes(v, join(`${combinator}.${i}`))));
  if (node.items) out.push(...nodes(node.items, join('items')));
  if (typeof node.additionalProperties === 'object') out.push(...nodes(node.additionalProperties, join('additionalProperties')));
  return out;
}

/** Every named property anywhere in the schema, with its dotted path. */
export function properties(schema: JsonSchema): [string, SchemaNode][] {
  return nodes(schema as SchemaNode).flatMap(([path, node]) => Object.entries(node.properties ?? {}).map(([k, v]) => [path === '' ? `properties.${k}` : `${path}.properties.${k}`, v] as [string, SchemaNode]));
}

/** A property whose values the schema lists (an editor offers them), or that refers to a definition that carries its own. */
function listsItsValues(node: SchemaNode): boolean {
  return node.enum !== undefined || node.const !== undefined || node.type === 'boolean' || node.$ref !== undefined;
}

/**
 * What holds for every adapter config schema: it compiles strictly; every property, however deep, is described
 * and (unless its values are listed) has examples or a default, and accepts its examples; every object with named
 * properties rejects unknown keys; the schema carries examples of whole configs, accepts each and refuses the
 * first with a key added.
 */
export function expectWellFormed(schema: JsonSchema): void {
  const validate = compileStrict(schema);
  const root = schema as SchemaNode;
  for (const [path, prop] of properties(schema)) {
    expect(prop.description, `${path}: description`).toMatch(/\S{3,}/);
    if (!listsItsValues(prop)) expect(prop.examples !== undefined || prop.default !== undefined, `${path}: examples or a default`).toBe(true);
  }
  for (const [path, node] of nodes(root)) if (node.properties) expect(node.additionalProperties, `${path || 'the config'}: additionalProperties`).toBe(false);
  // Each property's own examples are values it accepts (validated where they stand, so references resolve).
  const ajv = strictAjv().addSchema({ ...schema, $id: 'urn:integration-hub:config-under-test' });
  for (const [path, prop] of properties(schema)) {
    const check = ajv.getSchema(`urn:integration-hub:config-under-test#/${path.replaceAll('.', '/')}`)!;
    for (const example of prop.examples ?? []) expect(check(example), `${path}: example ${JSON.stringify(example)}: ${JSON.stringify(check.errors)}`).toBe(true);
  }
  expect(root.description, 'the config: description').toMatch(/\S{3,}/);
  expect(root.examples?.length, 'the config: examples').toBeGreaterThan(0);
  for (const example of root.examples!) expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
  expect(validate({ ...(root.examples![0] as object), not_an_option: 1 })).toBe(false);
}

/** The object at `path` ('' for the config itself) names exactly the type's keys, and requires exactly those the type requires. */
export function expectKeys(schema: JsonSchema, path: string, keys: Record<string, 'required' | 'optional'>): void {
  const node = path === '' ? (schema as SchemaNode) : at(schema, path);
  expect(Object.keys(node.properties ?? {}).sort(), `${path || 'the config'}: properties`).toEqual(Object.keys(keys).sort());
  const required = Object.entries(keys).flatMap(([k, presence]) => (presence === 'required' ? [k] : []));
  expect([...(node.required ?? [])].sort(), `${path || 'the config'}: required`).toEqual(required.sort());
}

/**
 * Exactly the properties at `paths` are durations, each in the hub's syntax (a number of milliseconds, or
 * DURATION_PATTERN) as src/core/duration.ts reads it.
 */
export function expectDurations(schema: JsonSchema, paths: string[]): void {
  const unit = /\(ms\|s\|m\|h\|d\)/;
  const found = properties(schema).filter(([, node]) => node.oneOf?.some((branch) => typeof branch.pattern === 'string' && unit.test(branch.pattern)));
  expect(found.map(([path]) => path).sort()).toEqual([...paths].sort());
  for (const [path, node] of found) {
    expect(node.oneOf!.map((b) => b.type), path).toEqual(['integer', 'string']);
    expect(node.oneOf![1]!.pattern, path).toBe(DURATION_PATTERN);
  }
}

/** The durations of the `auth:` block every HTTP source takes (src/kit/gateway/schema.ts), for expectDurations. */
export const GATEWAY_DURATIONS = ['leeway', 'cache', 'cooldown'].map((k) => `properties.auth.oneOf.1.properties.jwt.properties.${k}`);
