/**
 * A test file (`<flow>.test.yaml`, described by schemas/flow-test.schema.json): read, checked against its schema and
 * against the flow it tests, every problem at its line and column. What a case says is typed here; running it is
 * harness.ts's, judging it expectations.ts's.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import type { FlowDefinition } from '../config/load-flows.js';
import { describeSchemaErrors } from '../config/load-flows.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { compileFlowSchema } from '../config/schema-validator.js';
import { YamlSource } from '../config/yaml-source.js';
import { ConfigError } from '../core/errors.js';
import type { Registry } from '../core/registry.js';

export type Strings = Record<string, string>;

export interface CaseInput {
  body?: unknown;
  body_file?: string;
  headers?: Strings;
  method?: string;
  path?: string;
  query?: Strings;
  operation?: string;
  soap_version?: '1.1' | '1.2';
  key?: string | null;
  topic?: string;
  routing_key?: string;
  exchange?: string;
  properties?: Record<string, unknown>;
}

export type Failure = 'timeout' | 'refused' | 'unroutable' | { http: number } | { soap_fault: { code?: 'Client' | 'Server' | 'Sender' | 'Receiver'; reason?: string } } | { code: string; message?: string };
export type Outcome = { accept: true } | { reply: { status?: number; headers?: Strings; body?: unknown; body_file?: string } } | { fail: Failure };

export interface SinkExpectation {
  calls?: number;
  received?: unknown;
  includes?: unknown;
  headers?: Strings;
  assert?: string[];
}

export interface Expectations {
  reply?: { status?: number; headers?: Strings; body?: unknown; body_includes?: unknown; assert?: string[] };
  error?: { code?: string; step?: string };
  delivered?: boolean;
  route?: string | string[];
  sinks?: Record<string, SinkExpectation>;
  order?: string[];
}

export interface TestCase {
  name: string;
  input: CaseInput;
  sinks?: Record<string, Outcome | Outcome[]>;
  expect: Expectations;
}

export interface TestFile {
  /** As given or found, relative to the working directory when under it. */
  file: string;
  src: YamlSource;
  /** The flow file it tests (absolute). */
  flowFile: string;
  env: Strings;
  cases: TestCase[];
}

/** `*.test.yaml` (or .yml): a test file, never a flow. */
export const TEST_FILE = /\.test\.ya?ml$/;

let validator: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (validator) return validator;
  // The project's own (what the modeline of every test file names), not the hub configuration's schemas folder.
  return (validator = compileFlowSchema(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', 'flow-test.schema.json'), 'utf8')) as Record<string, unknown>));
}

/**
 * The test files under `paths`: a test file as given; a flow file's `<name>.test.yaml` beside it; a folder searched
 * recursively. Throws TESTS_NOT_FOUND when a path does not exist or holds none.
 */
export function findTestFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (name === 'node_modules' || name.startsWith('.')) continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (TEST_FILE.test(name)) out.push(path);
    }
  };
  for (const p of paths) {
    const abs = resolve(p);
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) throw new ConfigError('TESTS_NOT_FOUND', `no such file or folder: ${p}`);
    const before = out.length;
    if (st.isDirectory()) walk(abs);
    else if (TEST_FILE.test(abs)) out.push(abs);
    else {
      const beside = abs.replace(/\.ya?ml$/, '.test.yaml');
      if (existsSync(beside)) out.push(beside);
    }
    if (out.length === before) throw new ConfigError('TESTS_NOT_FOUND', `${p} has no test files: write ${st.isDirectory() ? `<flow>.test.yaml beside a flow in ${p}` : basename(abs).replace(/\.ya?ml$/, '.test.yaml')} (docs/flow-authoring.md shows one)`);
  }
  return [...new Set(out)];
}

export function displayName(file: string): string {
  return file.startsWith(process.cwd() + '/') ? file.slice(process.cwd().length + 1) : file;
}

/** Reads a test file and checks it against its schema; `src.diagnostics` holds every problem. */
export function readTestFile(file: string, registry: Registry): TestFile {
  const display = displayName(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    text = '';
    const src = new YamlSource(display, text);
    src.report([], `cannot read: ${(err as Error).message}`);
    return { file: display, src, flowFile: '', env: {}, cases: [] };
  }
  const src = new YamlSource(display, text);
  const value = src.value as { flow?: string; env?: Strings; cases?: TestCase[] } | undefined;
  if (src.ok) {
    const validate = schemaValidator();
    if (!validate(value)) for (const d of describeSchemaErrors(validate.errors ?? [], registry)) src.report(d.path, d.message, { at: d.at });
  }
  const flowName = typeof value?.flow === 'string' ? value.flow : basename(file).replace(TEST_FILE, '.yaml');
  const flowFile = resolve(dirname(file), flowName);
  if (src.ok && !existsSync(flowFile)) src.report(value?.flow ? ['flow'] : [], `the flow it tests, ${displayName(flowFile)}, does not exist${value?.flow ? '' : ': name it with `flow:`'}`);
  const cases = src.ok && Array.isArray(value?.cases) ? value.cases : [];
  const names = new Set<string>();
  cases.forEach((c, i) => {
    if (names.has(c.name)) src.report(['cases', i, 'name'], `another case is named "${c.name}": give each case its own name`);
    names.add(c.name);
  });
  return { file: display, src, flowFile, env: src.ok ? (value?.env ?? {}) : {}, cases };
}

/**
 * What the file says that the flow contradicts: a mock or expectation for a sink the flow does not have, a reply
 * mocked for a sink that gives none, an error expected at a step that does not exist, input facts of another
 * source's kind. Reported on `test.src`.
 */
export function checkAgainstFlow(test: TestFile, def: FlowDefinition): void {
  const sinks = [...def.sinks.keys()];
  const known = `the flow's sinks: ${sinks.join(', ') || 'none'}`;
  const steps = [...def.steps.map((s) => s.label), ...sinks.map((s) => `sink:${s}`), 'reply'];
  const adapter = def.source.adapter;
  const facts: Record<string, string[]> = { rest: ['method', 'path', 'query'], soap: ['operation', 'soap_version'], kafka: ['key', 'topic'], amqp: ['routing_key', 'exchange', 'properties'] };
  test.cases.forEach((c, i) => {
    for (const [kind, keys] of Object.entries(facts)) {
      if (kind === adapter) continue;
      for (const key of keys) if (key in c.input && !(facts[adapter] ?? []).includes(key)) test.src.report(['cases', i, 'input', key], `\`${key}\` is a fact of a ${kind} source; flow "${def.name}" has a ${adapter} source`, { at: 'key' });
    }
    const path = (def.source.config as { path?: unknown }).path;
    if (adapter === 'rest' && typeof path === 'string' && /(^|\/):/.test(path) && c.input.path === undefined) {
      test.src.report(['cases', i, 'input'], `the source's path ${path} has parameters: give \`path:\` with them filled in (e.g. ${path.replace(/:(\w+)/g, 'X-$1')})`);
    }
    for (const [name, mock] of Object.entries(c.sinks ?? {})) {
      const sink = def.sinks.get(name);
      if (!sink) {
        test.src.report(['cases', i, 'sinks', name], `flow "${def.name}" has no sink "${name}" to mock (${known})`, { at: 'key' });
        continue;
      }
      (Array.isArray(mock) ? mock : [mock]).forEach((o, j) => {
        if ('accept' in o && sink.requestReply) test.src.report(['cases', i, 'sinks', name, ...(Array.isArray(mock) ? [j] : []), 'accept'], `sink "${name}" (${sink.adapter}) answers with a reply: mock it with reply:`, { at: 'key' });
        if ('reply' in o && !sink.requestReply) test.src.report(['cases', i, 'sinks', name, ...(Array.isArray(mock) ? [j] : []), 'reply'], `sink "${name}" (${sink.adapter}) gives no reply: mock it with fail:, or leave it out (it accepts)`, { at: 'key' });
      });
    }
    for (const name of [...Object.keys(c.expect.sinks ?? {}), ...(c.expect.order ?? [])]) {
      if (def.sinks.has(name)) continue;
      const where = c.expect.sinks && name in c.expect.sinks ? ['cases', i, 'expect', 'sinks', name] : ['cases', i, 'expect', 'order', c.expect.order!.indexOf(name)];
      test.src.report(where, `flow "${def.name}" has no sink "${name}" (${known})`, { at: where.length === 5 ? 'key' : 'value' });
    }
    for (const [j, r] of (typeof c.expect.route === 'string' ? [c.expect.route] : (c.expect.route ?? [])).entries()) {
      if (!def.sinks.has(r)) test.src.report(['cases', i, 'expect', 'route', ...(typeof c.expect.route === 'string' ? [] : [j])], `flow "${def.name}" has no sink "${r}" to route to (${known})`);
    }
    const step = c.expect.error?.step;
    if (step !== undefined && !steps.includes(step)) test.src.report(['cases', i, 'expect', 'error', 'step'], `flow "${def.name}" has no step "${step}" (its steps: ${steps.join(', ')})`);
    if (c.expect.reply && !def.source.requestReply) test.src.report(['cases', i, 'expect', 'reply'], `a ${adapter} source waits for no reply: expect delivered, error, sinks or route instead`, { at: 'key' });
  });
}
