/**
 * Reading the journal of a running hub, and putting dead letters aside: `hub messages`, `hub messages show`,
 * `hub dead-letters` and `hub archive` (and `hub messages fixture`, in fixture.ts). Each is a call to the admin API (admin-client.ts), printed for a terminal,
 * or as JSON with --json.
 */
import type { DeadLetterGroup, MessageRecord, MessageSummary, Page, TimelineEvent } from '../journal/contract.js';
import { ADMIN_PREFIX } from '../admin/api/constants.js';
import { command, group, UsageError, type Print } from './args.js';
import { ADMIN_OPTIONS, isoTime, withAdmin } from './admin-client.js';
import { fixtureCommand } from './fixture.js';
import { clip, errorLine, indent, table } from './format.js';

const list = command({
  name: 'messages',
  summary: 'Search the journal of a running hub, newest first.',
  usage: ['hub messages [--flow F] [--status S]... [--correlation-id C] [--error-code C] [--error-step S] [--error-text T] [--from ISO] [--to ISO] [--limit N] [--cursor C] [--json]'],
  description: 'Search the journal, newest first: a table of the messages that match every filter given (--json for the raw page). --status repeats or takes a list (dead,waiting-for-retry).',
  options: {
    ...ADMIN_OPTIONS,
    flow: { type: 'string', value: 'F', description: 'Only messages of this flow.' },
    status: { type: 'string', value: 'S', multiple: true, description: 'Only messages in this state: received, delivered, failed, waiting-for-retry, dead, resolved or archived (or a comma-separated list of them).' },
    'correlation-id': { type: 'string', value: 'C', description: 'Only messages with this correlation id.' },
    'error-code': { type: 'string', value: 'C', description: 'Only messages whose last error has this code (e.g. DOWNSTREAM_UNAVAILABLE).' },
    'error-step': { type: 'string', value: 'S', description: 'Only messages whose last error arose at this step (e.g. 2:to).' },
    'error-text': { type: 'string', value: 'T', description: 'Only messages whose last error\'s message contains this text.' },
    from: { type: 'string', value: 'ISO', description: 'Only messages received at or after this time.' },
    to: { type: 'string', value: 'ISO', description: 'Only messages received before this time.' },
    limit: { type: 'number', value: 'N', integer: true, min: 1, max: 500, description: 'At most this many messages (the hub\'s default page otherwise).' },
    cursor: { type: 'string', value: 'C', description: 'The next page: the cursor the previous page printed.' },
  },
  async run(values, _args, io) {
    const query = new URLSearchParams();
    const add = (name: string, value: string | undefined): void => void (value !== undefined && query.append(name, value));
    add('flow', values.flow);
    for (const s of values.status ?? []) add('status', s);
    add('correlationId', values['correlation-id']);
    add('errorCode', values['error-code']);
    add('errorStep', values['error-step']);
    add('errorText', values['error-text']);
    add('from', isoTime(values.from, '--from'));
    add('to', isoTime(values.to, '--to'));
    add('limit', values.limit?.toString());
    add('cursor', values.cursor);
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<Page<MessageSummary>>('GET', `/messages${query.size ? `?${query}` : ''}`);
      if (values.json) {
        io.out(JSON.stringify(data, null, 2));
        return 0;
      }
      if (data.items.length === 0) io.out('no messages match');
      else {
        const rows = data.items.map((m) => [m.id, m.flow, m.status, String(m.attempts), m.receivedAt, m.lastError ? clip(errorLine(m.lastError), 80) : m.replayOf ? `(replay of ${m.replayOf})` : '']);
        io.out(table(['ID', 'FLOW', 'STATUS', 'TRIES', 'RECEIVED', 'ERROR'], rows));
      }
      if (data.next) io.out(`\nmore: add --cursor ${data.next}`);
      return 0;
    });
  },
});

const show = command({
  name: 'messages show',
  summary: 'One message: headers, stored body, error, timeline, replays.',
  usage: ['hub messages show ID [--json]'],
  options: ADMIN_OPTIONS,
  args: [{ name: 'ID', required: true, description: 'The message\'s id (hub messages lists them), e.g. 01JTB7K3W4Q9X2V8M5N6P7R1S0.' }],
  async run(values, [id], io) {
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<MessageRecord>('GET', `/messages/${encodeURIComponent(id!)}`);
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else showMessage(data, api.url, io.out);
      return 0;
    });
  },
});

export const messagesGroup = group({ name: 'messages', summary: list.summary, main: list, commands: [show, fixtureCommand] });

export const deadLettersCommand = command({
  name: 'dead-letters',
  summary: 'Dead letters grouped by flow, step and error code.',
  usage: ['hub dead-letters [--flow F] [--json]'],
  options: { ...ADMIN_OPTIONS, flow: { type: 'string', value: 'F', description: 'Only the dead letters of this flow.' } },
  async run(values, _args, io) {
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<{ groups: DeadLetterGroup[] }>('GET', `/dead-letters${values.flow ? `?flow=${encodeURIComponent(values.flow)}` : ''}`);
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else if (data.groups.length === 0) io.out('no dead letters');
      else {
        io.out(table(['FLOW', 'STEP', 'CODE', 'COUNT', 'FIRST', 'LAST'], data.groups.map((g) => [g.flow, g.step || '-', g.code, String(g.count), g.firstSeen, g.lastSeen])));
        io.out('\nlist them: hub messages --status dead --flow FLOW --error-code CODE; replay them: hub replay --flow FLOW --error-code CODE');
      }
      return 0;
    });
  },
});

export const archiveCommand = command({
  name: 'archive',
  summary: 'Archive a dead message, or a whole dead-letter group (admin).',
  usage: ['hub archive ID [--reason R]', 'hub archive --flow F --step S --code C [--reason R] [--max N]'],
  description: 'Archive a dead message, or every message of a dead-letter group of hub dead-letters (its flow, step and code; --step - for errors without a step), with a reason: it leaves the dead letters and is removed after the journal\'s retention for archived messages (admin).',
  options: {
    ...ADMIN_OPTIONS,
    reason: { type: 'string', value: 'R', description: 'Why, for the audit and the message\'s timeline.' },
    flow: { type: 'string', value: 'F', description: 'The group\'s flow.' },
    step: { type: 'string', value: 'S', description: 'The group\'s step (e.g. 2:to), or - for errors without a step.' },
    code: { type: 'string', value: 'C', description: 'The group\'s error code.' },
    max: { type: 'number', value: 'N', integer: true, min: 1, max: 10_000, description: 'Archive at most this many of the group.' },
  },
  args: [{ name: 'ID', description: 'The dead message to archive; leave it out to archive a group.' }],
  async run(values, [id], io) {
    const reason = values.reason ? { reason: values.reason } : {};
    if (id !== undefined) {
      const flag = (['flow', 'step', 'code', 'max'] as const).find((f) => values[f] !== undefined);
      if (flag) throw new UsageError('CLI_BAD_ARGUMENTS', `--${flag} selects a dead-letter group; give it without a message id`);
      return withAdmin(values, io.env, async (api) => {
        const { data } = await api.call<{ id: string; removableFrom?: string }>('POST', `/messages/${encodeURIComponent(id)}/archive`, { body: reason });
        if (values.json) io.out(JSON.stringify(data, null, 2));
        else io.out(`archived ${data.id}${data.removableFrom ? `; the retention sweeper removes it from ${data.removableFrom}` : '; kept until deleted'}`);
        return 0;
      });
    }
    const missing = (['flow', 'step', 'code'] as const).filter((f) => values[f] === undefined);
    if (missing.length) throw new UsageError('CLI_BAD_ARGUMENTS', `name a message id (hub archive ID), or a dead-letter group with --flow, --step and --code (hub dead-letters lists them; missing: ${missing.map((f) => `--${f}`).join(', ')})`);
    const body = { flow: values.flow, step: values.step === '-' ? '' : values.step, code: values.code, ...reason, ...(values.max ? { max: values.max } : {}) };
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<{ matched: number; capped: boolean; archived: number; failed: { id: string; reason: string }[]; keepMs?: number }>('POST', '/dead-letters/archive', { body });
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else {
        const days = data.keepMs === undefined ? undefined : Math.round(data.keepMs / 86_400_000);
        io.out(`matched ${data.matched}${data.capped ? ' (capped by --max: run it again for the rest)' : ''}, archived ${data.archived}, failed ${data.failed.length}${days === undefined ? '; kept until deleted' : `; removed ${days} day(s) after each was received`}`);
        for (const f of data.failed) io.out(`  ${f.id}: ${f.reason}`);
      }
      return data.failed.length ? 1 : 0;
    });
  },
});

function showMessage(m: MessageRecord, url: string, out: Print): void {
  const rows: [string, string | undefined][] = [
    ['id', m.id],
    ['flow', m.flow],
    ['source', m.source],
    ['status', `${m.status} (tries: ${m.attempts})`],
    ['received', m.receivedAt],
    ['updated', m.updatedAt],
    ['correlation', m.correlationId],
    ['replay of', m.replayOf],
    ['replayed as', m.replayedAs.length ? m.replayedAs.join(', ') : undefined],
    ['last error', m.lastError ? errorLine(m.lastError) : undefined],
  ];
  for (const [k, v] of rows) if (v !== undefined) out(`${`${k}:`.padEnd(13)}${v}`);
  out('headers:');
  for (const [k, v] of Object.entries(m.headers)) out(`  ${k}: ${v}`);
  const b = m.body;
  const stored = Buffer.byteLength(b.data, b.encoding);
  out(`body: ${b.size} bytes, sha256 ${b.sha256}${b.truncated ? `, only the first ${stored} stored` : ''}${b.encoding === 'base64' ? ', not UTF-8: shown as base64' : ''}`);
  out(indent(b.data));
  if (b.encoding === 'base64') out(`  (the raw bytes: curl -s ${url}${ADMIN_PREFIX}/messages/${m.id}/body)`);
  out('timeline:');
  for (const e of m.timeline) out(`  ${describeEvent(e)}`);
}

function describeEvent(e: TimelineEvent): string {
  const parts = [e.at, e.type.padEnd(17)];
  if (e.attempt !== undefined) parts.push(`try ${e.attempt}`);
  if (e.step) parts.push(e.step);
  if (e.error) parts.push(errorLine(e.error));
  if (e.dueAt) parts.push(`due ${e.dueAt}`);
  if (e.detail) parts.push(e.detail);
  if (e.call) parts.push(`try ${e.call.try}`, e.call.failure ? errorLine(e.call.failure) : e.call.reply ? `replied${e.call.reply.status === undefined ? '' : ` ${e.call.reply.status}`} (${e.call.reply.masked ? 'masked' : `${e.call.reply.body.length} chars`})` : 'took it');
  return parts.join('  ');
}
