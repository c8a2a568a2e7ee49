/**
 * `hub dev`: the hub as `hub run` serves it, and a watch on the flows and schemas folders: on each save the flows are
 * linted and those that changed are reloaded (Hub.reload: the new version takes over, the old finishes what it has;
 * a file with errors keeps its running version and its problems are printed at file:line:col). With --test, the
 * test file beside each changed flow (`<flow>.test.yaml`) runs through `hub test` after the reload.
 */
import { spawn } from 'node:child_process';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { FlowRunner } from '../runtime/flow-runner.js';
import { PROJECT_ROOT } from '../config/paths.js';
import type { ReloadReport } from '../runtime/flow-reload.js';
import { command, type Io } from './args.js';
import { serve, type Served } from './run.js';
import { CONFIG_OPTION, setup } from './setup.js';
import { formatReload } from './trace.js';

/** Saves closer together than this are one change (an editor writes a file in several steps). */
const SETTLE_MS = 40;

export const devCommand = command({
  name: 'dev',
  summary: 'Run the hub and reload each flow you save: lint, roll over, no restart (--test: and run its tests).',
  usage: ['hub dev [--flows DIR] [--test] [--port N] [--host ADDR] [--config FILE] [--log-level L]'],
  description:
    'Serve every flow as hub run does, and watch the flows and schemas folders. On each save the flows are linted and only those that changed are reloaded: the new version takes new messages and the old one finishes those in flight, so no request fails; a route added or removed appears or disappears at once. A flow whose file has errors keeps its running version, and each problem is printed at file:line:col. --test runs the test file beside each changed flow (<flow>.test.yaml) with hub test after the reload. Stop it with Ctrl-C.',
  options: {
    ...CONFIG_OPTION,
    flows: { type: 'string', value: 'DIR', description: 'The folder of flow files (else HUB_FLOWS, else hub.yaml\'s flows, else ./flows).' },
    test: { type: 'boolean', description: 'After each reload, run the changed flows\' test files (<flow>.test.yaml) with hub test.' },
    port: { type: 'number', value: 'N', integer: true, min: 0, max: 65535, description: 'The HTTP port (else HUB_PORT, else hub.yaml\'s, else 8080); 0 picks a free one.' },
    host: { type: 'string', value: 'ADDR', description: 'The address to listen on (else HUB_HOST, else hub.yaml\'s, else 127.0.0.1).' },
    'log-level': { type: 'string', value: 'L', description: 'trace, debug, info, warn, error or silent (else HUB_LOG_LEVEL, else hub.yaml\'s, else warn in dev).' },
  },
  async run(values, _args, io) {
    const overrides = { ...(values.flows ? { flows: values.flows } : {}), ...(values.port !== undefined ? { port: values.port } : {}), ...(values.host ? { host: values.host } : {}), logLevel: values['log-level'] ?? io.env.HUB_LOG_LEVEL ?? 'warn' };
    const setupResult = await setup(values.config, overrides);
    const { flowsDir, schemasDir } = setupResult.config;
    return serve(setupResult, undefined, io, (served) => watchFlows(served, [flowsDir, schemasDir], io, values.test === true));
  },
});

/** Watches `dirs`; each settled change reloads the flows (one reload at a time; saves meanwhile make one more). Returns the stop. */
function watchFlows({ hub, address }: Served, dirs: string[], io: Io, test: boolean): () => void {
  io.out(`hub dev: serving ${hub.runners.length} flow(s) on ${address}; watching ${dirs.join(' and ')} (Ctrl-C stops)`);
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  /** Test files saved since the last reload: with --test they run too, though no flow changed. */
  const savedTests = new Set<string>();
  /** `quiet`: say nothing when nothing changed (the catch-up reload when the watch begins). */
  const reload = async (quiet = false): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const report = await hub.reload({ wait: true });
        if (!quiet || report.problems.length || report.added.length || report.changed.length || report.removed.length) print(report, io);
        const saved = [...savedTests];
        savedTests.clear();
        if (test) await runTests(hub.runners, report, saved, io);
      } while (again);
    } catch (err) {
      io.err(`hub dev: the reload failed: ${(err as Error).message}`);
    } finally {
      running = false;
    }
  };
  const changed = (dir: string, file: string | null): void => {
    if (file && /\.test\.ya?ml$/.test(file)) savedTests.add(resolve(dir, file));
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), SETTLE_MS);
  };
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    const w = watch(dir, { recursive: true }, (_event, file) => changed(dir, file));
    w.on('error', (err) => io.err(`hub dev: cannot watch ${dir}: ${err.message}`));
    watchers.push(w);
  }
  // An edit saved while the hub was starting, before the watch began.
  void reload(true);
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

function print(report: ReloadReport, io: Io): void {
  const time = new Date().toTimeString().slice(0, 8);
  const lines = formatReload(report);
  if (report.problems.length) for (const line of lines) io.err(`[${time}] ${line}`);
  else for (const line of lines) io.out(`[${time}] ${line}`);
}

/**
 * `hub test <flow>.test.yaml` for each flow the reload started and each test file saved, in a process of its own
 * (the test runner is its own command), its output passed on.
 */
async function runTests(runners: readonly FlowRunner[], report: ReloadReport, saved: string[], io: Io): Promise<void> {
  const names = new Set([...report.added, ...report.changed]);
  const files = new Set(saved.filter((f) => existsSync(f)));
  for (const r of runners.filter((x) => names.has(x.name))) {
    const file = r.def.file.replace(/\.ya?ml$/, '.test.yaml');
    if (existsSync(file)) files.add(file);
    else io.out(`   ${r.name}: no test file (${file})`);
  }
  for (const file of files) {
    await new Promise<void>((done) => {
      const child = spawn(process.execPath, [resolve(PROJECT_ROOT, 'bin', 'hub.js'), 'test', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d: Buffer) => io.out(d.toString('utf8').trimEnd()));
      child.stderr.on('data', (d: Buffer) => io.err(d.toString('utf8').trimEnd()));
      child.on('close', () => done());
      child.on('error', (err) => {
        io.err(`hub dev: cannot run hub test: ${err.message}`);
        done();
      });
    });
  }
}
