import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { lintFlows, registryWith } from '../../test/support/lint.js';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFlowSchema } from '../../src/config/flow-schema.js';
import { compileFlowSchema } from '../../src/config/schema-validator.js';
import { DURATION_PATTERN } from '../../src/core/duration.js';
import rest from './index.js';
import { SINK_CONFIG_KEYS } from './sink.js';
import sinkSchema from './sink.schema.json' with { type: 'json' };
import { SOURCE_CONFIG_KEYS } from './source.js';
import sourceSchema from './source.schema.json' with { type: 'json' };

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'rest-readme-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function lint(files: Record<string, string>) {
  return lintFlows(files, { adapters: [rest], env: { CRM_TOKEN: 'test-token' } });
}



describe('rest adapter: schemas', () => {
  const schemas = { source: sourceSchema as Record<string, unknown>, sink: sinkSchema as Record<string, unknown> };

  it.each(Object.entries(schemas))('the %s schema compiles strictly, describes every property, rejects unknown keys and accepts its examples', (_side, schema) => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    const validate = ajv.compile(schema);
    expect(schema.additionalProperties).toBe(false);
    for (const [name, prop] of Object.entries(schema.properties as Record<string, { description?: string }>)) {
      expect(prop.description, name).toMatch(/\S{3,}/);
    }
    for (const example of schema.examples as unknown[]) expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...(schema.examples as object[])[0], nope: 1 })).toBe(false);
  });

  it('keeps the TypeScript config types and the schemas in step', () => {
    expect(Object.keys(sourceSchema.properties).sort()).toEqual([...SOURCE_CONFIG_KEYS].sort());
    expect(Object.keys(sinkSchema.properties).sort()).toEqual([...SINK_CONFIG_KEYS].sort());
  });

  it('uses the hub duration syntax for timeout', () => {
    expect(sinkSchema.properties.timeout.oneOf[1]!.pattern).toBe(DURATION_PATTERN);
  });

  it('fits into the assembled flow schema', () => {
    expect(() => compileFlowSchema(buildFlowSchema(registryWith([rest])))).not.toThrow();
  });
});

describe('rest adapter: README examples', () => {
  const readme = readFileSync(join(here, 'README.md'), 'utf8');
  const flows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has an example for every source and sink option', () => {
    const all = flows.join('\n');
    for (const key of ['method', 'path', 'accept', 'status', 'headers']) expect(all).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    for (const key of ['url', 'method', 'headers', 'timeout', 'body', 'expect']) expect(all).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
  });

  it('lints every example flow without errors (together: no route is claimed twice)', () => {
    expect(flows.length).toBeGreaterThanOrEqual(5);
    const result = lint(Object.fromEntries(flows.map((text, i) => [`example-${i}.yaml`, text])));
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(result.flows).toHaveLength(flows.length);
  });

  it('reports two flows that claim one route under different parameter names', () => {
    const flow = (name: string, param: string) => `name: ${name}\nsource:\n  rest:\n    method: GET\n    path: /api/orders/:${param}\n`;
    const result = lint({ 'a.yaml': flow('first', 'id'), 'b.yaml': flow('second', 'orderId') });
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/http GET \/api\/orders\/:param is already claimed by flow "first"/);
    expect(errors[0]!.line).toBe(5);
  });

  it('reports a sink template that does not compile at its line', () => {
    const result = lint({ 'c.yaml': 'name: broken\nsource:\n  rest: { path: /c }\nsteps:\n  - to: out\nsinks:\n  out:\n    rest:\n      url: http://x/{{ id ( }}\n' });
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map((e) => e.line)).toEqual([9]);
    expect(errors[0]!.message).toMatch(/JSONata/);
  });
});
