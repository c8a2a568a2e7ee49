/** The Messages page: the journal searched by flow, status, correlation id, error and time, live while it follows the newest. */
import { ApiError, call, type Answer } from './api.js';
import { badge, h, link, problemBox, replace, route, table, time } from './dom.js';
import { onLive } from './live.js';
import { STATUSES, errorText, errorCell, heading, readMessages } from './page-parts.js';

const FILTERS = ['flow', 'status', 'correlationId', 'errorCode', 'errorText', 'from', 'to'] as const;

/** datetime-local value (local time) to ISO, and back. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
function toLocal(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export async function messagesPage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const { flows } = await call<Answer<'listFlows'>>('GET', '/flows');
  const value = (k: string): string => params.get(k) ?? '';
  const idInput = h('input', { name: 'id', placeholder: 'message id', value: value('id'), size: 28 });
  const form = h('form', { class: 'filters', id: 'message-filters' },
    h('label', {}, 'Id ', idInput),
    h('label', {}, 'Flow ', h('select', { name: 'flow' }, h('option', { value: '' }, 'any'), flows.map((f) => h('option', { value: f.name, selected: f.name === value('flow') }, f.name)))),
    h('label', {}, 'Status ', h('select', { name: 'status' }, h('option', { value: '' }, 'any'), STATUSES.map((s) => h('option', { value: s, selected: s === value('status') }, s)))),
    h('label', {}, 'Correlation id ', h('input', { name: 'correlationId', value: value('correlationId') })),
    h('label', {}, 'Error code ', h('input', { name: 'errorCode', value: value('errorCode'), size: 14 })),
    h('label', {}, 'Error text ', h('input', { name: 'errorText', value: value('errorText') })),
    h('label', {}, 'From ', h('input', { name: 'from', type: 'datetime-local', value: toLocal(params.get('from')) })),
    h('label', {}, 'To ', h('input', { name: 'to', type: 'datetime-local', value: toLocal(params.get('to')) })),
    h('button', { type: 'submit' }, 'Search'),
    h('a', { href: '#/messages', class: 'button-link' }, 'Clear'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const id = String(data.get('id') ?? '').trim();
    if (id) {
      location.hash = route(`/message/${encodeURIComponent(id)}`);
      return;
    }
    const q: Record<string, string | undefined> = {};
    for (const k of FILTERS) {
      const v = String(data.get(k) ?? '').trim();
      q[k] = k === 'from' || k === 'to' ? toIso(v) : v || undefined;
    }
    location.hash = route('/messages', q);
  });

  const query: Record<string, string | undefined> = { limit: params.get('limit') ?? '25', cursor: params.get('cursor') ?? undefined };
  for (const k of FILTERS) query[k] = params.get(k) ?? undefined;
  const results = h('div', { id: 'message-results' });
  const first = !params.get('cursor');
  replace(main, heading('Messages', h('span', { class: 'muted' }, first ? 'newest first; updated live' : 'newest first')), form, results);
  await showResults(results, params, query);
  // The first page follows the live feed: a message of the flow shown changed, the page is read again (at most every 2 s).
  if (!first) return;
  let due: ReturnType<typeof setTimeout> | undefined;
  onLive({
    message: (n) => {
      if (due || (query.flow && n.flow !== query.flow)) return;
      due = setTimeout(() => {
        due = undefined;
        if (results.isConnected) void showResults(results, params, query);
      }, LIVE_REFRESH_MS);
    },
  });
}

/** The least time between two refreshes of the messages page from the live feed. */
const LIVE_REFRESH_MS = 2_000;
async function showResults(results: HTMLElement, params: URLSearchParams, query: Record<string, string | undefined>): Promise<void> {
  try {
    const page = await readMessages(query);
    const rows = page.items.map((m) => [
      link(`/message/${encodeURIComponent(m.id)}`, {}, h('code', {}, m.id)),
      h('span', { class: 'nowrap' }, m.flow),
      badge(m.status),
      time(m.receivedAt),
      String(m.attempts),
      h('div', {}, ...errorCell(m.lastError)),
      m.replayOf ? link(`/message/${encodeURIComponent(m.replayOf)}`, {}, h('code', {}, m.replayOf)) : '',
    ]);
    const here: Record<string, string | undefined> = {};
    for (const k of FILTERS) here[k] = params.get(k) ?? undefined;
    replace(results,
      page.items.length ? table(['Id', 'Flow', 'Status', 'Received', 'Attempts', 'Last error', 'Replay of'], rows, { id: 'messages' }) : h('p', { class: 'empty' }, page.next ? 'No message matches in the newest records read so far; older ones may: Next page.' : 'No message matches.'),
      h('nav', { class: 'pager' },
        params.get('cursor') ? link('/messages', here, 'First page') : null,
        page.next ? link('/messages', { ...here, cursor: page.next }, 'Next page') : null,
      ),
    );
  } catch (err) {
    replace(results, problemBox(errorText(err), err instanceof ApiError ? err.errors : []));
  }
}

