/** One message: its record, timeline and replays; replay for operators, and an edited replay (checked as one types) for admins. */
import { ApiError, call, idempotencyKey, qs, type Answer, type Body, type MessageRecord, type ReplayCheck, type ReplayPage, type ReplayResult } from './api.js';
import { append, badge, h, link, problemBox, replace, table, time } from './dom.js';
import { prettyBody } from './pretty.js';
import { type Ctx, can, errorText, errorCell, heading, outcomeText } from './page-parts.js';

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
    ? h('section', { class: 'error-box', id: 'message-error' }, h('h2', {}, 'Error'), h('p', {}, h('code', { class: 'err-code' }, record.lastError.code), record.lastError.step ? ` at step ${record.lastError.step}` : ''), h('pre', { class: 'err-text' }, record.lastError.message),
      record.callerAnswered ? h('p', { class: 'warn', id: 'caller-answered' }, 'Its caller was answered with this error at ', time(record.callerAnswered.at), ': it may have sent the request again since, so a replay could do the work twice.') : null)
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
    // A caller that was answered with the error may have sent its request again: replaying could do the work twice.
    const confirmed = (): boolean => !record.callerAnswered || window.confirm(`The caller of this request was answered with an error at ${record.callerAnswered.at} and may have sent it again since. Replay it anyway? Check first that it was not done twice.`);
    const guarded = (options: Body<'replayMessage'>, key: string) => (): void => {
      if (confirmed()) void replay(options, key);
    };
    append(actions, [h('h2', {}, 'Replay')]);
    if (record.permanent) {
      // The same body would fail the same way: edit it first (admins), or replay unchanged only on purpose.
      append(actions, [
        h('p', { class: 'warn', id: 'permanent-note' }, `This message failed for a reason of its own (${record.lastError?.code ?? ''}): replayed unchanged it would fail the same way. `, can(ctx, 'admin') ? 'Edit the body below and replay it.' : 'An admin can edit the body and replay it.'),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', class: 'small', id: 'replay-unchanged', onclick: () => {
            if (window.confirm('Replay the same body, which failed for a reason of its own? Do so only when the flow was changed to accept it.') && confirmed()) void replay({ to: 'start' }, startKey);
          } }, 'Replay unchanged (the flow was changed)'),
        ),
      ]);
    } else {
      append(actions, [
        h('div', { class: 'buttons' },
          h('button', { type: 'button', id: 'replay-start', onclick: guarded({ to: 'start' }, startKey) }, 'Replay from the start'),
          h('button', { type: 'button', id: 'replay-failed-step', onclick: guarded({ to: 'failed-step' }, stepKey) }, 'Replay from the failed step'),
        ),
      ]);
    }
    if (can(ctx, 'admin') && flow) {
      const sink = h('select', { name: 'sink', id: 'replay-sink-name' }, flow.sinks.map((s) => h('option', { value: s.name }, `${s.name} (${s.adapter})`)));
      const sinkKey = idempotencyKey();
      append(actions, [h('div', { class: 'buttons' }, h('label', {}, 'To sink ', sink), h('button', { type: 'button', id: 'replay-sink', onclick: () => confirmed() && void replay({ sink: sink.value }, `${sinkKey}-${sink.value}`) }, 'Replay to this sink'))]);
    }
    if (can(ctx, 'admin') && !body.masked) append(actions, [editor(record, status, confirmed)]);
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
function editor(record: MessageRecord, status: HTMLElement, confirmed: () => boolean): HTMLElement {
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
      if (!(await runCheck(true)) || !confirmed()) return;
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

