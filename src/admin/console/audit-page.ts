/** The admin audit, newest first. */
import { call, qs, type AuditPage, type ReplayPage } from './api.js';
import { h, link, replace, table, time } from './dom.js';
import { heading } from './page-parts.js';

export async function auditPage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const action = params.get('action') ?? undefined;
  const cursor = params.get('cursor') ?? undefined;
  const [audit, replays] = await Promise.all([
    call<AuditPage>('GET', `/audit${qs({ action, cursor, limit: 50 })}`),
    call<ReplayPage>('GET', `/replays${qs({ limit: 20 })}`),
  ]);
  const actions = ['login', 'logout', 'replay', 'bulk-replay', 'delete', 'pause', 'resume', 'archive', 'bulk-archive', 'reload'];
  replace(main,
    heading('Audit', h('span', { class: 'muted' }, 'logins, logouts and every change, refused ones too; newest first')),
    h('nav', { class: 'tabs' }, link('/audit', {}, 'all'), actions.flatMap((a) => [' · ', link('/audit', { action: a }, a)])),
    audit.items.length
      ? table(['#', 'When', 'Action', 'Outcome', 'Who', 'Role', 'Client', 'Target', 'Status', 'Detail'], audit.items.map((e) => [String(e.seq), time(e.at), e.action, h('span', { class: e.outcome === 'ok' ? 'ok' : 'bad' }, e.outcome), e.actor, e.role ?? '', e.client, e.target && /^[0-9A-Z]{26}$/.test(e.target) ? link(`/message/${e.target}`, {}, h('code', {}, e.target)) : (e.target ?? ''), e.status !== undefined ? String(e.status) : '', e.detail ?? '']), { id: 'audit' })
      : h('p', { class: 'empty' }, 'Nothing yet.'),
    h('nav', { class: 'pager' }, cursor ? link('/audit', { action }, 'First page') : null, audit.next ? link('/audit', { action, cursor: audit.next }, 'Next page') : null),
    h('h2', {}, 'Latest replays'),
    replays.items.length
      ? table(['When', 'By', 'Message', 'As', 'Target', 'Edited', 'Note'], replays.items.map((r) => [time(r.at), r.by, link(`/message/${encodeURIComponent(r.originalId)}`, {}, h('code', {}, r.originalId)), link(`/message/${encodeURIComponent(r.newId)}`, {}, h('code', {}, r.newId)), r.target.sink ? `sink ${r.target.sink}` : r.target.to, r.edited ? 'yes' : 'no', r.note ?? '']), { id: 'replay-audit' })
      : h('p', { class: 'empty' }, 'No replays yet.'),
  );
}
