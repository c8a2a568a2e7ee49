/**
 * One comparison, start to end: the peers, both styles' processes, a warm-up of each, then every phase with the
 * same load, in slices alternating between the styles, then the report. Every process it starts is in one
 * ProcessSet, ended in `finally` whatever happened (done, failed, interrupted through `signal`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploy, STYLES, type Deployment, type Style } from './deploy.js';
import { HEALTHY, type Fault } from './fault-injector.js';
import { drive, Tallies, type FlowTarget, type LoadOptions } from './load-driver.js';
import { Peers } from './peers.js';
import type { LoadPlan } from './plan.js';
import { ProcSampler, readProc } from './proc-stats.js';
import { ProcessSet } from './processes.js';
import type { ProgressSink } from './progress.js';
import { blastRadius, REPORT_VERSION, type CompareReport, type PhaseId, type PhaseInfo, type StyleResult } from './report.js';
import { round1, round2 } from './samples.js';

export interface CompareOptions {
  plan: LoadPlan;
  schemasDir: string;
  phaseSeconds: number;
  warmupSeconds: number;
  styles?: Style[];
  progress: ProgressSink;
  signal?: AbortSignal;
  /** For tests: the process set, to see what was started. */
  processes?: ProcessSet;
}

export function phasesOf(plan: LoadPlan): PhaseInfo[] {
  const x = plan.faulty;
  return [
    { id: 'baseline', title: 'Baseline', description: 'Every flow under its load, every downstream healthy.' },
    { id: 'slow-downstream', title: `Slow downstream (${x})`, description: `${x}'s downstream answers ${plan.slowLatencyMs} ms later; the other flows' are healthy.`, subject: x },
    { id: 'failing-downstream', title: `Failing downstream (${x})`, description: `${x}'s downstream answers 503 to everything; the other flows' are healthy.`, subject: x },
    ...(plan.neighbour ? [{ id: 'cpu-neighbour' as const, title: `CPU-heavy neighbour (${plan.neighbour})`, description: `${plan.neighbour}, a flow with a costly transform, gets its load besides the others'.`, subject: plan.neighbour }] : []),
  ];
}

function faultOf(phase: PhaseId, plan: LoadPlan): Fault {
  if (phase === 'slow-downstream') return { latencyMs: plan.slowLatencyMs, fail: false };
  if (phase === 'failing-downstream') return { latencyMs: 0, fail: true };
  return HEALTHY;
}

/** A phase is measured in slices about this long, alternating between the styles. */
const SLICE_SECONDS = 2;

/** The neighbour's rate in the warm-up: enough to compile its transform, too little to leave a backlog for the baseline. */
const NEIGHBOUR_WARMUP_RATE = 2;

function targets(plan: LoadPlan, deployment: Deployment, phase: PhaseId | 'warmup'): FlowTarget[] {
  return plan.flows
    .filter((f) => f.flow !== plan.neighbour || phase === 'cpu-neighbour' || phase === 'warmup')
    .map((f) => ({
      flow: f.flow,
      origin: deployment.originOf(f.flow),
      method: f.method,
      path: f.path,
      headers: f.headers,
      body: f.body,
      expect: f.expect,
      rate: f.flow === plan.neighbour && phase === 'warmup' ? Math.min(f.rate, NEIGHBOUR_WARMUP_RATE) : f.rate,
    }));
}

function runId(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The warm-up is driven in slices this long, and lasts at least WARMUP_MIN_SECONDS. */
const WARMUP_SLICE_SECONDS = 2;
const WARMUP_MIN_SECONDS = 12;
/** Settled: a slice took no less CPU than this share of the slice before. */
const WARMUP_SETTLED = 0.85;

/**
 * Sends the phases' load (the neighbour's barely) until the CPU the style's processes take for it stops falling:
 * V8 has then compiled the hot paths. On a busy two-core machine a hub's CPU per request fell for some 15 s (from
 * 0.97 to 0.35 CPU seconds per 2 s of the same load), and a fixed 2 s left its first phase measured at several times
 * its later latency; hence at least 12 s (`maxSeconds` permitting). Resolves with the seconds it took.
 */
async function warmUp(plan: LoadPlan, deployment: Deployment, maxSeconds: number, load: LoadOptions, progress: ProgressSink): Promise<number> {
  const pids = deployment.processes.map((p) => p.process.pid);
  const cpu = (): number => pids.reduce((a, pid) => a + (readProc(pid)?.cpuSeconds ?? 0), 0);
  let spent = 0;
  let previous: number | undefined;
  while (spent < maxSeconds && !load.signal?.aborted) {
    const slice = Math.min(WARMUP_SLICE_SECONDS, maxSeconds - spent);
    const before = cpu();
    await drive(targets(plan, deployment, 'warmup'), { ...load, durationMs: slice * 1000 }, (f) => progress.update((spent + f * slice) / maxSeconds));
    spent += slice;
    const used = cpu() - before;
    if (previous !== undefined && spent >= WARMUP_MIN_SECONDS && used >= previous * WARMUP_SETTLED) break;
    previous = used;
  }
  return round1(spent);
}

export async function runComparison(options: CompareOptions): Promise<CompareReport> {
  const { plan, progress, signal } = options;
  const started = new Date();
  const styles = options.styles ?? STYLES;
  const phases = phasesOf(plan);
  const flows = plan.flows.map((f) => f.flow);
  const set = options.processes ?? new ProcessSet();
  const workDir = mkdtempSync(join(tmpdir(), 'hub-compare-'));
  const results: StyleResult[] = [];
  const notes: string[] = [];
  let incomplete: string | undefined;
  const load = { durationMs: 0, maxInFlight: plan.maxInFlight, timeoutMs: plan.timeoutMs, ...(signal ? { signal } : {}) };
  const aborted = (): boolean => signal?.aborted === true;
  try {
    progress.step('starting the downstream simulators', 0);
    const peers = await Peers.start(set, flows, workDir);
    progress.note(`downstream simulators and fault injectors ready (pid ${peers.process.pid})`);
    const deployments: Deployment[] = [];
    for (const style of styles) {
      if (aborted()) break;
      progress.step(`${style} style: starting ${style === 'hub' ? 'one process' : `${flows.length} processes`}`, 0);
      const t0 = performance.now();
      const deployment = await deploy(style, { set, flowsDir: plan.flowsDir, schemasDir: options.schemasDir, flows, downstreams: peers.downstreams, workDir: join(workDir, style), ...(signal ? { signal } : {}) });
      deployments.push(deployment);
      results.push({ style, startMs: Math.round(performance.now() - t0), warmupSeconds: 0, processes: deployment.processes.map((p) => ({ name: p.name, flows: p.flows })), phases: [] });
      for (const p of deployment.processes) progress.note(`${style} style: ${p.name} ready at ${p.origin} (pid ${p.process.pid}; ${p.flows.join(', ')})`);
    }
    for (const deployment of deployments) {
      if (options.warmupSeconds <= 0 || aborted()) break;
      progress.step(`${deployment.style} style: warming up (until its CPU per request settles, at most ${options.warmupSeconds} s)`, options.warmupSeconds);
      results.find((r) => r.style === deployment.style)!.warmupSeconds = await warmUp(plan, deployment, options.warmupSeconds, load, progress);
    }
    // Each phase in slices, each style in turn within a slice and the order alternating, while the other style's
    // processes idle: a burst of whatever else the machine runs then falls on both styles alike, not on one.
    const slices = Math.max(1, Math.round(options.phaseSeconds / SLICE_SECONDS));
    const sliceMs = (options.phaseSeconds * 1000) / slices;
    for (const phase of phases) {
      if (aborted()) break;
      const label = `${phase.title}: ${deployments.map((d) => d.style).join(' and ')} style, ${slices} slice(s) of ${round1(sliceMs / 1000)} s each`;
      progress.step(label, options.phaseSeconds * deployments.length);
      await peers.healAll();
      if (phase.subject === plan.faulty) await peers.setFault(plan.faulty, faultOf(phase.id, plan));
      const tallies = new Map(deployments.map((d) => [d.style, new Tallies()]));
      const usage = new Map(deployments.map((d) => [d.style, d.processes.map(() => ({ cpuSeconds: 0, peakRssBytes: 0 }))]));
      let done = 0;
      for (let k = 0; k < slices && !aborted(); k++) {
        for (const deployment of k % 2 === 0 ? deployments : [...deployments].reverse()) {
          if (aborted()) break;
          const sampler = new ProcSampler(deployment.processes.map((p) => p.process.pid));
          sampler.start();
          await drive(targets(plan, deployment, phase.id), { ...load, durationMs: sliceMs }, (f) => progress.update((done + f) / (slices * deployments.length)), tallies.get(deployment.style));
          sampler.stop().forEach((u, j) => {
            const total = usage.get(deployment.style)![j]!;
            total.cpuSeconds += u.cpuSeconds;
            total.peakRssBytes = Math.max(total.peakRssBytes, u.peakRssBytes);
          });
          done++;
          const lost = deployment.processes.filter((p) => p.process.exited());
          if (lost.length) throw new Error(`${lost.map((p) => p.name).join(', ')} exited during ${deployment.style} style's ${phase.title}:\n${lost.map((p) => p.process.output().trim()).join('\n')}`);
        }
      }
      if (aborted()) {
        notes.push(`${phase.title} was interrupted; its figures are left out.`);
        break;
      }
      for (const deployment of deployments) {
        const t = tallies.get(deployment.style)!;
        const active = targets(plan, deployment, phase.id).map((f) => f.flow);
        results.find((r) => r.style === deployment.style)!.phases.push({
          phase: phase.id,
          seconds: round1(t.seconds),
          flows: t.results(active),
          processes: deployment.processes.map((p, j) => {
            const u = usage.get(deployment.style)![j]!;
            return { name: p.name, pid: p.process.pid, flows: p.flows, cpuSeconds: round2(u.cpuSeconds), cpuPercent: round1((u.cpuSeconds / Math.max(t.seconds, 0.001)) * 100), peakRssMb: round1(u.peakRssBytes / 1024 / 1024) };
          }),
        });
      }
    }
    await peers.healAll();
    if (aborted()) incomplete = `interrupted (${String((signal?.reason as Error | undefined)?.message ?? signal?.reason ?? 'aborted')})`;
  } catch (err) {
    if (!aborted()) throw err;
    incomplete = `interrupted (${(err as Error).message})`;
  } finally {
    await set.stopAll();
    rmSync(workDir, { recursive: true, force: true });
    progress.done();
  }
  const cpu = cpus();
  if (plan.idle.length && styles.includes('hub')) notes.push(`Hub style also ran ${plan.idle.join(', ')} (flows of the folder not compared), idle: a hub runs its whole folder.`);
  if (options.phaseSeconds < 5) notes.push(`Phases of ${options.phaseSeconds} s are short: percentiles rest on few requests; the default is 10 s.`);
  notes.push('All processes (hubs, simulators, load driver) share this machine, so CPU one takes is CPU the others lack: compare figures of one run, not across machines.');
  return {
    version: REPORT_VERSION,
    id: runId(started),
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    ...(incomplete ? { incomplete } : {}),
    machine: { cpus: cpu.length, cpuModel: cpu[0]?.model.trim() ?? 'unknown', loadAverage: loadavg().map(round1), node: process.version, platform: `${process.platform} ${process.arch}` },
    settings: {
      flowsDir: plan.flowsDir,
      flows: plan.flows.map((f) => ({ flow: f.flow, rate: f.rate, method: f.method, path: f.path })),
      faulty: plan.faulty,
      ...(plan.neighbour ? { neighbour: plan.neighbour } : {}),
      phaseSeconds: options.phaseSeconds,
      warmupSeconds: options.warmupSeconds,
      maxInFlight: plan.maxInFlight,
      timeoutMs: plan.timeoutMs,
      slowLatencyMs: plan.slowLatencyMs,
    },
    phases,
    styles: results,
    blastRadius: blastRadius(results, phases, flows, plan.neighbour),
    notes,
  };
}
