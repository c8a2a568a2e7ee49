/**
 * The Replay jobs page: start a paced replay of everything a search matches (the count shown first), and follow
 * every job (kept in the journal: a hub restart resumes it) live, with pause, resume and cancel and each message's
 * result.
 */
import { call, qs, idempotencyKey, type Answer, type ReplayJob, type ReplayJobResults } from './api.js';
import { h, link, problemBox, replace, table, time } from './dom.js';
import { onLive } from './live.js';
import { type Ctx, can, errorText, heading } from './page-parts.js';

export async function jobsPage(main: HTMLElement, ctx: Ctx, params: URLSearchParams): Promise<void> {
  const [{ jobs }, { flows }] = await Promise.all([call<Answer<'listReplayJobs'>>('GET', '/replays/jobs'), call<Answer<'listFlows'>>('GET', '/flows')]);
  const holder = h('div', { id: 'jobs-holder' });
  const status = h('div', { id: 'jobs-status', 'aria-live': 'polite' });
  const list = new Map(jobs.map((j) => [j.id, j]));
  const draw = (): void => replace(holder, jobsTable([...list.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt)), ctx, status, (j) => {
    list.set(j.id, j);
    draw();
  }));
  draw();
  replace(main, heading('Replay jobs', h('span', { class: 'muted' }, 'bulk replays that run on in the hub, paced; kept in its journal, so a restart resumes them; updated live')),
    can(ctx, 'operator') ? startForm(flows.map((f) => f.name), params, status, (j) => {
      list.set(j.id, j);
      draw();
    }) : null,
    status, holder);
  onLive({
    job: (j) => {
      const job = j as ReplayJob;
      list.set(job.id, job);
      draw();
    },
    reconnected: () => void call<Answer<'listReplayJobs'>>('GET', '/replays/jobs').then((r) => {
      for (const j of r.jobs) list.set(j.id, j);
      draw();
    }, () => undefined),
  });
}

/** The search, its count, then the job: nothing starts before the operator has seen how many it takes. */
function startForm(flows: string[], params: URLSearchParams, status: HTMLElement, started: (job: ReplayJob) => void): HTMLElement {
  const flow = h('select', { name: 'flow', id: 'job-flow' }, flows.map((f) => h('option', { value: f, selected: params.get('flow') === f }, f)));
  const code = h('input', { name: 'errorCode', id: 'job-code', value: params.get('errorCode') ?? '', placeholder: 'DOWNSTREAM_UNAVAILABLE' });
  const text = h('input', { name: 'errorText', id: 'job-text', value: params.get('errorText') ?? '' });
  const from = h('input', { name: 'from', id: 'job-from', type: 'datetime-local', step: 1 });
  const until = h('input', { name: 'until', id: 'job-until', type: 'datetime-local', step: 1 });
  const rate = h('input', { name: 'rate', id: 'job-rate', type: 'number', min: '0.1', step: 'any', value: '20' });
  const confirmBox = h('div', { id: 'job-confirm' });
  // The pickers are read as UTC, as every time in the console is shown.
  const iso = (v: string): string | undefined => (v ? new Date(`${v}Z`).toISOString() : undefined);
  const filter = (): Record<string, string> => {
    const f: Record<string, string | undefined> = { flow: flow.value, errorCode: code.value.trim() || undefined, errorText: text.value.trim() || undefined, from: iso(from.value), to: iso(until.value) };
    return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as Record<string, string>;
  };
  const form = h('form', { class: 'filters', id: 'job-form' },
    h('label', {}, 'Flow', flow), h('label', {}, 'Error code', code), h('label', {}, 'Error text', text),
    h('label', {}, 'Received from (UTC)', from), h('label', {}, 'until (UTC)', until), h('label', {}, 'Messages a second', rate),
    h('button', { type: 'submit', id: 'job-count' }, 'Count the dead letters that match'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const f = filter();
        const { count, exact } = await call<Answer<'countMessages'>>('POST', '/replays/count', { filter: f });
        if (count === 0) return replace(confirmBox, h('p', { class: 'muted', 'data-count': '0' }, 'No dead letter matches: nothing to replay.'));
        const key = idempotencyKey();
        const go = h('button', { type: 'button', class: 'danger', id: 'job-start', onclick: () => void (async () => {
          try {
            const job = await call<ReplayJob>('POST', '/replays', { filter: f, background: true, rate: Number(rate.value), note: 'console: replay by search' }, { 'idempotency-key': key });
            replace(confirmBox);
            replace(status, h('p', { class: 'ok' }, `Started job ${job.id}: ${job.matched} at ${job.rate} msg/s.`));
            started(job);
          } catch (err) {
            replace(status, problemBox(errorText(err)));
          }
        })() }, `Replay ${count}${exact ? '' : '+'} as a job at ${rate.value} msg/s`);
        replace(confirmBox, h('p', { 'data-count': String(count) }, `${count}${exact ? '' : ' or more'} dead letter(s) match. `, go));
      } catch (err) {
        replace(confirmBox, problemBox(errorText(err)));
      }
    })();
  });
  return h('section', {}, form, confirmBox);
}

function jobsTable(jobs: ReplayJob[], ctx: Ctx, status: HTMLElement, changed: (job: ReplayJob) => void): HTMLElement {
  if (jobs.length === 0) return h('p', { class: 'empty' }, 'No replay job yet.');
  const act = async (j: ReplayJob, action: 'pause' | 'resume' | 'cancel'): Promise<void> => {
    try {
      changed(await call<ReplayJob>('POST', `/replays/jobs/${encodeURIComponent(j.id)}/${action}`));
    } catch (err) {
      replace(status, problemBox(errorText(err)));
    }
  };
  const rows = jobs.map((j) => {
    const pct = j.matched ? Math.floor((100 * j.done) / j.matched) : 100;
    const results = h('div', { class: 'job-results' });
    const live = j.state === 'running' || j.state === 'paused';
    return [
      h('div', {}, h('code', {}, j.id.slice(0, 8)), h('div', { class: 'muted small' }, 'by ', j.by, ' ', time(j.startedAt))),
      h('span', { class: `badge status-${j.state}`, 'data-field': 'job-state' }, j.state),
      h('div', {}, h('progress', { max: String(j.matched || 1), value: String(j.done) }), ' ', h('span', { class: 'num', 'data-field': 'job-done' }, `${j.done} of ${j.matched}`), h('span', { class: 'muted' }, ` (${pct}%)`)),
      h('span', { class: 'num' }, `${j.rate}/s`),
      h('span', { class: 'small' }, `delivered ${j.outcomes.delivered}, dead ${j.outcomes.dead}, duplicates ${j.duplicates}, removed ${j.removed}, parked ${j.parked}, failed ${j.failedCount}`, j.error ? h('div', { class: 'bad' }, j.error) : null,
        j.pausedBy ? h('div', { class: 'muted' }, `paused by ${j.pausedBy}`) : null, j.cancelledBy ? h('div', { class: 'muted' }, `cancelled by ${j.cancelledBy}`) : null),
      h('div', { class: 'buttons' },
        can(ctx, 'operator') && j.state === 'running' ? h('button', { type: 'button', class: 'small', 'data-action': 'pause-job', onclick: () => void act(j, 'pause') }, 'Pause') : null,
        can(ctx, 'operator') && j.state === 'paused' ? h('button', { type: 'button', class: 'small', 'data-action': 'resume-job', onclick: () => void act(j, 'resume') }, 'Resume') : null,
        can(ctx, 'operator') && live ? h('button', { type: 'button', class: 'small danger', 'data-action': 'cancel-job', onclick: () => void act(j, 'cancel') }, 'Cancel') : null,
        h('button', { type: 'button', class: 'small', 'data-action': 'job-results', onclick: () => void showResults(j, results) }, 'Results'),
      ),
      results,
    ];
  });
  return table(['Job', 'State', 'Progress', 'Pace', 'Outcomes', '', 'Results'], rows, { id: 'jobs' });
}

async function showResults(j: ReplayJob, into: HTMLElement): Promise<void> {
  try {
    const r = await call<ReplayJobResults>('GET', `/replays/jobs/${encodeURIComponent(j.id)}/results${qs({ limit: 100 })}`);
    replace(into, h('p', { class: 'muted small' }, `${r.total} result(s)${r.total > r.items.length ? `; the first ${r.items.length}` : ''}`),
      h('ul', { class: 'plain small' }, r.items.map((x) => h('li', { 'data-outcome': x.outcome }, link(`/message/${encodeURIComponent(x.id)}`, {}, h('code', {}, x.id)), `: ${x.outcome}`, x.newId ? ' as ' : '', x.newId ? link(`/message/${encodeURIComponent(x.newId)}`, {}, h('code', {}, x.newId)) : null, x.reason ? ` (${x.reason})` : ''))));
  } catch (err) {
    replace(into, problemBox(errorText(err)));
  }
}
