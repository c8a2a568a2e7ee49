/** The Flows page: each flow's state, rates and last error, with pause and resume for admins. */
import { call, type Answer, type FlowInfo, type FlowState } from './api.js';
import { badge, h, link, problemBox, replace, table, time } from './dom.js';
import { onLive } from './live.js';
import { type Ctx, can, errorText, errorCell, heading } from './page-parts.js';

export async function flowsPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  const { flows } = await call<Answer<'listFlows'>>('GET', '/flows');
  const status = h('div', { class: 'replay-status', id: 'flow-status', 'aria-live': 'polite' });
  const holder = h('div', { id: 'flows-holder' });
  const draw = (list: FlowInfo[]): void => replace(holder, flowsTable(list, ctx, status, () => void call<Answer<'listFlows'>>('GET', '/flows').then((r) => draw(r.flows), () => undefined)));
  draw(flows);
  replace(main, heading('Flows', h('span', { class: 'muted' }, `${flows.length} flow(s); dead, waiting and failed are what stands now in the journal; rate and p99 latency of deliveries over the last minute; "in" and "out" count since the hub started; updated live`)), status, holder);
  onLive({ flows: (list) => draw(list), reconnected: () => void call<Answer<'listFlows'>>('GET', '/flows').then((r) => draw(r.flows), () => undefined) });
}

function flowsTable(flows: FlowInfo[], ctx: Ctx, status: HTMLElement, refresh: () => void): HTMLElement {
  const toggle = async (f: FlowInfo, action: 'pause' | 'resume'): Promise<void> => {
    try {
      const r = await call<FlowState>('POST', `/flows/${encodeURIComponent(f.name)}/${action}`);
      replace(status, h('p', { class: 'ok', 'data-result': 'flow-state' }, `${r.name}: ${r.state}${r.changed ? '' : ' (it was already)'}`));
    } catch (err) {
      replace(status, problemBox(errorText(err)));
    }
    refresh();
  };
  const rows = flows.map((f) => [
    h('div', {}, h('strong', { class: 'flow-name' }, f.name), f.description ? h('div', { class: 'muted small' }, f.description) : null),
    h('div', { class: 'flow-state', 'data-state': f.state, 'data-health': f.health },
      h('span', { class: f.health === 'ready' ? 'ok' : f.health === 'degraded' ? 'health-degraded' : 'bad', 'data-field': 'health' }, f.health), ' ',
      badge(f.state),
      f.paused ? h('div', { class: 'muted small' }, `by ${f.paused.by} since `, time(f.paused.at), f.paused.held ? `; ${f.paused.held} held` : '') : null,
      can(ctx, 'admin')
        ? h('div', {}, f.state === 'paused'
          ? h('button', { type: 'button', class: 'small', 'data-action': 'resume-flow', onclick: () => void toggle(f, 'resume') }, 'Resume')
          : h('button', { type: 'button', class: 'small danger', 'data-action': 'pause-flow', onclick: () => void toggle(f, 'pause') }, 'Pause'))
        : null,
    ),
    f.source.adapter + (f.source.requestReply ? ' (request-reply)' : ''),
    h('ul', { class: 'plain' }, f.sinks.map((s) => h('li', { class: 'sink', 'data-sink': s.name, 'data-health': s.health.state }, `${s.name}: ${s.adapter}`, sinkHealth(s)))),
    h('span', { class: 'num', 'data-field': 'rate', title: `delivered per second over the last ${f.rate.windowSeconds} s` }, f.rate.perSecond.toFixed(2)),
    h('span', { class: 'num', 'data-field': 'p99', title: `99th percentile of ${f.rate.samples} deliveries in the last ${f.rate.windowSeconds} s` }, f.rate.p99Ms !== undefined ? `${f.rate.p99Ms} ms` : '—'),
    h('span', { class: 'num', 'data-field': 'received' }, String(f.stats.received)),
    h('span', { class: 'num' }, String(f.stats.completed)),
    nowFigure(f, 'failed', { flow: f.name, status: 'failed' }),
    nowFigure(f, 'waiting', { flow: f.name, status: 'waiting-for-retry' }),
    nowFigure(f, 'dead', { flow: f.name, status: 'dead' }),
    h('div', {}, ...errorCell(f.stats.lastError), f.stats.lastError?.messageId ? link(`/message/${f.stats.lastError.messageId}`, {}, 'message') : null),
    h('div', {}, link('/messages', { flow: f.name }, 'messages'), ' ', link('/trace', { flow: f.name }, 'trace')),
  ]);
  return table(['Flow', 'State', 'Source', 'Sinks', 'Msg/s', 'p99', 'In', 'Out', 'Failed now', 'Waiting now', 'Dead now', 'Last error', ''], rows, { id: 'flows' });
}

/** A sink's health: degraded with its error and since when; recovered with since when. */
function sinkHealth(s: FlowInfo['sinks'][number]): HTMLElement | null {
  if (!s.connected) return h('div', { class: 'sink-health bad' }, 'not connected');
  if (s.health.state !== 'degraded') return s.health.since ? h('div', { class: 'sink-health muted', 'data-field': 'sink-recovered' }, 'recovered ', time(s.health.since)) : null;
  return h('div', { class: 'sink-health health-degraded', 'data-field': 'sink-degraded' },
    `degraded since `, time(s.health.since), `: ${s.health.failures ?? 1} failing call(s) in a row; latest `,
    h('code', {}, s.health.error?.code ?? ''), ` ${s.health.error?.message ?? ''}`);
}

/** One of the figures that stand now in the journal, linked to the messages it counts. */
function nowFigure(f: FlowInfo, key: 'dead' | 'waiting' | 'failed', query: Record<string, string>): HTMLElement {
  if (!f.now) return h('span', { class: 'num bad', 'data-field': `now-${key}`, title: f.nowError ?? 'the journal could not be read' }, '?');
  const n = f.now[key];
  return link('/messages', query, h('span', { class: `num now-figure${n ? ' bad' : ''}`, 'data-field': `now-${key}` }, String(n)));
}

