import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintFlows } from '../../test/support/lint.js';
import { describe, expect, it } from 'vitest';
import rest from '../rest/index.js';
import { sinkSchema, sourceSchema } from './config.js';
import amqp from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

function lint(files: Record<string, string>, env: Record<string, string> = { AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672', AMQP_USER: 'hub', AMQP_PASSWORD: 'secret' }) {
  return lintFlows(files, { adapters: [rest, amqp], env });
}

describe('amqp adapter: README', () => {
  const readme = readFileSync(join(here, 'README.md'), 'utf8');
  const flows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('documents every source and sink option in its tables and uses each in an example', () => {
    const all = flows.join('\n');
    for (const key of Object.keys(sourceSchema.properties as object)) {
      expect(readme, key).toContain(`\`${key}`);
      expect(all, key).toMatch(new RegExp(`^\\s+(- )?${key}:`, 'm'));
    }
    for (const key of Object.keys(sinkSchema.properties as object)) {
      expect(readme, key).toContain(`\`${key}`);
      expect(all, key).toMatch(new RegExp(`^\\s+(- )?${key}:`, 'm'));
    }
  });

  it('lints every example flow without errors or warnings', () => {
    expect(flows.length).toBeGreaterThanOrEqual(5);
    const result = lint(Object.fromEntries(flows.map((text, i) => [`example-${i}.yaml`, text])));
    expect(result.diagnostics).toEqual([]);
    expect(result.flows).toHaveLength(flows.length);
  });

  it('refuses a literal password at its line, and takes a source without a dead letter as it is', () => {
    const result = lint({
      'a.yaml': 'name: literal\nsource:\n  amqp:\n    url: amqp://rabbit\n    queue: q\n    password: hunter2\n',
    });
    const d = result.diagnostics.map((x) => ({ line: x.line, severity: x.severity, message: x.message }));
    expect(d).toEqual(expect.arrayContaining([expect.objectContaining({ line: 6, severity: 'error', message: expect.stringMatching(/"password" is a secret/) })]));
    const warned = lint({ 'b.yaml': 'name: no-dead-letter\nsource:\n  amqp:\n    url: amqp://rabbit\n    queue: q\n' });
    expect(warned.diagnostics).toEqual([]);
  });

  it('reports a routing key template that does not compile at its line', () => {
    const result = lint({ 'c.yaml': 'name: broken\nsource:\n  rest: { path: /c }\nsteps:\n  - to: out\nsinks:\n  out:\n    amqp:\n      url: amqp://rabbit\n      exchange: e\n      routing_key: "{{ ( }}"\n' });
    const errors = result.diagnostics.filter((x) => x.severity === 'error');
    expect(errors.map((e) => e.line)).toEqual([11]);
    expect(errors[0]!.message).toMatch(/JSONata/);
  });
});
