import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { JsonSchema, SchemaError } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { ANNOTATION_KEYWORDS } from './flow-schema.js';

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  for (const keyword of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string'] });
  return ajv;
}

/** Compiles the flow schema for the linter. */
export function compileFlowSchema(schema: JsonSchema): ValidateFunction {
  return newAjv().compile(schema);
}

export type MessageValidator = (value: unknown) => { valid: boolean; errors: SchemaError[] };

/**
 * Message schemas from the schemas/ folder, by name: "order.v1" is schemas/order.v1.schema.json. Compiled once per
 * hub and shared by every flow that validates against it. A schema may `$ref` another by its file name.
 */
export class MessageSchemas {
  readonly #ajv = newAjv();
  readonly #cache = new Map<string, MessageValidator>();

  constructor(readonly dir: string) {}

  fileFor(name: string): string {
    return join(this.dir, name.endsWith('.json') ? name : `${name}.schema.json`);
  }

  /** The validator for a schema name; throws a ConfigError (MESSAGE_SCHEMA_NOT_FOUND, MESSAGE_SCHEMA_INVALID) saying what is wrong. */
  get(name: string): MessageValidator {
    const cached = this.#cache.get(name);
    if (cached) return cached;
    if (!/^[\w.-]+$/.test(name)) throw new ConfigError('MESSAGE_SCHEMA_NOT_FOUND', `schema name "${name}" may use letters, digits, ".", "-" and "_" only`);
    const file = this.fileFor(name);
    if (!existsSync(file)) throw new ConfigError('MESSAGE_SCHEMA_NOT_FOUND', `schema "${name}" not found: expected ${file}`);
    let schema: JsonSchema;
    try {
      schema = JSON.parse(readFileSync(file, 'utf8')) as JsonSchema;
    } catch (err) {
      throw new ConfigError('MESSAGE_SCHEMA_INVALID', `schema "${name}" (${file}) is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    let fn: ValidateFunction;
    try {
      fn = this.#ajv.getSchema(String(schema.$id ?? '')) ?? this.#ajv.compile(schema);
    } catch (err) {
      throw new ConfigError('MESSAGE_SCHEMA_INVALID', `schema "${name}" (${file}) does not compile: ${(err as Error).message}`, { cause: err });
    }
    const validator: MessageValidator = (value) => {
      const valid = fn(value) as boolean;
      return { valid, errors: valid ? [] : (fn.errors ?? []).map(toSchemaError) };
    };
    this.#cache.set(name, validator);
    return validator;
  }
}

export function toSchemaError(e: ErrorObject): SchemaError {
  const where = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') return { path: where, message: `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"` };
  if (e.keyword === 'required') return { path: where, message: `missing required property "${(e.params as { missingProperty: string }).missingProperty}"` };
  if (e.keyword === 'enum') return { path: where, message: `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}` };
  return { path: where, message: e.message ?? e.keyword };
}
