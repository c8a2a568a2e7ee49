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
  replace(main, heading('Flows', h('span', { class: 'muted' }, `${flows.length} flow(s); rate and p99 latency of deliveries over the last minute, counters since the hub started; updated live`)), status, holder);
  onLive({ flows: (list) => draw(list) });
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
    h('div', { class: 'flow-state', 'data-state': f.state },
      h('span', { class: f.ready ? 'ok' : 'bad' }, f.ready ? 'ready' : 'not ready'), ' ',
      badge(f.state),
      f.paused ? h('div', { class: 'muted small' }, `by ${f.paused.by} since `, time(f.paused.at), f.paused.held ? `; ${f.paused.held} held` : '') : null,
      can(ctx, 'admin')
        ? h('div', {}, f.state === 'paused'
          ? h('button', { type: 'button', class: 'small', 'data-action': 'resume-flow', onclick: () => void toggle(f, 'resume') }, 'Resume')
          : h('button', { type: 'button', class: 'small danger', 'data-action': 'pause-flow', onclick: () => void toggle(f, 'pause') }, 'Pause'))
        : null,
    ),
    f.source.adapter + (f.source.requestReply ? ' (request-reply)' : ''),
    h('ul', { class: 'plain' }, f.sinks.map((s) => h('li', {}, `${s.name}: ${s.adapter}`))),
    h('span', { class: 'num', 'data-field': 'rate', title: `delivered per second over the last ${f.rate.windowSeconds} s` }, f.rate.perSecond.toFixed(2)),
    h('span', { class: 'num', 'data-field': 'p99', title: `99th percentile of ${f.rate.samples} deliveries in the last ${f.rate.windowSeconds} s` }, f.rate.p99Ms !== undefined ? `${f.rate.p99Ms} ms` : '—'),
    h('span', { class: 'num', 'data-field': 'received' }, String(f.stats.received)),
    h('span', { class: 'num' }, String(f.stats.completed)),
    h('span', { class: 'num' }, String(f.stats.failed)),
    h('span', { class: 'num' }, String(f.stats.waiting)),
    link('/dead-letters', { flow: f.name }, h('span', { class: f.stats.dead ? 'num bad' : 'num' }, String(f.stats.dead))),
    h('div', {}, ...errorCell(f.stats.lastError), f.stats.lastError?.messageId ? link(`/message/${f.stats.lastError.messageId}`, {}, 'message') : null),
    h('div', {}, link('/messages', { flow: f.name }, 'messages'), ' ', link('/trace', { flow: f.name }, 'trace')),
  ]);
  return table(['Flow', 'State', 'Source', 'Sinks', 'Msg/s', 'p99', 'In', 'Out', 'Failed', 'Waiting', 'Dead', 'Last error', ''], rows, { id: 'flows' });
}

