/**
 * `hub compare`: parses its options, runs the comparison (run.ts), prints the tables and writes report.json and
 * report.html. SIGINT and SIGTERM end the run early: the processes it started are stopped, a report of what was
 * measured is written (marked incomplete), and it exits 130; a second Ctrl-C kills them at once.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { command, UsageError } from './args.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { STYLES, type Style } from '../mesh/compare/deploy.js';
import { renderHtml } from '../mesh/compare/html.js';
import { DEFAULT_FLOWS_DIR, loadPlan } from '../mesh/compare/plan.js';
import { ProcessSet } from '../mesh/compare/processes.js';
import { Progress } from '../mesh/compare/progress.js';
import { runComparison } from '../mesh/compare/run.js';
import { reportTables } from '../mesh/compare/table.js';

/** Where reports go by default, one folder per run; the admin console reads this folder (compare.reports in hub.yaml). */
export const DEFAULT_REPORTS_DIR = '.hub/compare';

export const compareCommand = command({
  name: 'compare',
  summary: 'Run the same flows hub style and mesh style under the same load and faults, and report side by side.',
  usage: ['hub compare [--flows A,B] [--flows-dir DIR] [--duration S] [--warmup S] [--rate N] [--max-in-flight N] [--faulty FLOW] [--neighbour FLOW] [--styles hub,mesh] [--out DIR]'],
  description:
    'Run the same flows hub style (one process) and mesh style (one process per flow) under the same load, then with ONE flow\'s downstream slow, then failing, then beside a CPU-heavy neighbour; print throughput, latency percentiles, errors, CPU and memory per process and the blast radius, and write report.json and report.html. About 2 to 3 minutes in all. SIGINT or SIGTERM ends it early: every process it started is stopped, what was measured is written (marked incomplete), and it exits 130.',
  options: {
    flows: { type: 'string', value: 'A,B', description: 'Compare only these flows of the load plan, separated by commas.' },
    'flows-dir': { type: 'string', value: 'DIR', description: 'The flows to compare, with their load plan load.json (default: flows/compare/, no broker needed).' },
    duration: { type: 'number', value: 'S', min: 1, default: 10, description: 'Seconds per phase.' },
    warmup: { type: 'number', value: 'S', min: 0, default: 20, description: 'The most seconds a style is warmed up before it is measured (it stops once the CPU per request settles).' },
    rate: { type: 'number', value: 'N', min: 0.1, description: 'Requests per second per flow (default: the load plan\'s).' },
    'max-in-flight': { type: 'number', value: 'N', min: 1, integer: true, description: 'The most requests in flight per flow (default: the load plan\'s).' },
    faulty: { type: 'string', value: 'FLOW', description: 'The flow whose downstream is made slow, then failing (default: the load plan\'s).' },
    neighbour: { type: 'string', value: 'FLOW', description: 'The CPU-heavy neighbour (default: the load plan\'s).' },
    styles: { type: 'string', value: 'hub,mesh', description: 'The styles to run, separated by commas (default: both).' },
    out: { type: 'string', value: 'DIR', description: `Where to write report.json and report.html (default: ${DEFAULT_REPORTS_DIR}/<run id>/).` },
  },
  async run(values, _args, io) {
    const { duration, warmup, rate } = values;
    const maxInFlight = values['max-in-flight'];
    const only = values.flows?.split(',').map((s) => s.trim()).filter(Boolean);
    if (values.flows !== undefined && !only?.length) throw new UsageError('CLI_BAD_OPTION', '--flows names flows separated by commas, e.g. --flows orders-soap,quotes-rest');
    const styles = (values.styles?.split(',').map((s) => s.trim()) ?? STYLES) as Style[];
    for (const s of styles) if (!STYLES.includes(s)) throw new UsageError('CLI_BAD_OPTION', `--styles takes ${STYLES.join(' and ')} (got "${s}")`);
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
      io.out(reportTables(report));
      io.out('');
      io.out(`report: ${join(dir, 'report.html')} (and report.json)`);
      if (report.incomplete) {
        io.err(`hub compare: ${report.incomplete}; every process it started has been stopped`);
        return 130;
      }
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', lastResort);
    }
  },
});
