/**
 * report.html: the report for a person, in one file that needs nothing else (inline style, inline SVG charts, no
 * script, no font or CDN), so it can be mailed, attached to an issue or opened offline. Every text from the report
 * (flow names come from the user's flow files) is escaped.
 */
import type { Style } from './deploy.js';
import type { CompareReport, PhaseResult } from './report.js';
import { reportTables } from './table.js';

const COLORS: Record<Style, string> = { hub: '#2457a6', mesh: '#d9822b' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface BarGroup {
  label: string;
  bars: { series: Style; value: number | undefined }[];
}

/** A horizontal grouped bar chart: one group per label, one bar per style; values printed at the bars' ends. */
export function barChart(title: string, unit: string, groups: BarGroup[], options: { signed?: boolean } = {}): string {
  const labelW = 150;
  const chartW = 300;
  const barH = 14;
  const gap = 10;
  const groupH = groups.length ? groups[0]!.bars.length * barH + gap : 0;
  const values = groups.flatMap((g) => g.bars.map((b) => b.value ?? 0));
  const max = Math.max(1e-9, ...values.map(Math.abs));
  const signed = options.signed && values.some((v) => v < 0);
  const zero = signed ? labelW + chartW / 2 : labelW;
  const scale = (signed ? chartW / 2 : chartW) / max;
  const height = 28 + groups.length * groupH + 18;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + chartW + 80}" height="${height}" role="img" aria-label="${escapeHtml(title)}">`, `<text x="0" y="16" class="ct">${escapeHtml(title)}</text>`];
  groups.forEach((g, gi) => {
    const y0 = 28 + gi * groupH;
    parts.push(`<text x="${labelW - 8}" y="${y0 + (g.bars.length * barH) / 2 + 4}" text-anchor="end" class="cl">${escapeHtml(g.label)}</text>`);
    g.bars.forEach((b, bi) => {
      const y = y0 + bi * barH;
      const v = b.value;
      const w = v === undefined ? 0 : Math.max(v === 0 ? 0 : 1, Math.abs(v) * scale);
      const x = v !== undefined && v < 0 ? zero - w : zero;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[b.series]}"><title>${escapeHtml(`${b.series} style: ${v === undefined ? 'no value' : `${v} ${unit}`}`)}</title></rect>`);
      // A negative bar's value goes right of the zero line, where nothing else is drawn.
      const tx = v !== undefined && v < 0 ? zero + 4 : zero + w + 4;
      const digits = unit === '' || Math.abs(v ?? 0) >= 100 ? 0 : 1;
      const text = v === undefined ? '–' : `${options.signed && v > 0 ? '+' : ''}${v.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
      parts.push(`<text x="${tx.toFixed(1)}" y="${y + barH - 4}" class="cv">${escapeHtml(text)}</text>`);
    });
  });
  parts.push(`<line x1="${zero}" y1="24" x2="${zero}" y2="${height - 14}" stroke="#888" stroke-width="1"/>`);
  parts.push('</svg>');
  return parts.join('');
}

function phaseOf(report: CompareReport, style: Style, phase: string): PhaseResult | undefined {
  return report.styles.find((s) => s.style === style)?.phases.find((p) => p.phase === phase);
}

const STYLE_SHEET = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2329;margin:24px;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d9dee3;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:#66707a}.warn{color:#a15c00;font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:18px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px -1px 12px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid #e3e7eb;text-align:right}th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#eef1f4;font-weight:600}pre{background:#f6f7f9;padding:10px;overflow:auto;font-size:12px}
svg .ct{font-weight:600;font-size:13px}svg .cl{font-size:12px}svg .cv{font-size:11px;fill:#333}`;

export function renderHtml(report: CompareReport): string {
  const styles = report.styles.map((s) => s.style);
  const s = report.settings;
  const legend = `<p class="legend">${styles.map((st) => `<span style="background:${COLORS[st]}"></span>${st} style (${st === 'hub' ? 'one process' : 'one process per flow'})`).join('')}</p>`;
  const sections: string[] = [];
  for (const phase of report.phases) {
    const flows = [...new Set(styles.flatMap((st) => phaseOf(report, st, phase.id)?.flows.map((f) => f.flow) ?? []))];
    const group = (pick: (st: Style, flow: string) => number | undefined): BarGroup[] => flows.map((flow) => ({ label: flow === phase.subject ? `${flow} *` : flow, bars: styles.map((st) => ({ series: st, value: pick(st, flow) })) }));
    const f = (st: Style, flow: string) => phaseOf(report, st, phase.id)?.flows.find((x) => x.flow === flow);
    const rows = flows
      .map((flow) => `<tr><td>${escapeHtml(flow)}${flow === phase.subject ? ' *' : ''}</td>${styles.map((st) => {
        const r = f(st, flow);
        return r ? `<td>${r.throughput.toFixed(1)}</td><td>${r.latency?.p50 ?? '–'}</td><td>${r.latency?.p95 ?? '–'}</td><td>${r.latency?.p99 ?? '–'}</td><td>${r.errors + r.shed}</td>` : '<td colspan="5">–</td>';
      }).join('')}</tr>`)
      .join('');
    sections.push(`<h3>${escapeHtml(phase.title)}</h3><p class="muted">${escapeHtml(phase.description)}</p>
<div class="charts">${barChart('p99 latency', 'ms', group((st, flow) => f(st, flow)?.latency?.p99))}${barChart('throughput (successful answers)', 'req/s', group((st, flow) => f(st, flow)?.throughput))}${barChart('errors', '', group((st, flow) => { const r = f(st, flow); return r ? r.errors + r.shed : undefined; }))}</div>
<table><thead><tr><th>flow</th>${styles.map((st) => `<th>${st} req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>errors</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>`);
  }
  const resourceGroups = (pick: (p: PhaseResult) => number): BarGroup[] => report.phases.map((ph) => ({ label: ph.id, bars: styles.map((st) => { const p = phaseOf(report, st, ph.id); return { series: st, value: p ? pick(p) : undefined }; }) }));
  const procRows = report.styles.flatMap((st) => st.phases.flatMap((ph) => ph.processes.map((p) => `<tr><td>${st.style}</td><td>${ph.phase}</td><td>${escapeHtml(p.name)}</td><td>${p.cpuSeconds}</td><td>${p.cpuPercent}</td><td>${p.peakRssMb}</td></tr>`))).join('');
  const blastPhases = report.phases.filter((p) => p.id !== 'baseline');
  const blast = (pick: (b: CompareReport['blastRadius'][number]) => number | undefined): BarGroup[] => blastPhases.map((ph) => ({ label: ph.id, bars: styles.map((st) => { const b = report.blastRadius.find((x) => x.style === st && x.phase === ph.id); return { series: st, value: b ? pick(b) : undefined }; }) }));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hub compare ${escapeHtml(report.id)}: hub style vs mesh style</title><style>${STYLE_SHEET}</style></head>
<body>
<h1>hub compare: hub style vs mesh style</h1>
<p>Run ${escapeHtml(report.id)}, ${escapeHtml(report.startedAt)} to ${escapeHtml(report.finishedAt)}, on ${report.machine.cpus} CPU(s) (${escapeHtml(report.machine.cpuModel)}; load average ${report.machine.loadAverage.join(', ')} at the end), Node ${escapeHtml(report.machine.node)}.</p>
${report.incomplete ? `<p class="warn">Incomplete: ${escapeHtml(report.incomplete)}. The figures are those measured until then.</p>` : ''}
<p>The same flows (${s.flows.map((f) => `${escapeHtml(f.flow)} at ${f.rate} req/s`).join(', ')}) from ${escapeHtml(s.flowsDir)}, run hub style (every flow in one process) and mesh style (one process per flow), each driven through the same phases of ${s.phaseSeconds} s, in slices alternating between the styles, after a warm-up (${report.styles.map((st) => `${st.style} style ${st.warmupSeconds} s`).join(', ')}: until the CPU per request settled). Faulted flow: ${escapeHtml(s.faulty)} (slow: +${s.slowLatencyMs} ms, then failing: 503)${s.neighbour ? `; CPU-heavy neighbour: ${escapeHtml(s.neighbour)}` : ''}. The load is open loop (a fixed rate, at most ${s.maxInFlight} requests of a flow in flight, ${s.timeoutMs} ms timeout).</p>
${legend}
<h2>Blast radius</h2>
<p class="muted">How the healthy flows (every flow but the one faulted or loaded, and the neighbour) fared against their own baseline: the worst change of a healthy flow's p99 latency, the mean change of their throughput, and their errors.</p>
<div class="charts">${barChart('worst p99 change of a healthy flow', '%', blast((b) => b.worstP99ChangePct), { signed: true })}${barChart('mean throughput change of the healthy flows', '%', blast((b) => b.meanThroughputChangePct), { signed: true })}${barChart('errors of the healthy flows', '', blast((b) => b.healthyErrors))}</div>
<h2>Phases</h2>
${sections.join('\n')}
<h2>CPU and memory</h2>
<p class="muted">Read from /proc of each process: CPU time used in the phase (100% = one core busy for the whole phase) and the highest resident memory sampled in it, summed over the style's processes.</p>
<div class="charts">${barChart('CPU, all processes', '%', resourceGroups((p) => p.processes.reduce((a, x) => a + x.cpuPercent, 0)))}${barChart('peak RSS, all processes', 'MB', resourceGroups((p) => p.processes.reduce((a, x) => a + x.peakRssMb, 0)))}</div>
<table><thead><tr><th>style</th><th>phase</th><th>process</th><th>CPU s</th><th>CPU %</th><th>peak RSS MB</th></tr></thead><tbody>${procRows}</tbody></table>
<h2>As on the terminal</h2>
<pre>${escapeHtml(reportTables(report))}</pre>
${report.notes.map((n) => `<p class="muted">Note: ${escapeHtml(n)}</p>`).join('\n')}
</body></html>
`;
}
