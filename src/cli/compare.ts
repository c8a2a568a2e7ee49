/**
 * `hub compare`: parses its options, runs the comparison (run.ts), prints the tables and writes report.json and
 * report.html. SIGINT and SIGTERM end the run early: the processes it started are stopped, a report of what was
 * measured is written (marked incomplete), and it exits 130; a second Ctrl-C kills them at once.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './admin.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { STYLES, type Style } from '../mesh/compare/deploy.js';
import { renderHtml } from '../mesh/compare/html.js';
import { DEFAULT_FLOWS_DIR, loadPlan } from '../mesh/compare/plan.js';
import { ProcessSet } from '../mesh/compare/processes.js';
import { Progress } from '../mesh/compare/progress.js';
import { runComparison } from '../mesh/compare/run.js';
import { reportTables } from '../mesh/compare/table.js';

export const COMPARE_USAGE = `  hub compare [--flows A,B] [--flows-dir DIR] [--duration S] [--warmup S] [--rate N] [--max-in-flight N]
              [--faulty FLOW] [--neighbour FLOW] [--styles hub,mesh] [--out DIR]
        Run the same flows hub style (one process) and mesh style (one process per flow) under the same load, then
        with ONE flow's downstream slow, then failing, then beside a CPU-heavy neighbour; print throughput, latency
        percentiles, errors, CPU and memory per process and the blast radius, and write report.json and report.html
        to DIR (default .hub/compare/<run id>/). Flows: flows/compare/ (no broker needed), or DIR with its load.json.
        --duration is seconds per phase (default 10); --warmup the most seconds a style is warmed up before it is
        measured (default 20; it stops once the CPU per request settles). About 2 to 3 minutes in all.`;

/** Where reports go by default, one folder per run; the admin console reads this folder (compare.reports in hub.yaml). */
export const DEFAULT_REPORTS_DIR = '.hub/compare';

function positiveNumber(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || value.trim() === '') throw new UsageError(`--${name} must be a number of at least ${min} (got "${value}")`);
  return n;
}

export async function compareCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      flows: { type: 'string' },
      'flows-dir': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      'max-in-flight': { type: 'string' },
      faulty: { type: 'string' },
      neighbour: { type: 'string' },
      styles: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const duration = positiveNumber('duration', values.duration, 10, 1);
  const warmup = positiveNumber('warmup', values.warmup, 20, 0);
  const rate = values.rate === undefined ? undefined : positiveNumber('rate', values.rate, 0, 0.1);
  const maxInFlight = values['max-in-flight'] === undefined ? undefined : positiveNumber('max-in-flight', values['max-in-flight'], 0, 1);
  if (maxInFlight !== undefined && !Number.isInteger(maxInFlight)) throw new UsageError('--max-in-flight must be a whole number');
  const only = values.flows?.split(',').map((s) => s.trim()).filter(Boolean);
  if (values.flows !== undefined && !only?.length) throw new UsageError('--flows names flows separated by commas, e.g. --flows orders-soap,quotes-rest');
  const styles = (values.styles?.split(',').map((s) => s.trim()) ?? STYLES) as Style[];
  for (const s of styles) if (!STYLES.includes(s)) throw new UsageError(`--styles takes ${STYLES.join(' and ')} (got "${s}")`);
  const flowsDir = values['flows-dir'] ? resolve(values['flows-dir']) : DEFAULT_FLOWS_DIR;
  const plan = loadPlan(flowsDir, { ...(only ? { only } : {}), ...(values.faulty ? { faulty: values.faulty } : {}), ...(values.neighbour ? { neighbour: values.neighbour } : {}), ...(rate !== undefined ? { rate } : {}), ...(maxInFlight !== undefined ? { maxInFlight } : {}) });
  const schemasDir = process.env.HUB_SCHEMAS ? resolve(process.env.HUB_SCHEMAS) : existsSync(resolve('schemas')) ? resolve('schemas') : resolve(PROJECT_ROOT, 'schemas');
  const phases = 3 + (plan.neighbour ? 1 : 0);
  const progress = new Progress(styles.length * (warmup + phases * duration));

  const set = new ProcessSet();
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1 && signal === 'SIGINT') {
      set.killAllNow();
      process.exit(130);
    }
    progress.note(`${signal}: stopping every process of the comparison (Ctrl-C again to kill them at once)`);
    controller.abort(new Error(signal));
  };
  const lastResort = (): void => set.killAllNow();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', lastResort);
  try {
    const report = await runComparison({ plan, schemasDir, phaseSeconds: duration, warmupSeconds: warmup, styles, progress, signal: controller.signal, processes: set });
    const dir = resolve(values.out ?? join(DEFAULT_REPORTS_DIR, report.id));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(dir, 'report.html'), renderHtml(report));
    out(reportTables(report));
    out('');
    out(`report: ${join(dir, 'report.html')} (and report.json)`);
    if (report.incomplete) {
      err(`hub compare: ${report.incomplete}; every process it started has been stopped`);
      return 130;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', lastResort);
  }
}
