import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintFlows } from '../../test/support/lint.js';
import { describe, expect, it } from 'vitest';
import { sinkSchema, sourceSchema } from './config.js';
import rest from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

function lint(files: Record<string, string>) {
  return lintFlows(files, { adapters: [rest], env: { CRM_TOKEN: 'test-token', LEGACY_BILLING_KEY: 'billing-key-0123456789abcdef' } });
}

describe('rest adapter: README examples', () => {
  const readme = readFileSync(join(here, 'README.md'), 'utf8');
  const flows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has an example for every source and sink option', () => {
    const all = flows.join('\n');
    for (const key of Object.keys(sourceSchema.properties as object)) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    for (const key of Object.keys(sinkSchema.properties as object)) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
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
