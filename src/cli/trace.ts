/**
 * `hub trace FLOW`: a running hub's flow, its next messages step by step, through the admin API's trace stream; and
 * `hub flow reload`. The hub keeps the trace bounded (count, time, body size) and masks bodies for viewers.
 */
import type { ReloadReport } from '../runtime/flow-reload.js';
import type { TracedBody, TracedMessage } from '../runtime/flow-trace.js';
import { ADMIN_OPTIONS, withAdmin } from './admin-client.js';
import { command, type Io } from './args.js';

export const traceCommand = command({
  name: 'trace',
  summary: 'Follow a flow\'s next messages step by step: outputs, route, sink calls, timings (viewer).',
  usage: ['hub trace FLOW [--limit N] [--seconds S] [--body-bytes B] [--json]'],
  description:
    'Follow the next N messages of a flow of a running hub as they happen: for each, its input, each step\'s output (headers and body) and time, the route taken, each sink call with what was sent and its reply or error, and how it ended. It ends after N messages, or after --seconds, or on Ctrl-C. The flow pays nothing for this when nobody traces it. Viewers see bodies and header values masked.',
  options: {
    ...ADMIN_OPTIONS,
    limit: { type: 'number', value: 'N', integer: true, min: 1, max: 100, description: 'How many messages to follow (default 10).' },
    seconds: { type: 'number', value: 'S', integer: true, min: 1, max: 600, description: 'How long to wait for them (default 300).' },
    'body-bytes': { type: 'number', value: 'B', integer: true, min: 0, max: 65536, description: 'How much of each body to show (default 4096).' },
  },
  args: [{ name: 'FLOW', required: true, description: 'The flow (hub flows lists them).' }],
  async run(values, [flow], io) {
    const query = new URLSearchParams();
    if (values.limit !== undefined) query.set('limit', String(values.limit));
    if (values.seconds !== undefined) query.set('seconds', String(values.seconds));
    if (values['body-bytes'] !== undefined) query.set('bodyBytes', String(values['body-bytes']));
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    try {
      return await withAdmin(values, io.env, async (api) => {
        await api.events(
          `/flows/${encodeURIComponent(flow!)}/trace${query.size ? `?${query}` : ''}`,
          (event, data) => {
            if (values.json) io.out(JSON.stringify({ event, data }));
            else if (event === 'trace-started') {
              const d = data as { flow: string; limit: number; seconds: number };
              io.out(`tracing ${d.flow}: the next ${d.limit} message(s), for ${d.seconds} s at most`);
            } else if (event === 'message') io.out(formatTraced(data as TracedMessage).join('\n'));
            else if (event === 'end') {
              const d = data as { reason: string; traced: number };
              io.out(`trace ended (${d.reason}): ${d.traced} message(s)`);
            }
          },
          abort.signal,
        );
        return 0;
      });
    } finally {
      process.off('SIGINT', stop);
    }
  },
});

export const reloadCommand = command({
  name: 'flow reload',
  summary: 'Reload the flows from their files: changed ones roll over without a restart (admin).',
  usage: ['hub flow reload [--json]'],
  description:
    'Lint every flow file of a running hub again and replace only the flows that changed: the new version takes new messages, the old one finishes those it has; new files start flows, removed files stop them. A flow whose file has errors keeps running as it was: the problems are printed at file:line:col and the command exits 1. The same as sending the hub process SIGHUP (admin).',
  options: ADMIN_OPTIONS,
  async run(values, _args, io: Io) {
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<ReloadReport>('POST', '/flows/reload');
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else for (const line of formatReload(data)) io.out(line);
      return data.problems.length ? 1 : 0;
    });
  },
});

/** A reload's report as lines: what changed, then each problem at file:line:col. */
export function formatReload(r: ReloadReport): string[] {
  const lines = (['added', 'changed', 'removed', 'kept'] as const).filter((k) => r[k].length).map((k) => `${k}: ${r[k].join(', ')}${k === 'kept' ? ' (their files have errors: the running version goes on)' : ''}`);
  if (lines.length === 0) lines.push('nothing changed');
  lines.push(...r.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`));
  lines.push(`reloaded in ${r.tookMs} ms`);
  return lines;
}

/** One traced message as the terminal shows it. */
export function formatTraced(m: TracedMessage): string[] {
  const out = [`── ${m.id}  ${m.receivedAt}  ${m.outcome}${m.error ? ` ${m.error.code}${m.error.step ? ` at ${m.error.step}` : ''}: ${m.error.message}` : ''}  ${m.tookMs} ms`];
  out.push(`   in    ${body(m.input)}`);
  for (const s of m.steps) {
    const head = `   ${s.label}  ${s.tookMs} ms${s.route ? `  → ${s.route}` : ''}${s.error ? `  FAILED ${s.error.code}: ${s.error.message}` : ''}`;
    out.push(head);
    for (const c of m.sinks.filter((c) => c.step === s.label)) out.push(...sinkLines(c));
    if (!s.error) out.push(...(s.output.length === 0 ? ['     out   (nothing: the message stops here)'] : s.output.map((o) => `     out   ${body(o)}`)));
  }
  for (const c of m.sinks.filter((c) => !c.step)) out.push(...sinkLines(c));
  for (const r of m.replies ?? []) out.push(`   reply ${body(r)}`);
  return out;
}

function sinkLines(c: TracedMessage['sinks'][number]): string[] {
  return [`     sink  ${c.sink}  ${c.tookMs} ms  sent ${body(c.sent)}`, c.error ? `           error ${c.error.code}: ${c.error.message}` : c.reply ? `           reply ${body(c.reply)}` : '           (no reply)'];
}

function body(b: TracedBody): string {
  if (b.masked) return `(masked: ${b.bytes} bytes)`;
  const type = b.headers['content-type'];
  return `${type ? `[${type}] ` : ''}${b.body.replace(/\s*\n\s*/g, ' ')}${b.truncated ? ` … (${b.bytes} bytes)` : ''}`;
}
