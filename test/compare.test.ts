import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { REPORT_SCHEMA, type CompareReport } from '../src/mesh/compare/report.js';
import { Hub } from '../src/hub.js';
import { HUB_BIN, runHub } from './support/processes.js';

// hub compare for real: the built CLI runs flows/compare hub style and mesh style (real hub processes, the real
// simulators behind real fault injectors, real load over loopback), briefly. Then the admin API serves the report it
// wrote; and a run interrupted with SIGINT leaves no process behind.

const TOKEN = 'compare-test-token-0123456789abcdef';
/** Short phases and a light load: the machine is shared; the figures only have to be sane. */
const QUICK = ['--duration', '1', '--warmup', '1', '--rate', '12'];

const work = mkdtempSync(join(tmpdir(), 'compare-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Whether a process is still there (a zombie counts as gone: it runs nothing and holds no port). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidsIn = (stderr: string): number[] => [...stderr.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1]));

describe('hub compare: a real short run', () => {
  const reports = join(work, 'reports');
  const out = join(reports, 'run-1');
  let report: CompareReport;
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    const res = await runHub(['compare', ...QUICK, '--out', out]);
    stdout = res.stdout;
    stderr = res.stderr;
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as CompareReport;
  }, 240_000);

  it('writes a report that matches its schema, with one process per flow mesh style and one hub style', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    const validate = ajv.compile(REPORT_SCHEMA);
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    const flows = ['orders-soap', 'quotes-rest', 'quotes-soap', 'cpu-report'];
    expect(report.settings).toMatchObject({ faulty: 'orders-soap', neighbour: 'cpu-report', phaseSeconds: 1 });
    const hub = report.styles.find((s) => s.style === 'hub')!;
    const mesh = report.styles.find((s) => s.style === 'mesh')!;
    expect(hub.processes).toEqual([{ name: 'hub', flows }]);
    expect(mesh.processes).toEqual(flows.map((f) => ({ name: f, flows: [f] })));
    for (const style of [hub, mesh]) {
      expect(style.phases.map((p) => p.phase)).toEqual(['baseline', 'slow-downstream', 'failing-downstream', 'cpu-neighbour']);
      for (const phase of style.phases) {
        expect(phase.processes).toHaveLength(style.style === 'hub' ? 1 : 4);
        const pids = new Set(phase.processes.map((p) => p.pid));
        expect(pids.size).toBe(phase.processes.length);
        for (const p of phase.processes) {
          expect(p.peakRssMb, `${style.style} ${phase.phase} ${p.name}`).toBeGreaterThan(20);
          expect(p.cpuSeconds).toBeGreaterThanOrEqual(0);
        }
        // The hub (or the flows' processes together) did work for the requests it answered.
        expect(phase.processes.reduce((a, p) => a + p.cpuSeconds, 0)).toBeGreaterThan(0);
      }
    }
  });

  it('has sane figures: the rate it asked for, ordered percentiles, errors only for the faulty flow when it fails', () => {
    for (const style of report.styles) {
      const phase = (id: string) => style.phases.find((p) => p.phase === id)!;
      const flow = (id: string, name: string) => phase(id).flows.find((f) => f.flow === name)!;
      for (const p of style.phases) {
        for (const f of p.flows) {
          expect(f.sent + f.shed, `${style.style} ${p.phase} ${f.flow}`).toBeGreaterThan(0);
          expect(f.ok + f.errors).toBe(f.sent);
          if (f.latency) expect(f.latency.p50 <= f.latency.p95 && f.latency.p95 <= f.latency.p99 && f.latency.p99 <= f.latency.max).toBe(true);
        }
      }
      // The neighbour is idle until its phase.
      expect(phase('baseline').flows.map((f) => f.flow)).not.toContain('cpu-report');
      expect(flow('cpu-neighbour', 'cpu-report').ok).toBeGreaterThan(0);
      for (const name of ['orders-soap', 'quotes-rest', 'quotes-soap']) {
        const base = flow('baseline', name);
        expect(base.errors, `${style.style} baseline ${name}: ${JSON.stringify(base.errorKinds)}`).toBe(0);
        expect(base.ok).toBeGreaterThanOrEqual(6);
      }
      // Slow: the faulty flow's answers take at least the added 300 ms; failing: it answers errors, the others do not.
      expect(flow('slow-downstream', 'orders-soap').latency!.p50).toBeGreaterThanOrEqual(300);
      const failing = flow('failing-downstream', 'orders-soap');
      expect([failing.ok, failing.errors > 0]).toEqual([0, true]);
      expect(Object.keys(failing.errorKinds)).toEqual(['status 502']);
      for (const name of ['quotes-rest', 'quotes-soap']) expect(flow('failing-downstream', name).errors, `${style.style} ${name}`).toBe(0);
      const blast = report.blastRadius.find((b) => b.style === style.style && b.phase === 'failing-downstream')!;
      expect(blast.healthy.map((h) => h.flow)).toEqual(['quotes-rest', 'quotes-soap']);
      expect(blast.healthyErrors).toBe(0);
    }
  });

  it('prints the table on stdout and progress on stderr (plain lines, not a TTY), and writes a self-contained HTML report', () => {
    expect(stdout).toMatch(/phase\s+flow\s+hub req\/s\s+p50 ms\s+p95 ms\s+p99 ms\s+errors\s+mesh req\/s/);
    expect(stdout).toContain('blast radius');
    expect(stdout).toContain(`report: ${join(out, 'report.html')}`);
    expect(stderr).toMatch(/^hub compare: Failing downstream \(orders-soap\): hub and mesh style, 1 slice\(s\) of 1 s each \(\d+% done\)$/m);
    expect(stderr).not.toContain('\r');
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThan(10);
    expect(html).not.toMatch(/<script|<link|src=|href=|@import|url\(/i);
    expect(html).toContain('orders-soap *');
  });

  it('the admin API lists the report and serves it (viewer); an unknown name is a 404 problem, a path a 400', async () => {
    mkdirSync(join(reports, 'not-a-report'), { recursive: true });
    writeFileSync(join(reports, 'not-a-report', 'report.json'), '{ broken');
    const flowsDir = mkdtempSync(join(work, 'no-flows-'));
    const hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir, logLevel: 'silent', journal: { dir: join(work, 'journal') }, admin: { token: TOKEN }, compareReportsDir: reports }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
    });
    try {
      const get = (url: string) => hub.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
      const list = await get('/admin/api/compare/reports');
      expect(list.statusCode, list.body).toBe(200);
      expect(list.json()).toEqual({ reports: [{ name: 'run-1', id: report.id, startedAt: report.startedAt, finishedAt: report.finishedAt, flows: ['orders-soap', 'quotes-rest', 'quotes-soap', 'cpu-report'], styles: ['hub', 'mesh'], phaseSeconds: 1 }] });
      const one = await get('/admin/api/compare/reports/run-1');
      expect(one.statusCode).toBe(200);
      expect(one.json()).toEqual(report);
      const missing = await get('/admin/api/compare/reports/not-a-report');
      expect([missing.statusCode, missing.headers['content-type'], missing.json().code]).toEqual([404, 'application/problem+json', 'NOT_FOUND']);
      expect((await get('/admin/api/compare/reports/..%2Frun-1')).statusCode).toBe(400);
      expect((await hub.app.inject({ method: 'GET', url: '/admin/api/compare/reports' })).statusCode).toBe(401);
      const doc = (await get('/admin/api/openapi.json')).json() as { paths: Record<string, { get?: { 'x-required-role': string } }> };
      expect(doc.paths['/admin/api/compare/reports/{name}']?.get?.['x-required-role']).toBe('viewer');
    } finally {
      await hub.stop();
    }
  });
});

describe('hub compare: bad input', () => {
  it('refuses bad options (exit 2) and a bad load plan with file:line:col (exit 1), starting nothing', async () => {
    const duration = await runHub(['compare', '--duration', 'soon']);
    expect([duration.code, duration.stderr.split('\n')[0]]).toEqual([2, 'hub: CLI_BAD_OPTION: --duration must be a number of at least 1 (got "soon")']);
    expect(duration.stderr).toContain('\nUsage: hub compare [--flows A,B]');
    const styles = await runHub(['compare', '--styles', 'hub,esb']);
    expect(styles.code).toBe(2);
    expect(styles.stderr).toContain('--styles takes hub and mesh (got "esb")');
    const flows = await runHub(['compare', '--flows', 'orders-soap,nope']);
    expect(flows.code).toBe(1);
    expect(flows.stderr).toMatch(/flows\/compare\/load\.json:\d+:\d+: --flows names "nope", which load\.json does not describe/);
    const dir = mkdtempSync(join(work, 'bad-plan-'));
    writeFileSync(join(dir, 'load.json'), JSON.stringify({ faulty: 'x', flows: { x: { method: 'POST', path: 'no-slash', rate: -1 } }, extra: 1 }, null, 2));
    const plan = await runHub(['compare', '--flows-dir', dir]);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/load\.json:\d+:\d+: unknown key "extra"/);
    expect(plan.stderr).toMatch(/load\.json:6:15: must match the pattern \^\//);
    expect(plan.stderr).toMatch(/load\.json:7:15: must be > 0/);
    const none = await runHub(['compare', '--flows-dir', join(work, 'nowhere')]);
    expect([none.code, none.stderr]).toEqual([1, expect.stringContaining('no such folder of flows')]);
  });
});

describe('hub compare: interrupted', () => {
  it('SIGINT stops every process it started (by process group), writes what it measured as incomplete, exits 130', async () => {
    const out = join(work, 'interrupted');
    const child = spawn(process.execPath, [HUB_BIN, 'compare', ...QUICK, '--out', out], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = once(child, 'exit');
    // Interrupt in the second phase, when both styles' processes run and both baselines are measured.
    const deadline = Date.now() + 120_000;
    while (!/compare: Slow downstream/.test(stderr)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no second phase in time:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const pids = pidsIn(stderr);
    // The peers, the hub style's hub and the mesh style's four processes.
    expect(pids).toHaveLength(6);
    expect(pids.every(alive)).toBe(true);
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('SIGINT: stopping every process of the comparison');
    for (const pid of pids) {
      expect(alive(pid), `pid ${pid}`).toBe(false);
      expect(groupAlive(pid), `process group ${pid}`).toBe(false);
    }
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as CompareReport;
    expect(report.incomplete).toMatch(/interrupted \(SIGINT\)/);
    expect(report.styles.map((s) => s.phases.map((p) => p.phase))).toEqual([['baseline'], ['baseline']]);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 180_000);
});
