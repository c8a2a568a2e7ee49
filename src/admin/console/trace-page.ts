/**
 * The Trace page (#/trace?flow=NAME&limit=N): a flow's next messages, live, step by step, from GET
 * /admin/api/flows/{name}/trace (server-sent events): each message's input, each step's output (headers and body) and
 * time, the route it took, each sink call with what was sent and the reply or error. The hub masks bodies and header
 * values for viewers. The stream ends at its limit or time; leaving the page closes it.
 */
import { API, call, type Answer } from './api.js';
import { badge, h, problemBox, replace } from './dom.js';
import { heading } from './page-parts.js';

interface TracedBody {
  headers: Record<string, string>;
  body: string;
  bytes: number;
  truncated: boolean;
  masked?: boolean;
}

interface TracedMessage {
  id: string;
  flow: string;
  receivedAt: string;
  tookMs: number;
  outcome: 'delivered' | 'failed';
  input: TracedBody;
  steps: { index: number; label: string; kind: string; tookMs: number; output: TracedBody[]; route?: string; error?: { code: string; message: string } }[];
  sinks: { sink: string; step?: string; tookMs: number; sent: TracedBody; reply?: TracedBody; error?: { code: string; message: string } }[];
  replies?: TracedBody[];
  error?: { code: string; message: string; step?: string };
}

let open: EventSource | undefined;

function close(): void {
  open?.close();
  open = undefined;
}

window.addEventListener('hashchange', close);

export async function tracePage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  close();
  const { flows } = await call<Answer<'listFlows'>>('GET', '/flows');
  const flow = h('select', { name: 'flow', id: 'trace-flow' }, flows.map((f) => h('option', { value: f.name, ...(f.name === params.get('flow') ? { selected: true } : {}) }, f.name)));
  const limit = h('input', { name: 'limit', id: 'trace-limit', type: 'number', min: '1', max: '100', value: params.get('limit') ?? '10' });
  const state = h('div', { id: 'trace-state', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Not tracing. Start, then send messages to the flow: each shows here when it is done.'));
  const list = h('div', { id: 'trace-messages' });
  const stop = h('button', { type: 'button', id: 'trace-stop', class: 'small', disabled: true }, 'Stop');
  const form = h('form', { class: 'filters', id: 'trace-form' }, h('label', {}, 'Flow ', flow), h('label', {}, 'Messages ', limit), h('button', { type: 'submit', id: 'trace-start' }, 'Start'), stop);
  const ended = (text: string): void => {
    close();
    stop.disabled = true;
    replace(state, h('p', { class: 'muted', 'data-trace': 'ended' }, text));
  };
  stop.addEventListener('click', () => ended('Stopped.'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    close();
    replace(list);
    const es = new EventSource(`${API}/flows/${encodeURIComponent(flow.value)}/trace?limit=${encodeURIComponent(limit.value)}`);
    open = es;
    stop.disabled = false;
    es.addEventListener('trace-started', (ev) => {
      const d = JSON.parse((ev as MessageEvent<string>).data) as { flow: string; limit: number; seconds: number };
      replace(state, h('p', { class: 'ok', 'data-trace': 'running' }, `Tracing ${d.flow}: the next ${d.limit} message(s), for ${d.seconds} s at most.`));
    });
    es.addEventListener('message', (ev) => list.prepend(messageCard(JSON.parse((ev as MessageEvent<string>).data) as TracedMessage)));
    es.addEventListener('end', (ev) => {
      const d = JSON.parse((ev as MessageEvent<string>).data) as { reason: string; traced: number };
      ended(`Ended (${d.reason}): ${d.traced} message(s) traced.`);
    });
    // The server ends the stream after `end`; an error before any event is a refusal (no such flow, too many traces).
    es.addEventListener('error', () => {
      if (open !== es) return;
      if (es.readyState === EventSource.CLOSED || state.querySelector('[data-trace=running]') === null) {
        close();
        stop.disabled = true;
        replace(state, problemBox(`The trace of ${flow.value} could not start or was cut off; check the flow runs in this hub, and try again.`));
      }
    });
  });
  replace(main, heading('Trace', h('span', { class: 'muted' }, 'a flow\'s next messages, step by step, live')), form, state, list);
}

function messageCard(m: TracedMessage): HTMLElement {
  const steps = m.steps.map((s) =>
    h('li', { class: 'trace-step', 'data-step': s.label },
      h('div', {}, h('strong', {}, s.label), ` ${s.tookMs} ms`, s.route ? h('span', { class: 'trace-route', 'data-route': s.route }, ` → ${s.route}`) : null, s.error ? h('span', { class: 'bad' }, ` ${s.error.code}: ${s.error.message}`) : null),
      m.sinks.filter((c) => c.step === s.label).map((c) =>
        h('div', { class: 'trace-sink', 'data-sink': c.sink },
          h('div', {}, `sink ${c.sink}, ${c.tookMs} ms`),
          bodyBlock('sent', c.sent),
          c.error ? h('div', { class: 'bad' }, `error ${c.error.code}: ${c.error.message}`) : c.reply ? bodyBlock('reply', c.reply) : h('div', { class: 'muted' }, 'no reply'),
        ),
      ),
      s.error ? null : s.output.length === 0 ? h('div', { class: 'muted' }, 'out: nothing (the message stops here)') : s.output.map((o) => bodyBlock('out', o)),
    ),
  );
  return h('section', { class: 'trace-message', 'data-id': m.id, 'data-outcome': m.outcome },
    h('h2', {}, m.id, ' ', badge(m.outcome), h('span', { class: 'muted small' }, ` ${m.receivedAt}, ${m.tookMs} ms`)),
    m.error ? problemBox(`${m.error.code}${m.error.step ? ` at ${m.error.step}` : ''}: ${m.error.message}`) : null,
    bodyBlock('in', m.input),
    h('ol', { class: 'plain' }, steps),
    (m.replies ?? []).map((r) => bodyBlock('reply to the caller', r)),
  );
}

function bodyBlock(label: string, b: TracedBody): HTMLElement {
  if (b.masked) return h('div', { class: 'trace-body muted', 'data-masked': 'true' }, `${label}: ${b.bytes} bytes, masked (viewer)`);
  const headers = Object.entries(b.headers).map(([k, v]) => `${k}: ${v}`).join('\n');
  return h('details', { class: 'trace-body', open: true },
    h('summary', {}, `${label}: ${b.bytes} bytes${b.truncated ? ' (cut)' : ''}`),
    h('pre', { class: 'trace-headers' }, headers),
    h('pre', { class: 'trace-text' }, b.body),
  );
}
