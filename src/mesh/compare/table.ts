/**
 * The report as text tables for the terminal (stdout): per phase and flow the two styles side by side, then CPU and
 * memory per process, then the blast radius. Plain ASCII columns, so it reads the same in a terminal, a CI log and
 * docs/compare.md.
 */
import type { Style } from './deploy.js';
import type { FlowLoadResult } from './load-driver.js';
import type { CompareReport, PhaseResult } from './report.js';

/** Columns padded to their widest cell; numbers (and a leading sign) right-aligned. */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[\d.,]+\s*%?$|^-$|^$/.test(r[i] ?? '')));
  const line = (cells: string[]): string => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const pct = (v: number | undefined): string => (v === undefined ? '-' : `${v > 0 ? '+' : ''}${v.toFixed(0)}%`);

function phaseOf(report: CompareReport, style: Style, phase: string): PhaseResult | undefined {
  return report.styles.find((s) => s.style === style)?.phases.find((p) => p.phase === phase);
}

function cells(f: FlowLoadResult | undefined): string[] {
  if (!f) return ['-', '-', '-', '-', '-'];
  return [f.throughput.toFixed(1), ms(f.latency?.p50), ms(f.latency?.p95), ms(f.latency?.p99), String(f.errors + f.shed)];
}

export function reportTables(report: CompareReport): string {
  const styles = report.styles.map((s) => s.style);
  const out: string[] = [];
  const s = report.settings;
  out.push(`hub compare ${report.id}: ${s.flows.length} flow${s.flows.length === 1 ? "" : "s"}, hub style (1 process) vs mesh style (1 process per flow), ${s.phaseSeconds} s per phase, on ${report.machine.cpus} CPU(s)${report.incomplete ? ` — INCOMPLETE: ${report.incomplete}` : ''}`);
  out.push(`warm-up until the CPU per request settled: ${report.styles.map((st) => `${st.style} style ${st.warmupSeconds} s`).join(', ')}; each phase in slices alternating between the styles`);
  out.push(`load: ${s.flows.map((f) => `${f.flow} ${f.rate}/s${f.flow === s.neighbour ? ' (neighbour phase only)' : ''}`).join(', ')}; faulted: ${s.faulty}${s.neighbour ? `; CPU-heavy neighbour: ${s.neighbour}` : ''}`);
  out.push('');
  const head = ['phase', 'flow', ...styles.flatMap((st) => [`${st} req/s`, 'p50 ms', 'p95 ms', 'p99 ms', 'errors'])];
  const rows: string[][] = [];
  for (const phase of report.phases) {
    const names = new Set(styles.flatMap((st) => phaseOf(report, st, phase.id)?.flows.map((f) => f.flow) ?? []));
    let first = true;
    for (const flow of names) {
      const mark = flow === phase.subject ? ' *' : '';
      rows.push([first ? phase.id : '', flow + mark, ...styles.flatMap((st) => cells(phaseOf(report, st, phase.id)?.flows.find((f) => f.flow === flow)))]);
      first = false;
    }
  }
  out.push(textTable(head, rows));
  out.push('(* the flow faulted or loaded in that phase; errors include requests shed at the in-flight limit)');
  out.push('');
  const procRows: string[][] = [];
  for (const st of report.styles) {
    for (const phase of st.phases) {
      const total = phase.processes.reduce((a, p) => ({ cpu: a.cpu + p.cpuPercent, rss: a.rss + p.peakRssMb }), { cpu: 0, rss: 0 });
      const detail = phase.processes.length > 1 ? phase.processes.map((p) => `${p.name} ${p.cpuPercent.toFixed(0)}%/${p.peakRssMb.toFixed(0)}`).join(', ') : '';
      procRows.push([st.style, phase.phase, String(phase.processes.length), total.cpu.toFixed(0), total.rss.toFixed(0), detail]);
    }
  }
  out.push(textTable(['style', 'phase', 'procs', 'CPU % (1 core = 100)', 'peak RSS MB', 'per process (CPU %/MB)'], procRows));
  out.push('');
  const blastRows = report.phases
    .filter((p) => p.id !== 'baseline')
    .map((p) => [p.id, ...styles.flatMap((st) => {
      const b = report.blastRadius.find((x) => x.style === st && x.phase === p.id);
      return b ? [pct(b.worstP99ChangePct), pct(b.meanThroughputChangePct), String(b.healthyErrors)] : ['-', '-', '-'];
    })]);
  out.push('blast radius: how the healthy flows (all but the faulted one and the neighbour) fared against their baseline');
  out.push(textTable(['phase', ...styles.flatMap((st) => [`${st} worst p99`, 'req/s', 'errors'])], blastRows));
  for (const n of report.notes) out.push(`note: ${n}`);
  return out.join('\n');
}
