/**
 * The flows of a running hub and what was done to them: `hub flows`, `hub flow pause|resume NAME`, `hub audit`.
 */
import { reloadCommand } from './trace.js';
import type { AuditEntry } from '../admin/audit.js';
import type { Page } from '../journal/contract.js';
import { command, group, type Io, type Values } from './args.js';
import { ADMIN_OPTIONS, withAdmin } from './admin-client.js';
import { clip, table } from './format.js';

/** A flow as GET /flows describes it (the fields the CLI shows). */
interface FlowRow {
  name: string;
  ready: boolean;
  state: 'running' | 'paused';
  paused?: { at: string; by: string; held: number };
  rate: { perSecond: number; p99Ms?: number };
  stats: { received: number; completed: number; failed: number; waiting: number; dead: number; lastError?: { code: string; message: string; at?: string } };
}

interface FlowStateAnswer {
  name: string;
  state: 'running' | 'paused';
  changed: boolean;
  paused?: { at: string; by: string; held: number };
}

export const flowsCommand = command({
  name: 'flows',
  summary: 'Each flow of a running hub: state, readiness, rate, p99 latency, counts, last error.',
  usage: ['hub flows [--json]'],
  description:
    'Each flow: running or paused, ready, messages delivered per second and p99 latency over the last minute, messages in, out, failed, waiting and dead since the hub started, the last error.',
  options: ADMIN_OPTIONS,
  async run(values, _args, io) {
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<{ flows: FlowRow[] }>('GET', '/flows');
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else if (data.flows.length === 0) io.out('no flows');
      else {
        const rows = data.flows.map((f) => [
          f.name,
          f.state === 'paused' && f.paused ? `paused by ${f.paused.by} (${f.paused.held} held)` : f.state,
          f.ready ? 'yes' : 'no',
          f.rate.perSecond.toFixed(2),
          f.rate.p99Ms === undefined ? '-' : `${Math.round(f.rate.p99Ms)} ms`,
          String(f.stats.received),
          String(f.stats.completed),
          String(f.stats.failed),
          String(f.stats.waiting),
          String(f.stats.dead),
          f.stats.lastError ? clip(`${f.stats.lastError.code}: ${f.stats.lastError.message}`, 60) : '',
        ]);
        io.out(table(['FLOW', 'STATE', 'READY', 'RATE/S', 'P99', 'IN', 'OUT', 'FAILED', 'WAITING', 'DEAD', 'LAST ERROR'], rows));
      }
      return 0;
    });
  },
});

const FLOW_ARG = [{ name: 'NAME', required: true, description: 'The flow (hub flows lists them).' }] as const;

async function changeFlow(action: 'pause' | 'resume', values: Values<typeof ADMIN_OPTIONS>, name: string, io: Io): Promise<number> {
  return withAdmin(values, io.env, async (api) => {
    const { data } = await api.call<FlowStateAnswer>('POST', `/flows/${encodeURIComponent(name)}/${action}`);
    if (values.json) io.out(JSON.stringify(data, null, 2));
    else if (!data.changed) io.out(`${data.name} was ${data.state} already`);
    else io.out(action === 'pause' ? `paused ${data.name}: it takes no new messages until hub flow resume ${data.name}` : `resumed ${data.name}`);
    return 0;
  });
}

export const flowGroup = group({
  name: 'flow',
  summary: 'Pause, resume or reload the flows of a running hub (admin).',
  commands: [
    command({
      name: 'flow pause',
      summary: 'Stop a flow taking new messages; those in it finish (admin).',
      usage: ['hub flow pause NAME'],
      description: 'Stop a flow taking new messages: those in it finish, and a source holds new ones (unacknowledged) until the flow is resumed or the hub stops (admin).',
      options: ADMIN_OPTIONS,
      args: FLOW_ARG,
      run: (values, [name], io) => changeFlow('pause', values, name!, io),
    }),
    command({
      name: 'flow resume',
      summary: 'Let a paused flow take messages again (admin).',
      usage: ['hub flow resume NAME'],
      options: ADMIN_OPTIONS,
      args: FLOW_ARG,
      run: (values, [name], io) => changeFlow('resume', values, name!, io),
    }),
    reloadCommand,
  ],
});

export const auditCommand = command({
  name: 'audit',
  summary: 'The admin audit, newest first: logins, logouts and every change, refused ones too (admin).',
  usage: ['hub audit [--limit N] [--action A] [--cursor C] [--json]'],
  options: {
    ...ADMIN_OPTIONS,
    limit: { type: 'number', value: 'N', integer: true, min: 1, max: 500, description: 'At most this many entries.' },
    action: { type: 'string', value: 'A', description: 'Only entries of this action (login, replay, archive, pause ...).' },
    cursor: { type: 'string', value: 'C', description: 'The next page: the cursor the previous page printed.' },
  },
  async run(values, _args, io) {
    const query = new URLSearchParams();
    if (values.limit) query.set('limit', String(values.limit));
    if (values.action) query.set('action', values.action);
    if (values.cursor) query.set('cursor', values.cursor);
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<Page<AuditEntry>>('GET', `/audit${query.size ? `?${query}` : ''}`);
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else if (data.items.length === 0) io.out('no audit entries');
      else io.out(table(['AT', 'ACTION', 'OUTCOME', 'ACTOR', 'CLIENT', 'TARGET', 'DETAIL'], data.items.map((e) => [e.at, e.action, e.outcome, e.actor, e.client, clip(e.target ?? '', 60), clip(e.detail ?? '', 80)])));
      if (!values.json && data.next) io.out(`\nmore: add --cursor ${data.next}`);
      return 0;
    });
  },
});
