/**
 * The reports `hub compare` wrote, read back for the admin API: one folder per run under the reports folder
 * (compare.reports in hub.yaml, default .hub/compare), each with its report.json. Read on every request (a few files,
 * small), so a run that finishes while the hub runs shows at once; a folder without a readable report is left out.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompareReport } from './report.js';

/** What a report's folder may be called to be served: one plain name, no path. */
export const REPORT_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
/** Most reports listed, newest first. */
export const MAX_LISTED = 100;

export interface ReportSummary {
  name: string;
  id: string;
  startedAt: string;
  finishedAt: string;
  incomplete?: string;
  flows: string[];
  styles: string[];
  phaseSeconds: number;
}

export class ReportFolder {
  constructor(readonly dir: string) {}

  async list(): Promise<ReportSummary[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir, { withFileTypes: true })).filter((e) => e.isDirectory() && new RegExp(REPORT_NAME).test(e.name)).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const reports = await Promise.all(names.map(async (name) => ({ name, report: await this.get(name) })));
    return reports
      .filter((r): r is { name: string; report: CompareReport } => r.report !== undefined)
      .map(({ name, report }) => ({
        name,
        id: report.id,
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        ...(report.incomplete ? { incomplete: report.incomplete } : {}),
        flows: report.settings.flows.map((f) => f.flow),
        styles: report.styles.map((s) => s.style),
        phaseSeconds: report.settings.phaseSeconds,
      }))
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
      .slice(0, MAX_LISTED);
  }

  /** The report of the folder `name`, or undefined when there is none or it is not a report. */
  async get(name: string): Promise<CompareReport | undefined> {
    if (!new RegExp(REPORT_NAME).test(name)) return undefined;
    try {
      const report = JSON.parse(await readFile(join(this.dir, name, 'report.json'), 'utf8')) as CompareReport;
      return report && typeof report === 'object' && report.version === 1 && Array.isArray(report.styles) && report.settings ? report : undefined;
    } catch {
      return undefined;
    }
  }
}
