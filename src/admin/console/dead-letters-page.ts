/** The Dead letters page: dead messages grouped by flow, step and error code, replayed or archived a group at a time. */
import { ApiError, call, idempotencyKey, qs, type Answer, type ArchiveResult, type DeadLetterGroup, type GroupArchiveResult, type ReplayJob, type ReplayResult } from './api.js';
import { h, link, problemBox, replace, table, time } from './dom.js';
import { type Ctx, can, errorText, heading, outcomeText, readMessages, JOB_POLL_MS } from './page-parts.js';

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
