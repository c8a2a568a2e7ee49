/** `hub test`'s report, for a terminal (failures at file:line:col with their diff) or as JUnit XML for CI. */
import { formatDiagnostic } from '../config/yaml-source.js';
import { ok, type TestReport } from './suite.js';

function indent(text: string, by = '    '): string {
  return text
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

/** The report for a terminal: one line per case, each failure at its file:line:col with a diff, the unreached steps, a count. */
export function textReport(report: TestReport): string {
  const out: string[] = [];
  for (const f of report.files) {
    out.push(`${f.file}${f.flow ? ` (flow ${f.flow})` : ''}`);
    for (const p of f.problems) out.push(indent(formatDiagnostic(p), '  '));
    for (const c of f.cases) {
      out.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name} (${c.ms.toFixed(1)} ms)`);
      for (const failure of c.failures) {
        out.push(`    ${failure.file}:${failure.line}:${failure.col}: ${failure.message}`);
        if (failure.diff) out.push(indent(failure.diff, '      '));
      }
    }
    for (const u of f.unreached) out.push(`  not reached by any case: ${u.what} (${u.file}:${u.line}:${u.col})`);
  }
  const problems = report.files.reduce((n, f) => n + f.problems.filter((p) => p.severity === 'error').length, 0);
  out.push('');
  out.push(`${ok(report) ? 'ok' : 'FAILED'}: ${report.passed} passed, ${report.failed} failed${problems ? `, ${problems} problem(s) in test files or flows` : ''}, in ${report.files.length} file(s) (${report.ms.toFixed(0)} ms)`);
  return out.join('\n');
}

function xml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!).replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/g, '');
}

/** JUnit XML: a testsuite per file, a testcase per case; a file's problems are a failed testcase of their own. */
export function junitReport(report: TestReport): string {
  const suites = report.files.map((f) => {
    const cases = f.cases.map((c) => {
      const failure = c.failures.length ? `<failure message="${xml(c.failures[0]!.message)}">${xml(c.failures.map((x) => `${x.file}:${x.line}:${x.col}: ${x.message}${x.diff ? `\n${x.diff}` : ''}`).join('\n\n'))}</failure>` : '';
      return `    <testcase classname="${xml(f.flow ?? f.file)}" name="${xml(c.name)}" file="${xml(c.file)}" line="${c.line}" time="${(c.ms / 1000).toFixed(4)}">${failure}</testcase>`;
    });
    const errors = f.problems.filter((p) => p.severity === 'error');
    if (errors.length) cases.push(`    <testcase classname="${xml(f.flow ?? f.file)}" name="test file" file="${xml(f.file)}"><failure message="${xml(errors[0]!.message.split('\n')[0]!)}">${xml(errors.map(formatDiagnostic).join('\n'))}</failure></testcase>`);
    const failures = f.cases.filter((c) => !c.ok).length + (errors.length ? 1 : 0);
    const unreached = f.unreached.length ? `\n    <system-out>${xml(f.unreached.map((u) => `not reached by any case: ${u.what} (${u.file}:${u.line}:${u.col})`).join('\n'))}</system-out>` : '';
    return `  <testsuite name="${xml(f.file)}" tests="${cases.length}" failures="${failures}" errors="0">\n${cases.join('\n')}${unreached}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="hub test" tests="${report.passed + report.failed}" failures="${report.failed}" time="${(report.ms / 1000).toFixed(3)}">\n${suites.join('\n')}\n</testsuites>`;
}
