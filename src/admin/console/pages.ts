/**
 * The console's pages, each drawn into <main> from the admin API: flows, messages, one message, dead letters, the
 * audit. What a role may not do is not offered (the API refuses it anyway).
 */
import { ApiError, call, idempotencyKey, qs, type Answer, type Body, type ArchiveResult, type AuditPage, type DeadLetterGroup, type ErrorInfo, type GroupArchiveResult, type ReplayJob, type FlowInfo, type FlowState, type MessagePage, type MessageRecord, type ReplayCheck, type ReplayPage, type ReplayResult, type Role, type Session } from './api.js';
import { append, badge, h, link, problemBox, replace, route, table, time, type Child } from './dom.js';
import { onLive } from './live.js';
import { prettyBody } from './pretty.js';

export interface Ctx {
  session: Session;
}

const ROLES: Role[] = ['viewer', 'operator', 'admin'];
export const STATUSES = ['received', 'delivered', 'failed', 'waiting-for-retry', 'dead', 'resolved', 'archived'];
/** How often the dead-letters page asks how a group's replay job is going. */
const JOB_POLL_MS = 500;

export function can(ctx: Ctx, role: Role): boolean {
  return ROLES.indexOf(ctx.session.role) >= ROLES.indexOf(role);
}

function errorText(err: unknown): string {
  return err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
}

function errorCell(e: Partial<ErrorInfo> | undefined): Child[] {
  if (!e) return [];
  return [h('code', { class: 'err-code' }, e.code ?? ''), e.step ? h('span', { class: 'muted' }, ` at ${e.step}`) : null, h('div', { class: 'err-text' }, e.message ?? '')];
}

function heading(title: string, ...extra: Child[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', {}, title), ...extra);
}

function outcomeText(r: ReplayResult): string {
  if (r.duplicate) return `already replayed as ${r.newId} (nothing sent again)`;
  return `replayed as ${r.newId}: ${r.outcome ?? 'sent'}${r.error ? ` (${r.error.code}: ${r.error.message})` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------- flows

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
    link('/messages', { flow: f.name }, 'messages'),
  ]);
  return table(['Flow', 'State', 'Source', 'Sinks', 'Msg/s', 'p99', 'In', 'Out', 'Failed', 'Waiting', 'Dead', 'Last error', ''], rows, { id: 'flows' });
}

// ------------------------------------------------------------------------------------------------------- messages

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
/** Empty pages (with a `next`) read on before the console shows one as it is. */
const EMPTY_PAGES_FOLLOWED = 10;

/** A page of messages; one that comes back empty with a `next` (each call scans a bounded number of records) is read on. */
async function readMessages(query: Record<string, string | number | undefined>): Promise<MessagePage> {
  let page = await call<MessagePage>('GET', `/messages${qs(query)}`);
  for (let i = 0; page.items.length === 0 && page.next && i < EMPTY_PAGES_FOLLOWED; i++) page = await call<MessagePage>('GET', `/messages${qs({ ...query, cursor: page.next })}`);
  return page;
}

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

// ---------------------------------------------------------------------------------------------------- one message

export async function messagePage(main: HTMLElement, ctx: Ctx, id: string): Promise<void> {
  const record = await call<MessageRecord>('GET', `/messages/${encodeURIComponent(id)}`);
  const [{ flows }, replays] = await Promise.all([call<Answer<'listFlows'>>('GET', '/flows'), call<ReplayPage>('GET', `/replays${qs({ originalId: id, limit: 50 })}`)]);
  const flow = flows.find((f) => f.name === record.flow);
  const status = h('div', { class: 'replay-status', id: 'replay-status', 'aria-live': 'polite' });

  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Id'), h('dd', {}, h('code', {}, record.id)),
    h('dt', {}, 'Flow'), h('dd', {}, link('/messages', { flow: record.flow }, record.flow)),
    h('dt', {}, 'Status'), h('dd', {}, badge(record.status)),
    h('dt', {}, 'Source'), h('dd', {}, record.source),
    h('dt', {}, 'Correlation id'), h('dd', {}, record.correlationId ? link('/messages', { correlationId: record.correlationId }, record.correlationId) : '—'),
    h('dt', {}, 'Received'), h('dd', {}, time(record.receivedAt)),
    h('dt', {}, 'Updated'), h('dd', {}, time(record.updatedAt)),
    h('dt', {}, 'Attempts'), h('dd', {}, String(record.attempts)),
    h('dt', {}, 'Replay of'), h('dd', {}, record.replayOf ? link(`/message/${encodeURIComponent(record.replayOf)}`, {}, h('code', {}, record.replayOf)) : '—'),
    h('dt', {}, 'Replayed as'), h('dd', { id: 'replayed-as' }, record.replayedAs.length ? h('ul', { class: 'plain' }, record.replayedAs.map((r) => h('li', {}, link(`/message/${encodeURIComponent(r)}`, {}, h('code', {}, r))))) : '—'),
  );

  const error = record.lastError
    ? h('section', { class: 'error-box', id: 'message-error' }, h('h2', {}, 'Error'), h('p', {}, h('code', { class: 'err-code' }, record.lastError.code), record.lastError.step ? ` at step ${record.lastError.step}` : ''), h('pre', { class: 'err-text' }, record.lastError.message))
    : null;

  const headers = Object.entries(record.headers).sort(([a], [b]) => a.localeCompare(b));
  const headerTable = table(['Header', 'Value'], headers.map(([k, v]) => [h('code', {}, k), h('span', { class: 'header-value' }, v)]), { id: 'message-headers' });

  const body = record.body;
  let bodyView: HTMLElement;
  if (body.masked) {
    bodyView = h('p', { class: 'muted', id: 'message-body' }, `The body (${body.size} bytes, sha256 ${body.sha256}) is shown to operators and admins only.`);
  } else {
    const pretty = prettyBody(body.data, body.encoding, record.headers['content-type']);
    bodyView = h('div', {},
      h('p', { class: 'muted small' }, `${body.size} bytes, ${pretty.kind}${pretty.kind === 'binary' ? ' (base64)' : ''}${body.truncated ? '; the journal holds only its start' : ''}; sha256 ${body.sha256}`),
      h('pre', { class: `body body-${pretty.kind}`, id: 'message-body' }, pretty.text),
    );
  }

  const timeline = h('ol', { class: 'timeline', id: 'message-timeline' }, record.timeline.map((e) =>
    h('li', { class: `tl tl-${e.type}` },
      time(e.at), ' ', h('strong', {}, e.type),
      e.step ? h('span', {}, ` step ${e.step}`) : null,
      e.attempt !== undefined ? h('span', { class: 'muted' }, ` attempt ${e.attempt}`) : null,
      e.dueAt ? h('span', { class: 'muted' }, ' due ', time(e.dueAt)) : null,
      e.detail ? h('div', { class: 'muted' }, e.detail) : null,
      e.error ? h('div', {}, ...errorCell(e.error)) : null,
    )));

  const replayTable = replays.items.length
    ? table(['When', 'By', 'As', 'Target', 'Edited', 'Note'], replays.items.map((r) => [time(r.at), r.by, link(`/message/${encodeURIComponent(r.newId)}`, {}, h('code', {}, r.newId)), r.target.sink ? `sink ${r.target.sink}` : r.target.to + (r.target.step ? ` (${r.target.step})` : ''), r.edited ? 'yes' : 'no', r.note ?? '']), { id: 'message-replays' })
    : h('p', { class: 'muted' }, 'Not replayed.');

  const actions = h('section', { class: 'actions' });
  if (can(ctx, 'operator')) {
    const replay = async (options: Body<'replayMessage'>, key: string): Promise<void> => {
      replace(status, h('p', { class: 'muted' }, 'Replaying…'));
      try {
        const r = await call<ReplayResult>('POST', `/messages/${encodeURIComponent(id)}/replay`, options, { 'idempotency-key': key });
        replace(status, h('p', { class: r.outcome === 'delivered' ? 'ok' : 'warn' }, outcomeText(r), ' ', link(`/message/${encodeURIComponent(r.newId)}`, {}, 'open')));
      } catch (err) {
        replace(status, problemBox(errorText(err), err instanceof ApiError ? err.errors : []));
      }
    };
    const startKey = idempotencyKey();
    const stepKey = idempotencyKey();
    append(actions, [
      h('h2', {}, 'Replay'),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', id: 'replay-start', onclick: () => void replay({ to: 'start' }, startKey) }, 'Replay from the start'),
        h('button', { type: 'button', id: 'replay-failed-step', onclick: () => void replay({ to: 'failed-step' }, stepKey) }, 'Replay from the failed step'),
      ),
    ]);
    if (can(ctx, 'admin') && flow) {
      const sink = h('select', { name: 'sink', id: 'replay-sink-name' }, flow.sinks.map((s) => h('option', { value: s.name }, `${s.name} (${s.adapter})`)));
      const sinkKey = idempotencyKey();
      append(actions, [h('div', { class: 'buttons' }, h('label', {}, 'To sink ', sink), h('button', { type: 'button', id: 'replay-sink', onclick: () => void replay({ sink: sink.value }, `${sinkKey}-${sink.value}`) }, 'Replay to this sink'))]);
    }
    if (can(ctx, 'admin') && !body.masked) append(actions, [editor(record, status)]);
  }

  replace(main,
    heading('Message', h('code', { class: 'muted' }, record.id)),
    h('div', { class: 'two-col' },
      h('section', {}, facts, error, actions, status),
      h('section', {}, h('h2', {}, 'Headers'), headerTable, h('h2', {}, 'Body'), bodyView),
    ),
    h('h2', {}, 'Timeline'), timeline,
    h('h2', {}, 'Replays'), replayTable,
  );
}

/** How long the editor waits after the last keystroke before it asks the hub to check the body. */
const CHECK_DELAY_MS = 400;

/**
 * Edit and replay (admin). As the operator types, the hub checks the body against the flow's input schema (a dry
 * run, debounced: POST /messages/{id}/replay/check) and the problems are shown beside the editor; on submit it is
 * checked once more and sent only when it passes (the hub checks again itself, and sends nothing when it fails).
 */
function editor(record: MessageRecord, status: HTMLElement): HTMLElement {
  const pretty = prettyBody(record.body.data, record.body.encoding, record.headers['content-type']);
  const text = h('textarea', { name: 'body', id: 'edit-body', rows: 12, spellcheck: 'false', value: pretty.kind === 'binary' ? '' : pretty.text });
  const contentType = h('input', { name: 'contentType', id: 'edit-content-type', value: record.headers['content-type'] ?? '' });
  const note = h('input', { name: 'note', id: 'edit-note', placeholder: 'why (kept in the audit)' });
  const check = h('div', { class: 'schema-check', id: 'schema-check', 'aria-live': 'polite' });
  let key = idempotencyKey();
  let lastSent = '';
  /** Each check gets a number: only the latest one's answer is shown. */
  let checks = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const request = (): Body<'replayMessage'> => ({ body: text.value, ...(contentType.value.trim() ? { contentType: contentType.value.trim() } : {}), ...(note.value.trim() ? { note: note.value.trim() } : {}) });
  const problems = (title: string, errors: { path?: string; message: string }[]): HTMLElement =>
    h('div', { class: 'problem', role: 'alert' }, h('p', {}, title), h('ul', { class: 'problem-errors' }, errors.map((x) => h('li', {}, x.path ? h('code', {}, x.path) : null, x.path ? ' ' : null, x.message))));
  /** Asks the hub; shows the answer unless a newer check started. Resolves true when the body passes. */
  const runCheck = async (sending: boolean): Promise<boolean> => {
    const mine = ++checks;
    clearTimeout(timer);
    replace(check, h('p', { class: 'muted' }, 'Checking…'));
    try {
      const r = await call<ReplayCheck>('POST', `/messages/${encodeURIComponent(record.id)}/replay/check`, request());
      if (mine !== checks) return false;
      if (r.ok) replace(check, h('p', { class: 'ok', 'data-check': 'ok' }, `The body passes ${r.schema ? `the flow's schema ${r.schema}` : 'the flow\'s input check'}.`));
      else replace(check, problems(sending ? 'Not sent: the body fails the flow\'s schema.' : `The body fails ${r.schema ? `the flow's schema ${r.schema}` : 'the flow\'s input check'} (nothing is sent):`, r.errors));
      check.setAttribute('data-state', r.ok ? 'ok' : 'failed');
      return r.ok;
    } catch (err) {
      if (mine === checks) replace(check, problemBox(errorText(err), err instanceof ApiError ? err.errors : []));
      return false;
    }
  };
  const later = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void runCheck(false), CHECK_DELAY_MS);
  };
  text.addEventListener('input', later);
  contentType.addEventListener('input', later);
  const form = h('form', { class: 'editor', id: 'edit-form' },
    h('h2', {}, 'Edit and replay'),
    h('p', { class: 'muted small' }, 'The hub checks the body against the flow\'s input schema as you type, and again before it sends it; if it fails, nothing is sent and the problems are listed here.'),
    h('div', { class: 'editor-grid' }, h('div', {}, text), check),
    h('div', { class: 'buttons' }, h('label', {}, 'Content type ', contentType), h('label', {}, 'Note ', note), h('button', { type: 'submit', id: 'edit-replay' }, 'Check and replay')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      const sent = JSON.stringify([text.value, contentType.value, note.value]);
      if (sent !== lastSent) key = idempotencyKey();
      lastSent = sent;
      if (!(await runCheck(true))) return;
      try {
        const r = await call<ReplayResult>('POST', `/messages/${encodeURIComponent(record.id)}/replay`, request(), { 'idempotency-key': key });
        replace(status, h('p', { class: r.outcome === 'delivered' ? 'ok' : 'warn' }, outcomeText(r), ' ', link(`/message/${encodeURIComponent(r.newId)}`, {}, 'open')));
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) replace(check, problems('Not sent: the body fails the flow\'s schema.', err.errors));
        else replace(status, problemBox(errorText(err), err instanceof ApiError ? err.errors : []));
      }
    })();
  });
  return form;
}

// --------------------------------------------------------------------------------------------------- dead letters

export async function deadLettersPage(main: HTMLElement, ctx: Ctx, params: URLSearchParams): Promise<void> {
  const flow = params.get('flow') ?? undefined;
  const [{ groups }, { flows }] = await Promise.all([call<Answer<'listDeadLetters'>>('GET', `/dead-letters${qs({ flow })}`), call<Answer<'listFlows'>>('GET', '/flows')]);
  const sinksOf = new Map(flows.map((f) => [f.name, f.sinks.map((s) => s.name)]));
  const list = h('div', { id: 'dead-letter-groups' });
  replace(main, heading('Dead letters', h('span', { class: 'muted' }, flow ? `flow ${flow} · ` : '', 'grouped by flow, step and error code'), flow ? link('/dead-letters', {}, 'all flows') : null), list);
  if (groups.length === 0) {
    replace(list, h('p', { class: 'empty' }, 'No dead letters.'));
    return;
  }
  for (const g of groups) list.appendChild(groupView(g, ctx, sinksOf.get(g.flow) ?? []));
}

function groupView(g: DeadLetterGroup, ctx: Ctx, sinks: string[]): HTMLElement {
  const status = h('div', { class: 'replay-status', 'aria-live': 'polite' });
  const messages = h('div', { class: 'group-messages' });
  const filter = { flow: g.flow, status: ['dead'], errorCode: g.code, errorStep: g.step };
  const groupKey = idempotencyKey();
  // Where the group's or a selection's replays go: through the flow, or (admin) straight to one of its sinks.
  const replayTo = h('select', { 'data-field': 'replay-to', 'aria-label': 'replay to' },
    h('option', { value: '' }, 'through the flow'),
    ...sinks.map((name) => h('option', { value: name }, `straight to sink ${name}`)));
  const sinkChoice = (): { sink?: string } => (replayTo.value ? { sink: replayTo.value } : {});

  const replayGroup = async (): Promise<void> => {
    replace(status, h('p', { class: 'muted' }, 'Replaying the group…'));
    try {
      // As a job, so that a group of thousands shows its progress instead of a request that seems to hang.
      let r = await call<ReplayJob>('POST', '/replays', { filter, note: 'console: replay group', background: true, ...sinkChoice() }, { 'idempotency-key': `${groupKey}:${replayTo.value}` });
      while (r.state === 'running') {
        replace(status, h('p', { class: 'muted', 'data-result': 'group-progress' }, `Replaying: ${r.done} of ${r.matched} done (delivered ${r.outcomes.delivered}, duplicates ${r.duplicates}, failed ${r.failed.length})`));
        await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
        r = await call<ReplayJob>('GET', `/replays/jobs/${encodeURIComponent(r.id)}`);
      }
      if (r.state === 'failed') throw new ApiError(500, 'REPLAY_JOB_FAILED', `the replay stopped after ${r.done} of ${r.matched}: ${r.error ?? 'unknown error'}; replay the group again (nothing is replayed twice)`);
      replace(status, h('p', { class: r.outcomes.dead || r.failed.length ? 'warn' : 'ok', 'data-result': 'group' },
        `matched ${r.matched}, replayed ${r.replayed}: delivered ${r.outcomes.delivered}, waiting for retry ${r.outcomes['waiting-for-retry']}, dead ${r.outcomes.dead}; duplicates ${r.duplicates}, failed ${r.failed.length}${r.capped ? ' (more remain: replay again)' : ''}`),
      r.failed.length ? h('ul', {}, r.failed.map((f) => h('li', {}, h('code', {}, f.id), ` ${f.reason}`))) : null);
      await showMessages();
    } catch (err) {
      replace(status, problemBox(errorText(err)));
    }
  };

  const countEl = h('span', { class: 'count', 'data-count': String(g.count) }, `${g.count} dead`);
  const reason = h('input', { name: 'reason', 'data-field': 'archive-reason', placeholder: 'why (kept in the timeline and the audit)', size: 34 });
  const archiveGroup = async (): Promise<void> => {
    replace(status, h('p', { class: 'muted' }, 'Archiving the group…'));
    try {
      const r = await call<GroupArchiveResult>('POST', '/dead-letters/archive', { flow: g.flow, step: g.step, code: g.code, ...(reason.value.trim() ? { reason: reason.value.trim() } : {}) });
      replace(status, h('p', { class: r.failed.length ? 'warn' : 'ok', 'data-result': 'archive-group' },
        `matched ${r.matched}, archived ${r.archived}, failed ${r.failed.length}${r.capped ? ' (more remain: archive again)' : ''}; ${retentionText(r.keepMs)}`),
      r.failed.length ? h('ul', {}, r.failed.map((f) => h('li', {}, h('code', {}, f.id), ` ${f.reason}`))) : null);
      const left = Math.max(0, Number(countEl.getAttribute('data-count')) - r.archived);
      countEl.setAttribute('data-count', String(left));
      countEl.textContent = `${left} dead`;
      await showMessages();
    } catch (err) {
      replace(status, problemBox(errorText(err)));
    }
  };
  const archiveBox = h('span', { class: 'confirm', hidden: true },
    `Archive all ${g.count} message(s) of this group? `, reason,
    h('button', { type: 'button', class: 'danger', 'data-action': 'confirm-archive-group', onclick: () => { archiveBox.hidden = true; void archiveGroup(); } }, 'Archive them'),
    h('button', { type: 'button', onclick: () => { archiveBox.hidden = true; } }, 'Cancel'));

  const confirmBox = h('span', { class: 'confirm', hidden: true },
    `Replay all ${g.count} message(s) of this group? `,
    h('button', { type: 'button', class: 'danger', 'data-action': 'confirm-replay-group', onclick: () => { confirmBox.hidden = true; void replayGroup(); } }, 'Replay them'),
    h('button', { type: 'button', onclick: () => { confirmBox.hidden = true; } }, 'Cancel'));

  const showMessages = async (): Promise<void> => {
    replace(messages, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const page = await readMessages({ flow: g.flow, status: 'dead', errorCode: g.code, errorStep: g.step, limit: 100 });
      if (page.items.length === 0) {
        replace(messages, h('p', { class: 'empty' }, page.next ? 'None of this group among the newest records read; see Messages for older ones.' : 'None of this group is dead any more.'));
        return;
      }
      const boxes = new Map<string, HTMLInputElement>();
      const keys = new Map(page.items.map((m) => [m.id, idempotencyKey()]));
      const replayIds = async (ids: string[]): Promise<void> => {
        replace(status, h('p', { class: 'muted' }, `Replaying ${ids.length}…`));
        const lines: HTMLElement[] = [];
        for (const id of ids) {
          try {
            const r = await call<ReplayResult>('POST', `/messages/${encodeURIComponent(id)}/replay`, { note: 'console: replay selection', ...sinkChoice() }, { 'idempotency-key': `${keys.get(id) ?? idempotencyKey()}:${replayTo.value}` });
            lines.push(h('li', {}, h('code', {}, id), ` ${outcomeText(r)}`));
          } catch (err) {
            lines.push(h('li', { class: 'bad' }, h('code', {}, id), ` ${errorText(err)}`));
          }
        }
        replace(status, h('ul', { 'data-result': 'selection' }, lines));
      };
      const archiveId = async (id: string): Promise<void> => {
        try {
          const r = await call<ArchiveResult>('POST', `/messages/${encodeURIComponent(id)}/archive`, { reason: 'console: archived from its dead-letter group' });
          replace(status, h('p', { class: 'ok', 'data-result': 'archive-one' }, h('code', {}, id), ` archived; ${r.removableFrom ? 'removed by the retention sweeper from ' : 'kept until deleted (journal.keep.archived is not set)'}`, r.removableFrom ? time(r.removableFrom) : null));
          await showMessages();
        } catch (err) {
          replace(status, problemBox(errorText(err)));
        }
      };
      const rows = page.items.map((m) => {
        const box = h('input', { type: 'checkbox', name: 'select', value: m.id, 'aria-label': `select ${m.id}` });
        boxes.set(m.id, box);
        return [
          can(ctx, 'operator') ? box : '',
          link(`/message/${encodeURIComponent(m.id)}`, {}, h('code', {}, m.id)),
          time(m.receivedAt),
          m.correlationId ?? '',
          h('div', { class: 'err-text' }, m.lastError?.message ?? ''),
          h('div', { class: 'buttons' },
            can(ctx, 'operator') ? h('button', { type: 'button', class: 'small', 'data-action': 'replay-one', onclick: () => void replayIds([m.id]) }, 'Replay') : null,
            can(ctx, 'admin') ? h('button', { type: 'button', class: 'small', 'data-action': 'archive-one', onclick: () => void archiveId(m.id) }, 'Archive') : null),
        ];
      });
      replace(messages,
        table(['', 'Id', 'Received', 'Correlation id', 'Error', ''], rows, { class: 'grid group-table' }),
        can(ctx, 'operator') ? h('button', { type: 'button', 'data-action': 'replay-selected', onclick: () => void replayIds([...boxes].filter(([, b]) => b.checked).map(([id]) => id)) }, 'Replay selected') : null,
        page.next ? h('p', { class: 'muted' }, 'The newest 100 are shown; replay the group for all, or see ', link('/messages', { flow: g.flow, status: 'dead', errorCode: g.code, errorStep: g.step }, 'all of them in Messages'), '.') : null,
      );
    } catch (err) {
      replace(messages, problemBox(errorText(err)));
    }
  };

  return h('section', { class: 'group', 'data-flow': g.flow, 'data-step': g.step, 'data-code': g.code },
    h('div', { class: 'group-head' },
      h('div', {}, h('strong', {}, g.flow), h('span', { class: 'muted' }, ' step '), h('code', {}, g.step), ' ', h('code', { class: 'err-code' }, g.code)),
      h('div', {}, countEl, h('span', { class: 'muted small' }, ' first ', time(g.firstSeen), ' · last ', time(g.lastSeen))),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', 'data-action': 'show-messages', onclick: () => void showMessages() }, 'Show messages'),
        can(ctx, 'admin') && sinks.length ? h('label', { class: 'small' }, 'Replay ', replayTo) : null,
        can(ctx, 'operator') ? h('button', { type: 'button', 'data-action': 'replay-group', onclick: () => { confirmBox.hidden = false; archiveBox.hidden = true; } }, 'Replay group') : null,
        can(ctx, 'admin') ? h('button', { type: 'button', 'data-action': 'archive-group', onclick: () => { archiveBox.hidden = false; confirmBox.hidden = true; } }, 'Archive group') : null,
        confirmBox,
        archiveBox,
      ),
    ),
    status,
    messages,
  );
}

/** What becomes of archived records, from journal.keep.archived. */
function retentionText(keepMs: number | undefined): string {
  if (keepMs === undefined) return 'archived records are kept until deleted (journal.keep.archived is not set)';
  const days = keepMs / 86_400_000;
  const span = days >= 1 ? `${Math.round(days * 10) / 10} day(s)` : `${Math.round(keepMs / 3_600_000 * 10) / 10} hour(s)`;
  return `the retention sweeper removes them ${span} after they were received (journal.keep.archived)`;
}

// ---------------------------------------------------------------------------------------------------------- audit

export async function auditPage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const action = params.get('action') ?? undefined;
  const cursor = params.get('cursor') ?? undefined;
  const [audit, replays] = await Promise.all([
    call<AuditPage>('GET', `/audit${qs({ action, cursor, limit: 50 })}`),
    call<ReplayPage>('GET', `/replays${qs({ limit: 20 })}`),
  ]);
  const actions = ['login', 'logout', 'replay', 'bulk-replay', 'delete', 'pause', 'resume', 'archive', 'bulk-archive'];
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
