/**
 * The load plan: load.json beside the flows compare runs (schemas/compare-load.schema.json). It says what each flow
 * is sent and how often, which flow's downstream is faulted and which flow is the CPU-heavy neighbour. Read with
 * line and column for every problem (JSON is YAML), all of them at once, like a flow file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeSchemaErrors, findFlowFiles } from '../../config/load-flows.js';
import { PROJECT_ROOT } from '../../config/paths.js';
import { compileFlowSchema } from '../../config/schema-validator.js';
import { ConfigFileError, YamlSource } from '../../config/yaml-source.js';
import { toMs, type Duration } from '../../core/duration.js';
import { Registry } from '../../core/registry.js';

export const PLAN_FILE = 'load.json';
/** The flows compared when no --flows-dir is given: shipped with the hub, they need no broker. */
export const DEFAULT_FLOWS_DIR = resolve(PROJECT_ROOT, 'flows', 'compare');

export interface FlowRequest {
  flow: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** Answers that count as success. */
  expect: number[];
  /** Requests per second. */
  rate: number;
}

export interface LoadPlan {
  file: string;
  flowsDir: string;
  /** The flows compared, in the plan's order (the neighbour last). */
  flows: FlowRequest[];
  faulty: string;
  neighbour: string | undefined;
  /** Flows of the folder not compared: hub style loads them too (idle), as `hub run` loads a whole folder. */
  idle: string[];
  maxInFlight: number;
  timeoutMs: number;
  slowLatencyMs: number;
}

export interface PlanOverrides {
  /** Only these flows (--flows a,b). */
  only?: string[];
  faulty?: string;
  neighbour?: string;
  rate?: number;
  maxInFlight?: number;
}

interface RawPlan {
  faulty: string;
  neighbour?: string;
  rate?: number;
  max_in_flight?: number;
  timeout?: Duration;
  slow_latency?: Duration;
  flows: Record<string, { method: string; path: string; headers?: Record<string, string>; body?: unknown; expect?: number[]; rate?: number }>;
}

/** The environment variable through which compare hands a flow its downstream: HUB_COMPARE_DOWNSTREAM_ORDERS_SOAP. */
export function downstreamVariable(flow: string): string {
  return `HUB_COMPARE_DOWNSTREAM_${flow.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** Flow names of the folder's flow files, with where each is defined (`name:` or the file name). */
function flowNames(dir: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const file of findFlowFiles([dir])) {
    const src = new YamlSource(file, readFileSync(file, 'utf8'));
    const name = (src.value as { name?: unknown } | null)?.name;
    if (typeof name === 'string') names.set(name, file);
  }
  return names;
}

/** Reads and checks DIR/load.json against the folder's flows; throws a ConfigFileError with every problem at once. */
export function loadPlan(flowsDir: string, overrides: PlanOverrides = {}): LoadPlan {
  const dir = resolve(flowsDir);
  const file = join(dir, PLAN_FILE);
  if (!existsSync(dir)) throw new ConfigFileError('FLOWS_NOT_FOUND', [{ file: flowsDir, line: 1, col: 1, message: 'no such folder of flows: name one with --flows-dir, or leave it out for flows/compare', severity: 'error' }]);
  if (!existsSync(file)) throw new ConfigFileError('COMPARE_PLAN_NOT_FOUND', [{ file, line: 1, col: 1, message: `hub compare needs a load plan beside the flows: write ${PLAN_FILE} (see flows/compare/${PLAN_FILE} and schemas/compare-load.schema.json)`, severity: 'error' }]);
  const src = new YamlSource(file, readFileSync(file, 'utf8'));
  if (src.ok) {
    const validate = compileFlowSchema(JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'schemas', 'compare-load.schema.json'), 'utf8')));
    if (!validate(src.value)) for (const d of describeSchemaErrors(validate.errors ?? [], new Registry())) src.report(d.path, d.message, { at: d.at });
  }
  if (!src.ok) throw new ConfigFileError('COMPARE_PLAN_INVALID', src.diagnostics);
  const raw = src.value as RawPlan;
  const names = flowNames(dir);
  for (const name of Object.keys(raw.flows)) if (!names.has(name)) src.report(['flows', name], `no flow named "${name}" in ${flowsDir} (flows: ${[...names.keys()].join(', ') || 'none'})`, { at: 'key' });
  const only = overrides.only;
  for (const name of only ?? []) if (!raw.flows[name]) src.report(['flows'], `--flows names "${name}", which ${PLAN_FILE} does not describe (it describes: ${Object.keys(raw.flows).join(', ')})`, { at: 'key' });
  const picked = Object.keys(raw.flows).filter((n) => !only || only.includes(n));
  const neighbourName = overrides.neighbour ?? raw.neighbour;
  const neighbour = neighbourName !== undefined && picked.includes(neighbourName) ? neighbourName : undefined;
  if (overrides.neighbour !== undefined && !neighbour) src.report(['neighbour'], `--neighbour "${overrides.neighbour}" is not one of the flows compared (${picked.join(', ')})`);
  const normal = picked.filter((n) => n !== neighbour);
  const faultyName = overrides.faulty ?? raw.faulty;
  if (faultyName === neighbour) src.report(['faulty'], `the faulty flow and the neighbour must differ (both are "${faultyName}")`);
  if (overrides.faulty !== undefined && !normal.includes(overrides.faulty)) src.report(['faulty'], `--faulty "${overrides.faulty}" is not one of the flows compared (${normal.join(', ')})`);
  // A subset without the plan's faulty flow faults its first flow instead.
  const faulty = normal.includes(faultyName) ? faultyName : normal[0];
  if (!faulty) src.report(['flows'], 'hub compare needs at least one flow besides the neighbour', { at: 'key' });
  if (!raw.flows[raw.faulty]) src.report(['faulty'], `"${raw.faulty}" is not a flow of this plan (flows: ${Object.keys(raw.flows).join(', ')})`);
  if (raw.neighbour !== undefined && !raw.flows[raw.neighbour]) src.report(['neighbour'], `"${raw.neighbour}" is not a flow of this plan (flows: ${Object.keys(raw.flows).join(', ')})`);
  if (!src.ok) throw new ConfigFileError('COMPARE_PLAN_INVALID', src.diagnostics);

  const defaultRate = overrides.rate ?? raw.rate ?? 40;
  const flows = [...normal, ...(neighbour ? [neighbour] : [])].map((flow): FlowRequest => {
    const r = raw.flows[flow]!;
    const body = r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    const headers = { ...(body !== undefined && typeof r.body !== 'string' ? { 'content-type': 'application/json' } : {}), ...(r.headers ?? {}) };
    // --rate sets the load of the ordinary flows; the neighbour keeps its own, so its cost stays what the plan meant.
    const rate = flow === neighbour ? (r.rate ?? defaultRate) : (overrides.rate ?? r.rate ?? defaultRate);
    return { flow, method: r.method, path: r.path, headers, body, expect: r.expect ?? [200], rate };
  });
  const compared = new Set(flows.map((f) => f.flow));
  const idle = [...names.keys()].filter((n) => !compared.has(n));
  return { file, flowsDir: dir, flows, faulty: faulty!, neighbour, idle, maxInFlight: overrides.maxInFlight ?? raw.max_in_flight ?? 64, timeoutMs: toMs(raw.timeout ?? '5s'), slowLatencyMs: toMs(raw.slow_latency ?? '300ms') };
}
