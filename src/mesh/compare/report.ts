/**
 * The comparison's report (report.json): what was run, the figures per style, phase and flow, each process's CPU
 * and memory, and the blast radius. REPORT_SCHEMA describes it; the admin API serves it under that schema and the
 * console draws it. Change the two together (report.test.ts checks a real report against the schema).
 */
import type { JsonSchema } from '../../core/contracts.js';
import type { Style } from './deploy.js';
import type { FlowLoadResult } from './load-driver.js';
import { round1 } from './samples.js';

export const REPORT_VERSION = 1;

export type PhaseId = 'baseline' | 'slow-downstream' | 'failing-downstream' | 'cpu-neighbour';

export interface PhaseInfo {
  id: PhaseId;
  title: string;
  description: string;
  /** The flow faulted, or put under load, in this phase. */
  subject?: string;
}

export interface ProcessResult {
  name: string;
  pid: number;
  flows: string[];
  cpuSeconds: number;
  /** CPU seconds per second of the phase, in % of one core. */
  cpuPercent: number;
  peakRssMb: number;
}

export interface PhaseResult {
  phase: PhaseId;
  seconds: number;
  flows: FlowLoadResult[];
  processes: ProcessResult[];
}

export interface StyleResult {
  style: Style;
  /** How long its processes took to be ready, in ms. */
  startMs: number;
  /** How long its warm-up lasted (until the CPU per request settled). */
  warmupSeconds: number;
  processes: { name: string; flows: string[] }[];
  phases: PhaseResult[];
}

export interface HealthyFlowChange {
  flow: string;
  throughputChangePct: number | undefined;
  p99ChangePct: number | undefined;
  p99Ms: number | undefined;
  baselineP99Ms: number | undefined;
  errors: number;
}

export interface BlastRadius {
  style: Style;
  phase: PhaseId;
  /** The flows not faulted in the phase (nor the neighbour): how much they suffered against their baseline. */
  healthy: HealthyFlowChange[];
  meanThroughputChangePct: number | undefined;
  worstP99ChangePct: number | undefined;
  healthyErrors: number;
}

export interface CompareReport {
  version: typeof REPORT_VERSION;
  id: string;
  startedAt: string;
  finishedAt: string;
  /** Why it ended early (interrupted, failed), when it did. */
  incomplete?: string;
  machine: { cpus: number; cpuModel: string; loadAverage: number[]; node: string; platform: string };
  settings: { flowsDir: string; flows: { flow: string; rate: number; method: string; path: string }[]; faulty: string; neighbour?: string; phaseSeconds: number; /** The longest a warm-up may last. */ warmupSeconds: number; maxInFlight: number; timeoutMs: number; slowLatencyMs: number };
  phases: PhaseInfo[];
  styles: StyleResult[];
  blastRadius: BlastRadius[];
  notes: string[];
}

function changePct(now: number | undefined, before: number | undefined): number | undefined {
  if (now === undefined || before === undefined || before === 0) return undefined;
  return round1(((now - before) / before) * 100);
}

/** The flows that should not suffer in a phase: every flow but its subject and the neighbour. */
export function healthyFlows(phase: PhaseInfo, flows: string[], neighbour: string | undefined): string[] {
  return flows.filter((f) => f !== neighbour && f !== phase.subject);
}

/** Blast radius of every faulted phase of each style, against the same style's baseline. */
export function blastRadius(styles: StyleResult[], phases: PhaseInfo[], flows: string[], neighbour: string | undefined): BlastRadius[] {
  const out: BlastRadius[] = [];
  for (const s of styles) {
    const base = s.phases.find((p) => p.phase === 'baseline');
    if (!base) continue;
    for (const info of phases) {
      if (info.id === 'baseline') continue;
      const phase = s.phases.find((p) => p.phase === info.id);
      if (!phase) continue;
      const healthy = healthyFlows(info, flows, neighbour).map((flow): HealthyFlowChange => {
        const now = phase.flows.find((f) => f.flow === flow);
        const before = base.flows.find((f) => f.flow === flow);
        return { flow, throughputChangePct: changePct(now?.throughput, before?.throughput), p99ChangePct: changePct(now?.latency?.p99, before?.latency?.p99), p99Ms: now?.latency?.p99, baselineP99Ms: before?.latency?.p99, errors: (now?.errors ?? 0) + (now?.shed ?? 0) };
      });
      const tputs = healthy.map((h) => h.throughputChangePct).filter((v): v is number => v !== undefined);
      const p99s = healthy.map((h) => h.p99ChangePct).filter((v): v is number => v !== undefined);
      out.push({
        style: s.style,
        phase: info.id,
        healthy,
        meanThroughputChangePct: tputs.length ? round1(tputs.reduce((a, b) => a + b, 0) / tputs.length) : undefined,
        worstP99ChangePct: p99s.length ? Math.max(...p99s) : undefined,
        healthyErrors: healthy.reduce((a, h) => a + h.errors, 0),
      });
    }
  }
  return out;
}

const num: JsonSchema = { type: 'number' };
const int: JsonSchema = { type: 'integer', minimum: 0 };
const str: JsonSchema = { type: 'string' };
const phaseId: JsonSchema = { enum: ['baseline', 'slow-downstream', 'failing-downstream', 'cpu-neighbour'] };
const style: JsonSchema = { enum: ['hub', 'mesh'] };

/** The JSON Schema of report.json (and of the admin API's answer with one). */
export const REPORT_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'A hub compare report: the same flows run hub style (one process) and mesh style (one process per flow) under the same load and faults.',
  required: ['version', 'id', 'startedAt', 'finishedAt', 'machine', 'settings', 'phases', 'styles', 'blastRadius', 'notes'],
  properties: {
    version: { const: REPORT_VERSION },
    id: { ...str, description: 'The run: its start time, e.g. 20261202T015000Z.' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    incomplete: { ...str, description: 'Why the run ended early (interrupted, a process failed); its figures are those measured until then.' },
    machine: { type: 'object', required: ['cpus', 'cpuModel', 'loadAverage', 'node', 'platform'], properties: { cpus: int, cpuModel: str, loadAverage: { type: 'array', items: num }, node: str, platform: str } },
    settings: {
      type: 'object',
      required: ['flowsDir', 'flows', 'faulty', 'phaseSeconds', 'warmupSeconds', 'maxInFlight', 'timeoutMs', 'slowLatencyMs'],
      properties: {
        flowsDir: str,
        flows: { type: 'array', items: { type: 'object', required: ['flow', 'rate', 'method', 'path'], properties: { flow: str, rate: { ...num, description: 'Requests per second sent to it.' }, method: str, path: str } } },
        faulty: { ...str, description: 'The flow whose downstream was made slow, then failing.' },
        neighbour: { ...str, description: 'The CPU-heavy flow, under load only in the cpu-neighbour phase.' },
        phaseSeconds: num,
        warmupSeconds: num,
        maxInFlight: int,
        timeoutMs: int,
        slowLatencyMs: int,
      },
    },
    phases: { type: 'array', items: { type: 'object', required: ['id', 'title', 'description'], properties: { id: phaseId, title: str, description: str, subject: str } } },
    styles: {
      type: 'array',
      items: {
        type: 'object',
        required: ['style', 'startMs', 'warmupSeconds', 'processes', 'phases'],
        properties: {
          style,
          startMs: int,
          warmupSeconds: { ...num, description: 'How long its warm-up lasted: until its processes\' CPU for the same load stopped falling, at most settings.warmupSeconds.' },
          processes: { type: 'array', items: { type: 'object', required: ['name', 'flows'], properties: { name: str, flows: { type: 'array', items: str } } } },
          phases: {
            type: 'array',
            items: {
              type: 'object',
              required: ['phase', 'seconds', 'flows', 'processes'],
              properties: {
                phase: phaseId,
                seconds: num,
                flows: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['flow', 'sent', 'ok', 'errors', 'shed', 'throughput', 'errorKinds'],
                    properties: {
                      flow: str,
                      sent: int,
                      ok: int,
                      errors: int,
                      shed: { ...int, description: 'Requests not sent because as many as max_in_flight awaited an answer.' },
                      throughput: { ...num, description: 'Successful answers per second.' },
                      latency: { type: 'object', required: ['p50', 'p95', 'p99', 'max', 'mean'], description: 'Milliseconds to the whole answer.', properties: { p50: num, p95: num, p99: num, max: num, mean: num } },
                      errorKinds: { type: 'object', additionalProperties: int },
                    },
                  },
                },
                processes: { type: 'array', items: { type: 'object', required: ['name', 'pid', 'flows', 'cpuSeconds', 'cpuPercent', 'peakRssMb'], properties: { name: str, pid: int, flows: { type: 'array', items: str }, cpuSeconds: num, cpuPercent: num, peakRssMb: num } } },
              },
            },
          },
        },
      },
    },
    blastRadius: {
      type: 'array',
      items: {
        type: 'object',
        required: ['style', 'phase', 'healthy', 'healthyErrors'],
        properties: {
          style,
          phase: phaseId,
          healthy: { type: 'array', items: { type: 'object', required: ['flow', 'errors'], properties: { flow: str, throughputChangePct: num, p99ChangePct: num, p99Ms: num, baselineP99Ms: num, errors: int } } },
          meanThroughputChangePct: num,
          worstP99ChangePct: num,
          healthyErrors: int,
        },
      },
    },
    notes: { type: 'array', items: str },
  },
};
