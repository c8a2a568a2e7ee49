import { Ajv2020 } from 'ajv/dist/2020.js';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JsonSchema } from '../core/contracts.js';
import { Registry } from '../core/registry.js';
import { builtinSteps } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Every place in a schema where a config key is declared, with its path, for the description rule. */
function declaredProperties(schema: unknown, path: string[] = []): { path: string; schema: Record<string, unknown> }[] {
  if (!schema || typeof schema !== 'object') return [];
  const s = schema as Record<string, unknown>;
  const found: { path: string; schema: Record<string, unknown> }[] = [];
  for (const key of ['properties', 'patternProperties'] as const) {
    for (const [name, child] of Object.entries((s[key] as Record<string, unknown>) ?? {})) {
      found.push({ path: [...path, name].join('.'), schema: child as Record<string, unknown> }, ...declaredProperties(child, [...path, name]));
    }
  }
  for (const key of ['items', 'additionalProperties'] as const) if (s[key] && typeof s[key] === 'object') found.push(...declaredProperties(s[key], [...path, key]));
  for (const key of ['oneOf', 'anyOf'] as const) for (const [i, sub] of ((s[key] as unknown[]) ?? []).entries()) found.push(...declaredProperties(sub, [...path, `${key}[${i}]`]));
  return found;
}

function objectSchemas(schema: unknown): Record<string, unknown>[] {
  if (!schema || typeof schema !== 'object') return [];
  const s = schema as Record<string, unknown>;
  const nested = Object.values(s).flatMap((v) => (Array.isArray(v) ? v.flatMap(objectSchemas) : objectSchemas(v)));
  return s.type === 'object' ? [s, ...nested] : nested;
}

describe('builtinSteps', () => {
  it('has one registration per step folder, named after it', () => {
    const folders = readdirSync(here).filter((f) => statSync(join(here, f)).isDirectory()).sort();
    expect(builtinSteps.map((s) => s.name).sort()).toEqual(folders);
  });

  it('registers into a registry', () => {
    const registry = new Registry();
    for (const step of builtinSteps) registry.registerStep(step);
    expect(Object.keys(registry.componentSchemas().steps)).toHaveLength(builtinSteps.length);
  });

  for (const step of builtinSteps) {
    describe(step.name, () => {
      it('has a schema that compiles under strict ajv 2020-12 and accepts its own examples', () => {
        const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true });
        const validate = ajv.compile(step.schema);
        const examples = step.schema.examples as unknown[];
        expect(examples?.length).toBeGreaterThan(0);
        for (const example of examples) expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
      });

      it('describes the step and every config key, and rejects unknown keys', () => {
        expect(step.description.length).toBeGreaterThan(20);
        expect(step.schema.description).toBeTypeOf('string');
        for (const p of declaredProperties(step.schema)) expect(p.schema.description, `${step.name}: ${p.path} has no description`).toBeTypeOf('string');
        for (const o of objectSchemas(step.schema as JsonSchema)) expect(o.additionalProperties, `${step.name}: an object schema allows unknown keys`).toBe(false);
      });
    });
  }
});
