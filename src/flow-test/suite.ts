/**
 * `hub test`'s engine: for each test file, the flow it tests is linted and built as `hub run` would build it, the
 * file is checked against it, and each case runs through a FlowHarness and is judged. A report holds every file's
 * problems and cases at their line and column, and the steps and route branches no case reached.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { formatDiagnostics, loadFlows } from '../config/load-flows.js';
import type { MessageSchemas } from '../config/schema-validator.js';
import { YamlSource, type Diagnostic } from '../config/yaml-source.js';
import type { HubLimits } from '../core/contracts.js';
import type { Registry } from '../core/registry.js';
import { judge } from './expectations.js';
import { FlowHarness } from './harness.js';
import { checkAgainstFlow, displayName, readTestFile } from './test-file.js';

export interface Where {
  file: string;
  line: number;
  col: number;
}

export interface CaseResult extends Where {
  name: string;
  ok: boolean;
  failures: (Where & { message: string; diff?: string })[];
  ms: number;
}

export interface FileResult {
  file: string;
  /** The flow's name, once it was built. */
  flow?: string;
  /** Problems of the test file or of its flow: the file's cases did not run. */
  problems: Diagnostic[];
  cases: CaseResult[];
  /** Steps and route branches of the flow that no case reached, at their place in the flow file. */
  unreached: (Where & { what: string })[];
}

export interface TestReport {
  files: FileResult[];
  passed: number;
  failed: number;
  ms: number;
}

export interface TestOptions {
  registry: Registry;
  schemas: MessageSchemas;
  limits: HubLimits;
  env?: NodeJS.ProcessEnv;
}

export function ok(report: TestReport): boolean {
  return report.failed === 0 && report.files.every((f) => f.problems.every((p) => p.severity !== 'error'));
}

/** Runs every case of every file; never throws for a problem of a file (it is in the report). */
export async function runTestFiles(files: string[], options: TestOptions): Promise<TestReport> {
  const started = performance.now();
  const results: FileResult[] = [];
  for (const file of files) results.push(await runFile(file, options));
  const cases = results.flatMap((r) => r.cases);
  return { files: results, passed: cases.filter((c) => c.ok).length, failed: cases.filter((c) => !c.ok).length, ms: performance.now() - started };
}

async function runFile(file: string, options: TestOptions): Promise<FileResult> {
  const test = readTestFile(file, options.registry);
  const result: FileResult = { file: test.file, problems: [], cases: [], unreached: [] };
  if (!test.src.ok) {
    result.problems = test.src.diagnostics;
    return result;
  }
  const loaded = loadFlows([test.flowFile], { registry: options.registry, schemas: options.schemas, logger: pino({ level: 'silent' }), limits: options.limits, env: { ...(options.env ?? process.env), ...test.env }, mode: 'run' });
  const def = loaded.flows[0];
  if (!def) {
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    const unset = [...readFileSync(test.flowFile, 'utf8').matchAll(/\$\{env:(\w+)\}/g)].some(([, name]) => test.env[name!] === undefined && (options.env ?? process.env)[name!] === undefined);
    test.src.report(test.src.value && typeof test.src.value === 'object' && 'flow' in test.src.value ? ['flow'] : [], `the flow ${displayName(test.flowFile)} does not pass the linter, so no case runs:\n${formatDiagnostics(errors)}${unset ? '\n(a variable the flow needs and has no default for goes under `env:` in the test file)' : ''}`);
    result.problems = test.src.diagnostics;
    return result;
  }
  result.flow = def.name;
  checkAgainstFlow(test, def);
  if (!test.src.ok) {
    result.problems = test.src.diagnostics;
    return result;
  }
  const harness = await FlowHarness.open(def, dirname(file), options.limits);
  try {
    for (const [i, c] of test.cases.entries()) {
      const seen = await harness.run(c);
      const mismatches = await judge(c, i, seen);
      const at = test.src.position(['cases', i]);
      result.cases.push({
        name: c.name,
        file: test.file,
        ...at,
        ok: mismatches.length === 0,
        failures: mismatches.map((m) => ({ file: test.file, ...test.src.position(m.path), message: m.message, ...(m.diff ? { diff: m.diff } : {}) })).sort((a, b) => a.line - b.line || a.col - b.col),
        ms: seen.tookMs,
      });
    }
  } finally {
    await harness.close();
  }
  const flowSrc = new YamlSource(displayName(test.flowFile), readFileSync(test.flowFile, 'utf8'));
  result.unreached = harness.reachable.filter((r) => !harness.reached.has(r.id)).map((r) => ({ file: flowSrc.file, ...flowSrc.position(r.path), what: r.what }));
  return result;
}
