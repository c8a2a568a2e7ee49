/**
 * The Comparison page (#/compare?name=...): a hub compare report from GET /admin/api/compare/reports/{name}, the
 * newest by default. Drawn from the report's JSON: the blast radius and, per phase, each flow's throughput,
 * latency percentiles and errors for both styles side by side with p99 bars, then CPU and memory per process.
 * Bars are SVG shapes sized by attributes: the admin's CSP allows no inline style.
 */
import { call, type Answer, type CompareReport } from './api.js';
import { h, link, replace, table, time, type Child } from './dom.js';

// The report's parts, named from the type the API's description gives it.
type Style = CompareReport['styles'][number]['style'];
type PhaseResult = CompareReport['styles'][number]['phases'][number];
type FlowResult = PhaseResult['flows'][number];
type Blast = CompareReport['blastRadius'][number];

const SVG = 'http://www.w3.org/2000/svg';
const BAR_W = 160;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** Two bars (hub, mesh) of one value, on a scale shared by the whole table. */
function bars(values: { style: Style; value: number | undefined }[], max: number, unit: string): SVGSVGElement {
  const rows = values.map((v, i) => {
    const w = v.value === undefined || max <= 0 ? 0 : Math.max(1, (v.value / max) * BAR_W);
    return svg('rect', { x: 0, y: i * 9, width: w.toFixed(1), height: 7, class: `bar bar-${v.style}` }, svg('title', {}, `${v.style} style: ${v.value ?? '–'} ${unit}`));
  });
  return svg('svg', { width: BAR_W, height: values.length * 9, class: 'bars', role: 'img', 'aria-label': values.map((v) => `${v.style} ${v.value ?? '–'} ${unit}`).join(', ') }, ...rows);
}

const fmt = (v: number | undefined, digits = 1): string => (v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(digits));
const pct = (v: number | undefined): string => (v === undefined ? '–' : `${v > 0 ? '+' : ''}${v.toFixed(0)}%`);

function phaseOf(report: CompareReport, style: Style, phase: string): PhaseResult | undefined {
  return report.styles.find((s) => s.style === style)?.phases.find((p) => p.phase === phase);
}

function legend(styles: Style[]): HTMLElement {
  return h('p', { class: 'legend' }, styles.map((s) => h('span', { class: 'legend-item' }, svg('svg', { width: 12, height: 12 }, svg('rect', { width: 12, height: 12, class: `bar bar-${s}` })), ` ${s} style (${s === 'hub' ? 'one process' : 'one process per flow'})`)));
}

function blastTable(report: CompareReport, styles: Style[]): HTMLElement {
  const phases = report.phases.filter((p) => p.id !== 'baseline');
  const max = Math.max(1, ...report.blastRadius.map((b) => Math.max(0, b.worstP99ChangePct ?? 0)));
  const rows = phases.map((p) => {
    const of = (s: Style): Blast | undefined => report.blastRadius.find((b) => b.style === s && b.phase === p.id);
    return [
      h('span', { title: p.description }, p.title),
      ...styles.flatMap((s): Child[] => [h('span', { class: 'num' }, pct(of(s)?.worstP99ChangePct)), h('span', { class: 'num' }, pct(of(s)?.meanThroughputChangePct)), h('span', { class: of(s)?.healthyErrors ? 'num bad' : 'num' }, String(of(s)?.healthyErrors ?? '–'))]),
      bars(styles.map((s) => ({ style: s, value: Math.max(0, of(s)?.worstP99ChangePct ?? 0) })), max, '% worse p99'),
    ];
  });
  return table(['Phase', ...styles.flatMap((s) => [`${s}: worst p99`, 'req/s', 'errors']), 'worst p99 change'], rows, { id: 'compare-blast' });
}

function phaseTable(report: CompareReport, styles: Style[], phase: CompareReport['phases'][number]): HTMLElement {
  const flows = [...new Set(styles.flatMap((s) => phaseOf(report, s, phase.id)?.flows.map((f) => f.flow) ?? []))];
  const max = Math.max(1, ...styles.flatMap((s) => phaseOf(report, s, phase.id)?.flows.map((f) => f.latency?.p99 ?? 0) ?? []));
  const rows = flows.map((flow) => {
    const of = (s: Style): FlowResult | undefined => phaseOf(report, s, phase.id)?.flows.find((f) => f.flow === flow);
    return [
      h('span', { class: 'flow-name' }, flow, flow === phase.subject ? h('span', { class: 'muted', title: 'faulted or loaded in this phase' }, ' *') : null),
      ...styles.flatMap((s): Child[] => {
        const f = of(s);
        return [h('span', { class: 'num', 'data-field': `${s}-throughput` }, fmt(f?.throughput)), h('span', { class: 'num' }, fmt(f?.latency?.p50)), h('span', { class: 'num' }, fmt(f?.latency?.p95)), h('span', { class: 'num', 'data-field': `${s}-p99` }, fmt(f?.latency?.p99)), h('span', { class: f && f.errors + f.shed ? 'num bad' : 'num', 'data-field': `${s}-errors` }, f ? String(f.errors + f.shed) : '–')];
      }),
      bars(styles.map((s) => ({ style: s, value: of(s)?.latency?.p99 })), max, 'ms p99'),
    ];
  });
  return table(['Flow', ...styles.flatMap((s) => [`${s} req/s`, 'p50 ms', 'p95 ms', 'p99 ms', 'errors']), 'p99'], rows, { class: 'grid compare-phase', 'data-phase': phase.id });
}

function processTable(report: CompareReport): HTMLElement {
  const max = Math.max(1, ...report.styles.flatMap((s) => s.phases.map((p) => p.processes.reduce((a, x) => a + x.cpuPercent, 0))));
  const rows = report.styles.flatMap((s) =>
    s.phases.map((p) => {
      const cpu = p.processes.reduce((a, x) => a + x.cpuPercent, 0);
      const rss = p.processes.reduce((a, x) => a + x.peakRssMb, 0);
      return [s.style, p.phase, String(p.processes.length), h('span', { class: 'num' }, cpu.toFixed(0)), h('span', { class: 'num' }, rss.toFixed(0)), bars([{ style: s.style, value: cpu }], max, '% CPU'), h('span', { class: 'muted small' }, p.processes.length > 1 ? p.processes.map((x) => `${x.name} ${x.cpuPercent.toFixed(0)}% / ${x.peakRssMb.toFixed(0)} MB`).join(', ') : '')];
    }),
  );
  return table(['Style', 'Phase', 'Processes', 'CPU % (100 = one core)', 'Peak RSS MB', '', 'Per process'], rows, { id: 'compare-processes' });
}

export async function comparePage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const { reports } = await call<Answer<'listCompareReports'>>('GET', '/compare/reports');
  if (reports.length === 0) {
    replace(main, h('div', { class: 'page-head' }, h('h1', {}, 'Comparison')), h('p', { class: 'empty', id: 'compare-empty' }, 'No hub compare report yet. Run '), h('pre', {}, 'hub compare'), h('p', { class: 'muted' }, 'on the hub\'s machine: it writes its report where compare.reports (hub.yaml, default .hub/compare) points, and it shows here.'));
    return;
  }
  const name = params.get('name') ?? reports[0]!.name;
  const report = await call<CompareReport>('GET', `/compare/reports/${encodeURIComponent(name)}`);
  const styles = report.styles.map((s) => s.style);
  const s = report.settings;
  const picker = h('nav', { class: 'pager', id: 'compare-reports' }, reports.slice(0, 10).map((r) => (r.name === name ? h('strong', {}, r.id) : link('/compare', { name: r.name }, r.id))));
  replace(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Comparison'), h('span', { class: 'muted', id: 'compare-id' }, `hub style vs mesh style, run ${report.id}`)),
    picker,
    report.incomplete ? h('p', { class: 'bad' }, `Incomplete: ${report.incomplete}`) : null,
    h('p', { class: 'muted' }, 'From ', time(report.startedAt), ` on ${report.machine.cpus} CPU(s), load average ${report.machine.loadAverage.join(', ')}: ${s.flows.map((f) => `${f.flow} at ${f.rate} req/s`).join(', ')}; ${s.phaseSeconds} s per phase. Faulted: ${s.faulty} (+${s.slowLatencyMs} ms, then 503)${s.neighbour ? `; CPU-heavy neighbour: ${s.neighbour}` : ''}.`),
    legend(styles),
    h('h2', {}, 'Blast radius'),
    h('p', { class: 'muted small' }, 'How the healthy flows (all but the one faulted or loaded, and the neighbour) fared against their own baseline.'),
    blastTable(report, styles),
    report.phases.flatMap((p) => [h('h2', {}, p.title), h('p', { class: 'muted small' }, p.description), phaseTable(report, styles, p)]),
    h('h2', {}, 'CPU and memory'),
    processTable(report),
    report.notes.map((n) => h('p', { class: 'muted small' }, n)),
    h('p', { class: 'muted small' }, `The whole report: GET /admin/api/compare/reports/${name}; the HTML one is report.html beside report.json.`),
  );
}
