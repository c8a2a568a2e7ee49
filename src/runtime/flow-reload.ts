import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FlowDefinition, LoadResult } from '../config/load-flows.js';
import type { Diagnostic } from '../config/yaml-source.js';
import type { HubLimits } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import type { FlowRunner } from './flow-runner.js';
import type { RouteSwitch } from './route-switch.js';

/** What a reload did. Every flow of the hub is in exactly one of added, changed, removed, unchanged and kept. */
export interface ReloadReport {
  /** New flows, started. */
  added: string[];
  /** Flows whose file (or the message schemas) changed: the new version took over, the old one finished what it had. */
  changed: string[];
  /** Flows whose file is gone: their routes answer 404, their runners finished what they had. */
  removed: string[];
  unchanged: string[];
  /** Flows whose file has errors now: the running version goes on serving. */
  kept: string[];
  /** Every error found, each at its file, line and column (the flows in `kept`, and new files that could not start). */
  problems: Diagnostic[];
  tookMs: number;
}

export interface FlowReloaderOptions {
  /** The hub's runners, replaced in place (the admin API and the retry poller read the same array and map). */
  runners: FlowRunner[];
  byName: Map<string, FlowRunner>;
  routes: RouteSwitch;
  limits: HubLimits;
  logger: Logger;
  schemasDir: string;
  /** Loads and lints every flow again. */
  load: () => LoadResult;
  /** Which of the loaded flows this hub runs (flow mode: its one flow). */
  select: (flows: FlowDefinition[]) => FlowDefinition[];
  newRunner: (def: FlowDefinition) => FlowRunner;
  /** Ends the old version of a flow (after its routes went to the new one): waits for what it has in flight. */
  retire: (runner: FlowRunner) => Promise<void>;
  /** The runners changed (the admin API watches the new ones). */
  changed: (added: FlowRunner[], removed: FlowRunner[]) => void;
  /** What the running flows were loaded from (flowPrints, taken right after their load). */
  prints: ReadonlyMap<string, string>;
}

/**
 * Reloads the flows of a running hub: lints them all, and replaces only those whose file (or the message schemas)
 * changed, one at a time. A new version is started first: its source takes its routes over (RouteSwitch) or starts
 * consuming beside the old one; then the old version stops, which takes no new message and finishes those in flight
 * (a broker takes back what it had prefetched and gives it to the new consumer). A flow whose file has errors keeps
 * its running version. One reload at a time: another asked for meanwhile is refused with CONFLICT.
 */
export class FlowReloader {
  readonly #o: FlowReloaderOptions;
  /** What each running runner was made from: its file's text and the schemas, hashed. */
  readonly #prints = new WeakMap<FlowRunner, string>();
  #running: Promise<ReloadReport> | undefined;

  constructor(options: FlowReloaderOptions) {
    this.#o = options;
    for (const r of options.runners) this.#prints.set(r, options.prints.get(r.def.file) ?? '');
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Resolves once no reload runs. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running.catch(() => {});
  }

  /** Reloads now; CONFLICT when a reload is running (`wait`: waits for it instead, then reloads again). */
  async reload(options: { wait?: boolean } = {}): Promise<ReloadReport> {
    while (this.#running) {
      if (!options.wait) throw hubError('CONFLICT', 'a reload of the flows is running already; try again when it is done (one at a time)');
      await this.#running.catch(() => {});
    }
    this.#running = this.#reload();
    try {
      return await this.#running;
    } finally {
      this.#running = undefined;
    }
  }

  async #reload(): Promise<ReloadReport> {
    const o = this.#o;
    const clock = performance.now();
    const result = o.load();
    const problems = result.diagnostics.filter((d) => d.severity === 'error');
    const broken = new Set(problems.map((d) => d.file));
    const schemas = folderPrint(o.schemasDir);
    const report: ReloadReport = { added: [], changed: [], removed: [], unchanged: [], kept: [], problems, tookMs: 0 };
    const stay = new Set<FlowRunner>();
    const retiring: Promise<void>[] = [];
    for (const r of o.runners) if (broken.has(r.def.file)) stay.add(r);
    const wanted = o.select(result.flows);
    for (const def of wanted) {
      const old = o.byName.get(def.name);
      if (broken.has(def.file)) continue;
      const p = print(def.file, schemas);
      if (old && this.#prints.get(old) === p && old.def.file === def.file) {
        stay.add(old);
        continue;
      }
      const next = o.newRunner(def);
      try {
        await next.start(o.routes.http, o.limits);
      } catch (err) {
        report.problems.push({ file: def.file, line: 1, col: 1, severity: 'error', message: `flow "${def.name}" could not start: ${(err as Error).message}` });
        await next.stop(0).catch(() => {});
        if (old) stay.add(old);
        continue;
      }
      this.#prints.set(next, p);
      stay.add(next);
      if (old) {
        next.adoptTraces(old);
        this.#replace(old, next);
        report.changed.push(def.name);
        retiring.push(o.retire(old));
      } else {
        o.runners.push(next);
        o.byName.set(def.name, next);
        report.added.push(def.name);
      }
      o.changed([next], old ? [old] : []);
    }
    for (const r of [...o.runners]) {
      if (stay.has(r)) {
        if (broken.has(r.def.file)) report.kept.push(r.name);
        else if (!report.changed.includes(r.name) && !report.added.includes(r.name)) report.unchanged.push(r.name);
        continue;
      }
      o.runners.splice(o.runners.indexOf(r), 1);
      o.byName.delete(r.name);
      report.removed.push(r.name);
      o.changed([], [r]);
      retiring.push(o.retire(r));
    }
    o.routes.release(new Set(o.runners.flatMap((r) => httpKeys(r.def))));
    await Promise.all(retiring);
    report.tookMs = Math.round(performance.now() - clock);
    const moved = report.added.length + report.changed.length + report.removed.length;
    o.logger.info({ ...report, problems: problems.length }, moved ? `reloaded the flows: ${describe(report)}` : 'reloaded the flows: nothing changed');
    return report;
  }

  #replace(old: FlowRunner, next: FlowRunner): void {
    const o = this.#o;
    o.runners[o.runners.indexOf(old)] = next;
    o.byName.set(next.name, next);
  }
}

/**
 * Each flow file's fingerprint (its text and the schemas folder, hashed): taken right after a load, with no await
 * between, so that an edit made while the hub starts is seen as a change by the first reload.
 */
export function flowPrints(files: readonly string[], schemasDir: string): Map<string, string> {
  const schemas = folderPrint(schemasDir);
  return new Map(files.map((f) => [f, print(f, schemas)]));
}

/** The HTTP routes a flow's source holds (claims and their conflicts, `http METHOD /path`). */
export function httpKeys(def: FlowDefinition): string[] {
  return def.source.claims.flatMap((c) => [c.key, ...(c.conflicts ?? [])]).filter((k) => k.startsWith('http '));
}

export function describe(report: ReloadReport): string {
  const parts = (['added', 'changed', 'removed', 'kept'] as const).filter((k) => report[k].length).map((k) => `${k} ${report[k].join(', ')}`);
  return parts.join('; ') || 'nothing changed';
}

function print(file: string, schemas: string): string {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // Gone: the load says so.
  }
  return createHash('sha256').update(text).update('\0').update(schemas).digest('hex');
}

/** A hash of every file under `dir` (the message schemas, WSDLs): a change there reloads every flow. */
function folderPrint(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(d, name);
      try {
        if (statSync(path).isDirectory()) walk(path);
        else hash.update(path).update('\0').update(readFileSync(path)).update('\0');
      } catch {
        // Went away meanwhile.
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}
