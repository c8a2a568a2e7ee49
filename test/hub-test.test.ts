/**
 * `hub test` (src/flow-test/, src/cli/test.ts): every example flow has test cases and passes them; a flow whose
 * behaviour changes fails at the line of the expectation it breaks; a bad test file is refused at its line and
 * column. In this process, through the CLI's main() (no build needed), on copies of the example flows.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { findFlowFiles } from '../src/config/load-flows.js';
import type { JsonSchema } from '../src/core/contracts.js';
import type { CaseInput, Expectations, SinkExpectation, TestCase } from '../src/flow-test/test-file.js';
import { compileStrict, expectKeys, type Keys } from './support/config-schema.js';
import { HUB_BIN, ROOT } from './support/processes.js';

const work = mkdtempSync(join(tmpdir(), 'hub-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function hub(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (s) => out.push(s), (s) => err.push(s), { env: { ...process.env } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A project of its own: flows/ with the given files (copied from the examples unless given), schemas/ linked. */
function project(files: Record<string, string | null>): string {
  const dir = mkdtempSync(join(work, 'project-'));
  symlinkSync(join(ROOT, 'schemas'), join(dir, 'schemas'), 'dir');
  for (const [name, text] of Object.entries(files)) {
    if (text === null) cpSync(join(ROOT, 'flows', name), join(dir, 'flows', name));
    else {
      cpSync(join(ROOT, 'flows', 'orders-api.yaml'), join(dir, 'flows', 'orders-api.yaml'));
      writeFileSync(join(dir, 'flows', name), text);
    }
  }
  return dir;
}

/** The 1-based line and column of the first `needle` in `text` (at its first non-blank character). */
function lineCol(text: string, needle: string): string {
  const at = text.indexOf(needle);
  expect(at, `"${needle}" is in the file`).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

describe('the test file schema', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'flow-test.schema.json'), 'utf8')) as JsonSchema;

  it('compiles strictly, and names exactly the keys the engine reads (src/flow-test/test-file.ts)', () => {
    compileStrict(schema);
    expectKeys(schema, '', { flow: 'optional', env: 'optional', cases: 'required' });
    expectKeys(schema, '$defs.case', { name: 'required', input: 'required', sinks: 'optional', expect: 'required' } satisfies Keys<TestCase>);
    expectKeys(schema, '$defs.input', { body: 'optional', body_file: 'optional', headers: 'optional', method: 'optional', path: 'optional', query: 'optional', operation: 'optional', soap_version: 'optional', key: 'optional', topic: 'optional', routing_key: 'optional', exchange: 'optional', properties: 'optional' } satisfies Keys<CaseInput>);
    expectKeys(schema, '$defs.expect', { reply: 'optional', error: 'optional', delivered: 'optional', route: 'optional', sinks: 'optional', order: 'optional' } satisfies Keys<Expectations>);
    expectKeys(schema, '$defs.expect.properties.sinks.additionalProperties', { calls: 'optional', received: 'optional', includes: 'optional', headers: 'optional', assert: 'optional' } satisfies Keys<SinkExpectation>);
    expectKeys(schema, '$defs.expect.properties.reply', { status: 'optional', headers: 'optional', body: 'optional', body_includes: 'optional', assert: 'optional' } satisfies Keys<NonNullable<Expectations['reply']>>);
  });
});

describe('hub test', () => {
  it('every example flow has a test file beside it, and `hub test flows` passes them all', async () => {
    const flows = findFlowFiles([join(ROOT, 'flows'), join(ROOT, 'flows', 'brokers'), join(ROOT, 'flows', 'compare')]);
    expect(flows.length).toBeGreaterThanOrEqual(9);
    expect(flows.filter((f) => !existsSync(f.replace(/\.yaml$/, '.test.yaml')))).toEqual([]);
    const { code, out } = await hub('test', join(ROOT, 'flows'));
    expect(code, out).toBe(0);
    expect(out).toMatch(new RegExp(`ok: \\d+ passed, 0 failed, in ${flows.length} file\\(s\\)`));
    expect(out).not.toMatch(/not reached by any case/);
  });

  it('fails at the line of the broken expectation, with a diff, when the flow routes differently', async () => {
    const test = readFileSync(join(ROOT, 'flows', 'orders-api.test.yaml'), 'utf8');
    const dir = project({ 'orders-api.test.yaml': test });
    // The threshold for approval drops from 10,000 to 10: the small order now goes to the approval operation.
    const flow = join(dir, 'flows', 'orders-api.yaml');
    writeFileSync(flow, readFileSync(flow, 'utf8').replace('> 10000', '> 10'));
    const { code, err } = await hub('test', join(dir, 'flows'));
    expect(code).toBe(1);
    const file = join(dir, 'flows', 'orders-api.test.yaml');
    expect(err).toContain(`${file}:${lineCol(test, 'erp-place-order\n      sinks:')}: route: expected erp-place-order, took erp-approval`);
    expect(err).toContain(`${file}:${lineCol(test, '201\n        headers')}: reply status: expected 201, got 500`);
    expect(err).toMatch(/- {3}"status": 201\n\s+\+ {3}"status": 500/);
    expect(err).toMatch(/FAILED: 5 passed, 1 failed/);
  });

  it('names the steps and route branches no case reached, at their place in the flow', async () => {
    const test = readFileSync(join(ROOT, 'flows', 'orders-api.test.yaml'), 'utf8');
    const one = test.slice(0, test.indexOf('\n  - name:', test.indexOf('- name:') + 1));
    const dir = project({ 'orders-api.test.yaml': one });
    const { code, out } = await hub('test', join(dir, 'flows'));
    expect(code, out).toBe(0);
    const flow = readFileSync(join(ROOT, 'flows', 'orders-api.yaml'), 'utf8');
    expect(out).toContain(`not reached by any case: route branch 2:route[0] (when $sum(lines.(qty * price)) > 10000 → erp-approval) (${join(dir, 'flows', 'orders-api.yaml')}:${lineCol(flow, "when: '$sum")}`);
  });

  it('refuses a bad test file at file:line:col: a YAML error, a mock of a sink the flow lacks, a step that does not exist', async () => {
    const syntax = '# yaml-language-server: $schema=../schemas/flow-test.schema.json\ncases:\n  - name: x\n    input: { body: [1, 2 }\n';
    const unknown = [
      '# yaml-language-server: $schema=../schemas/flow-test.schema.json',
      'cases:',
      '  - name: mocks a sink the flow does not have',
      '    input: { body: { customerId: C-1, lines: [{ sku: A, qty: 1, price: 1 }] } }',
      '    sinks:',
      '      erp-orders: { reply: { body: "<x/>" } }',
      '    expect:',
      '      error: { code: VALIDATION_FAILED, step: "7:validate" }',
      '      sinks: { erp-place-order: { calls: 1, bogus: 2 } }',
      '',
    ].join('\n');
    const dir = project({ 'orders-api.test.yaml': unknown, 'other.test.yaml': syntax });
    writeFileSync(join(dir, 'flows', 'other.yaml'), readFileSync(join(ROOT, 'flows', 'orders-api.yaml'), 'utf8').replace('name: orders-api', 'name: other').replace('/api/orders', '/api/other'));
    const { code, err } = await hub('test', join(dir, 'flows'));
    expect(code).toBe(1);
    const at = (name: string, needle: string, text: string): string => `${join(dir, 'flows', name)}:${lineCol(text, needle)}`;
    expect(err).toContain(`${at('other.test.yaml', '}\n', syntax)}: YAML syntax error`);
    expect(err).toContain(`${at('orders-api.test.yaml', 'bogus', unknown)}: unknown key "bogus"`);
    // Schema errors come first; fixed, the file is checked against the flow.
    writeFileSync(join(dir, 'flows', 'orders-api.test.yaml'), unknown.replace(', bogus: 2', ''));
    rmSync(join(dir, 'flows', 'other.test.yaml'));
    const second = await hub('test', join(dir, 'flows'));
    expect(second.code).toBe(1);
    expect(second.err).toContain(`${at('orders-api.test.yaml', 'erp-orders', unknown)}: flow "orders-api" has no sink "erp-orders" to mock (the flow's sinks: erp-place-order, erp-approval)`);
    expect(second.err).toContain(`${at('orders-api.test.yaml', '"7:validate"', unknown)}: flow "orders-api" has no step "7:validate"`);
  });

  it('asks for the request path of a REST source whose path has parameters', async () => {
    const text = '# yaml-language-server: $schema=../schemas/flow-test.schema.json\ncases:\n  - name: no path\n    input: { method: GET }\n    expect: { reply: { status: 200 } }\n';
    const dir = project({ 'order-status-api.yaml': null });
    writeFileSync(join(dir, 'flows', 'order-status-api.test.yaml'), text);
    const { code, err } = await hub('test', join(dir, 'flows', 'order-status-api.test.yaml'));
    expect(code).toBe(1);
    expect(err).toContain(`order-status-api.test.yaml:${lineCol(text, '{ method')}: the source's path /api/orders/:id has parameters: give \`path:\` with them filled in (e.g. /api/orders/X-id)`);
  });

  it('writes JUnit XML for CI, a failed case with its place and diff', async () => {
    const test = readFileSync(join(ROOT, 'flows', 'orders-api.test.yaml'), 'utf8').replace('total: 39, approvalRequired: false', 'total: 40, approvalRequired: false');
    const dir = project({ 'orders-api.test.yaml': test });
    const junit = join(dir, 'report.xml');
    const { code } = await hub('test', '--reporter', 'junit', '--out', junit, join(dir, 'flows', 'orders-api.yaml'));
    expect(code).toBe(1);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites name="hub test" tests="6" failures="1"/);
    expect(xml).toContain(`<failure message="reply body differs">${join(dir, 'flows', 'orders-api.test.yaml')}:${lineCol(test, '{ orderId: ERP-000001, status: ACCEPTED, total: 40')}: reply body differs`);
    expect(xml).toContain('-   &quot;total&quot;: 40,');
  });

  it('runs the example of docs/flow-authoring.md with the output the page shows, passing and failing', async () => {
    const page = readFileSync(join(ROOT, 'docs', 'flow-authoring.md'), 'utf8');
    const example = /```yaml\n(# flows\/orders-api\.test\.yaml\n[\s\S]*?)```/.exec(page)![1]!;
    const [passing, failing] = [...page.matchAll(/```\n(flows\/orders-api\.test\.yaml \(flow orders-api\)\n[\s\S]*?)```/g)].map((m) => m[1]!.trimEnd());
    const dir = project({ 'orders-api.test.yaml': example });
    const shown = (text: string): string => text.replaceAll(`${dir}/`, '').replace(/\(\d+(\.\d+)? ms\)/g, '(N ms)');
    const ok = await hub('test', join(dir, 'flows', 'orders-api.test.yaml'));
    expect(ok.code, ok.err).toBe(0);
    expect(shown(ok.out)).toBe(shown(passing!));
    const flow = join(dir, 'flows', 'orders-api.yaml');
    writeFileSync(flow, readFileSync(flow, 'utf8').replace('> 10000', '> 10'));
    const failed = await hub('test', join(dir, 'flows', 'orders-api.test.yaml'));
    expect(failed.code).toBe(1);
    expect(shown(failed.err).startsWith(shown(failing!.replace(/\n\s*\.\.\.$/, '')))).toBe(true);
  });

  it('--watch runs the cases again when the flow changes, until Ctrl-C', async () => {
    const test = readFileSync(join(ROOT, 'flows', 'orders-api.test.yaml'), 'utf8');
    const dir = project({ 'orders-api.test.yaml': test });
    const child = spawn(process.execPath, [HUB_BIN, 'test', '--watch', join(dir, 'flows')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const until = async (what: RegExp): Promise<void> => {
      for (let i = 0; i < 300 && !what.test(output); i++) await new Promise((r) => setTimeout(r, 50));
      expect(output).toMatch(what);
    };
    try {
      await until(/ok: 6 passed, 0 failed[\s\S]*watching for changes/);
      const flow = join(dir, 'flows', 'orders-api.yaml');
      writeFileSync(flow, readFileSync(flow, 'utf8').replace('> 10000', '> 10'));
      await until(/FAILED: 5 passed, 1 failed/);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says when a path holds no test files', async () => {
    const dir = mkdtempSync(join(work, 'empty-'));
    const { code, err } = await hub('test', dir);
    expect(code).toBe(1);
    expect(err).toMatch(/hub: TESTS_NOT_FOUND: .* has no test files/);
  });
});
