/**
 * `hub replay`: one message (a new id, linked to the original) from its flow's start, from its failed step, or
 * straight to a sink, optionally with an edited body, or its dry run (--check); or every message of a flow that
 * matches a filter, as a job of the hub that the command follows until it ends.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { ReplayJob } from '../admin/replay-jobs.js';
import type { ReplayCheck, ReplayResult } from '../admin/replay.js';
import { command, UsageError, type Io } from './args.js';
import { ADMIN_OPTIONS, isoTime, withAdmin } from './admin-client.js';
import { errorLine } from './format.js';

/** How often `hub replay --flow` asks how its bulk replay job is going. */
const JOB_POLL_MS = 500;

/** The options that select messages by filter, which a replay of one message does not take. */
const FILTERS = ['status', 'error-code', 'error-step', 'error-text', 'from', 'until', 'max'] as const;

export const replayCommand = command({
  name: 'replay',
  summary: 'Replay one message, or every message of a flow that matches a filter.',
  usage: [
    'hub replay ID [--to start|failed-step] [--sink S] [--body-file FILE] [--content-type T] [--note N] [--idempotency-key K]',
    'hub replay ID --check [--body-file FILE] [--to start|failed-step] [--sink S]',
    'hub replay --flow F [--status S]... [--error-code C] [--error-step S] [--error-text T] [--from ISO] [--until ISO] [--to start|failed-step] [--sink S] [--into-flow F2] [--rate N] [--max N] [--note N]',
    'hub replay --job ID [--pause | --resume | --cancel] [--results]',
  ],
  description:
    'Replay one message (a new id, linked to the original) from the start, from its failed step, or straight to a sink; --body-file replaces its body (checked against the flow\'s input schema first). --check is the dry run: it checks the body (edited, else stored) against the flow\'s input schema and lists its errors; nothing is booked or sent (admin). With --flow instead of an id, replay every message of the flow that matches (dead ones unless --status says otherwise), up to --max, as a job of the hub (kept in its journal: a restart resumes it) paced at --rate messages a second; the command follows it until it ends, and --job ID looks at a job again, pauses, resumes or cancels it, and lists its result for each message. The same replay is sent once per --idempotency-key (by default, the same command twice sends once). Exit 1 when a replay fails again.',
  options: {
    ...ADMIN_OPTIONS,
    to: { type: 'string', value: 'WHERE', choices: ['start', 'failed-step'], description: 'Where the replay enters the flow: its start (the hub\'s default) or the step that failed.' },
    sink: { type: 'string', value: 'S', description: 'Send it straight to this sink of the flow instead (admin).' },
    'body-file': { type: 'string', value: 'FILE', description: 'Replace the body with this file\'s bytes (one message only).' },
    'content-type': { type: 'string', value: 'T', description: 'The content type of the replaced body (one message only).' },
    note: { type: 'string', value: 'N', description: 'Why, for the audit.' },
    'idempotency-key': { type: 'string', value: 'K', description: 'Send this replay once per key (default: one derived from the request).' },
    check: { type: 'boolean', description: 'The dry run of one message\'s replay: check the body, send nothing.' },
    flow: { type: 'string', value: 'F', description: 'Replay every message of this flow that matches the filters.' },
    status: { type: 'string', value: 'S', multiple: true, description: 'Only messages in this state (default: dead).' },
    'error-code': { type: 'string', value: 'C', description: 'Only messages whose last error has this code.' },
    'error-step': { type: 'string', value: 'S', description: 'Only messages whose last error arose at this step (e.g. 2:to).' },
    'error-text': { type: 'string', value: 'T', description: 'Only messages whose last error\'s message contains this text.' },
    from: { type: 'string', value: 'ISO', description: 'Only messages received at or after this time.' },
    until: { type: 'string', value: 'ISO', description: 'Only messages received before this time.' },
    max: { type: 'number', value: 'N', integer: true, min: 1, max: 100_000_000, description: 'Replay at most this many (default: every match).' },
    rate: { type: 'number', value: 'N', min: 0.01, max: 10_000, description: 'The job\'s pace: messages a second (the hub\'s default: 20).' },
    'into-flow': { type: 'string', value: 'F2', description: 'Replay into this flow instead (a new version deployed beside the old).' },
    job: { type: 'string', value: 'ID', description: 'A replay job: show it (with --pause, --resume or --cancel: change it first).' },
    pause: { type: 'boolean', description: 'Pause the --job.' },
    resume: { type: 'boolean', description: 'Resume the --job.' },
    cancel: { type: 'boolean', description: 'Cancel the --job.' },
    results: { type: 'boolean', description: 'With --job: list its result for each message.' },
  },
  args: [{ name: 'ID', description: 'The message to replay (hub messages lists them); leave it out with --flow.' }],
  async run(values, [id], io) {
    if (values.job !== undefined) return jobCommand(values.job, values, io);
    const headers = values['idempotency-key'] ? { 'idempotency-key': values['idempotency-key'] } : undefined;
    const to = values.to;
    const filters = FILTERS.filter((f) => values[f] !== undefined);
    if (id !== undefined) {
      if (values.flow !== undefined || filters.length) throw new UsageError('CLI_BAD_ARGUMENTS', `--${values.flow !== undefined ? 'flow' : filters[0]} selects messages by filter; give it without a message id`);
      let edited: { body: string; bodyEncoding: 'utf8' | 'base64' } | undefined;
      if (values['body-file'] !== undefined) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(values['body-file']);
        } catch (e) {
          throw new UsageError('CLI_BAD_OPTION', `--body-file: cannot read ${values['body-file']}: ${(e as Error).message}`, { cause: e });
        }
        edited = isUtf8(bytes) ? { body: bytes.toString('utf8'), bodyEncoding: 'utf8' } : { body: bytes.toString('base64'), bodyEncoding: 'base64' };
      }
      const body = { ...(to ? { to } : {}), ...(values.sink ? { sink: values.sink } : {}), ...edited, ...(values['content-type'] ? { contentType: values['content-type'] } : {}), ...(values.note ? { note: values.note } : {}) };
      if (values.check) {
        return withAdmin(values, io.env, async (api) => {
          const { data } = await api.call<ReplayCheck>('POST', `/messages/${encodeURIComponent(id)}/replay/check`, { body });
          if (values.json) io.out(JSON.stringify(data, null, 2));
          else {
            const against = data.schema ? ` against ${data.schema}` : '';
            io.out(data.ok ? `ok: the body passes${against}; nothing was sent (replay without --check to send it)` : `refused${against}: ${data.errors.length} problem(s); nothing was sent`);
            for (const e of data.errors) io.out(`  ${e.path}: ${e.message}`);
          }
          return data.ok ? 0 : 1;
        });
      }
      return withAdmin(values, io.env, async (api) => {
        const { data } = await api.call<ReplayResult>('POST', `/messages/${encodeURIComponent(id)}/replay`, { body, ...(headers ? { headers } : {}) });
        if (values.json) io.out(JSON.stringify(data, null, 2));
        else io.out(describeReplay(id, data));
        return data.outcome === 'dead' && !data.duplicate ? 1 : 0;
      });
    }
    if (values.check) throw new UsageError('CLI_BAD_ARGUMENTS', '--check is the dry run of one message\'s replay; name its id');
    if (values.flow === undefined) throw new UsageError('CLI_BAD_ARGUMENTS', 'name a message id (hub replay ID), or --flow FLOW to replay every match of a filter (dead ones by default)');
    for (const f of ['body-file', 'content-type'] as const) if (values[f] !== undefined) throw new UsageError('CLI_BAD_ARGUMENTS', `--${f} edits one message; name its id`);
    const filter = {
      flow: values.flow,
      ...(values.status ? { status: values.status } : {}),
      ...(values['error-code'] ? { errorCode: values['error-code'] } : {}),
      ...(values['error-step'] ? { errorStep: values['error-step'] } : {}),
      ...(values['error-text'] ? { errorText: values['error-text'] } : {}),
      ...(values.from ? { from: isoTime(values.from, '--from') } : {}),
      ...(values.until ? { to: isoTime(values.until, '--until') } : {}),
    };
    const body = { filter, ...(to ? { to } : {}), ...(values.sink ? { sink: values.sink } : {}), ...(values.max ? { max: values.max } : {}), ...(values.rate ? { rate: values.rate } : {}), ...(values['into-flow'] ? { flow: values['into-flow'] } : {}), ...(values.note ? { note: values.note } : {}) };
    return withAdmin(values, io.env, async (api) => {
      // As a job: the hub answers at once, and the command polls it, a line per change, until it ends.
      const started = await api.call<ReplayJob>('POST', '/replays', { body, headers: { ...headers, prefer: 'respond-async' } });
      let data = started.data;
      let shown = -1;
      for (;;) {
        if (!values.json && data.done !== shown) {
          shown = data.done;
          if (data.state === 'running') io.out(`replaying: ${data.done} of ${data.matched} done (delivered ${data.outcomes.delivered}, duplicates ${data.duplicates}, failed ${data.failedCount}) at ${data.rate} msg/s`);
        }
        if (data.state !== 'running' && data.state !== 'paused') break;
        await delay(JOB_POLL_MS);
        data = (await api.call<ReplayJob>('GET', `/replays/jobs/${encodeURIComponent(started.data.id)}`)).data;
      }
      // The job's error is the hub's own, CODE: message.
      if (data.state === 'failed') io.err(`hub: ${data.error ?? 'INTERNAL: unknown error'} (the bulk replay stopped after ${data.done} of ${data.matched}; run it again: what was replayed is not replayed twice)`);
      if (values.json) io.out(JSON.stringify(data, null, 2));
      else {
        const o = data.outcomes;
        io.out(`matched ${data.matched}${data.capped ? ' (capped by --max: run it again for the rest)' : ''}, replayed ${data.replayed} (delivered ${o.delivered}, waiting for retry ${o['waiting-for-retry']}, dead ${o.dead}), duplicates ${data.duplicates}, failed ${data.failedCount}${data.removed ? `, removed ${data.removed}` : ''}${data.parked ? `, parked ${data.parked}` : ''} (job ${data.id}, ${data.state}; hub replay --job ${data.id} --results lists each message)`);
        for (const f of data.failed) io.out(`  ${f.id}: ${f.reason}`);
      }
      return data.state === 'failed' || data.failedCount || data.outcomes.dead ? 1 : 0;
    });
  },
});

/** hub replay --job ID: shows a job (changed first by --pause, --resume or --cancel), with its results on --results. */
function jobCommand(job: string, values: { pause?: boolean; resume?: boolean; cancel?: boolean; results?: boolean; json?: boolean; url: string | undefined; user: string | undefined }, io: Io): Promise<number> {
  const actions = (['pause', 'resume', 'cancel'] as const).filter((a) => values[a]);
  if (actions.length > 1) throw new UsageError('CLI_BAD_ARGUMENTS', 'give one of --pause, --resume and --cancel');
  return withAdmin(values, io.env, async (api) => {
    const path = `/replays/jobs/${encodeURIComponent(job)}`;
    const data = actions[0] ? (await api.call<ReplayJob & { changed: boolean }>('POST', `${path}/${actions[0]}`, {})).data : (await api.call<ReplayJob>('GET', path)).data;
    const results = values.results ? (await api.call<{ items: { id: string; outcome: string; newId?: string; reason?: string }[]; total: number }>('GET', `${path}/results?limit=1000`)).data : undefined;
    if (values.json) {
      io.out(JSON.stringify(results ? { ...data, results } : data, null, 2));
      return 0;
    }
    const o = data.outcomes;
    io.out(`job ${data.id} by ${data.by}: ${data.state}${data.error ? ` (${data.error})` : ''}, ${data.rate} msg/s, ${data.done} of ${data.matched} done: replayed ${data.replayed} (delivered ${o.delivered}, waiting for retry ${o['waiting-for-retry']}, dead ${o.dead}), duplicates ${data.duplicates}, removed ${data.removed}, parked ${data.parked}, failed ${data.failedCount}`);
    for (const r of results?.items ?? []) io.out(`  ${r.id}: ${r.outcome}${r.newId ? ` as ${r.newId}` : ''}${r.reason ? ` (${r.reason})` : ''}`);
    if (results && results.total > results.items.length) io.out(`  ... ${results.total - results.items.length} more (GET /admin/api${path}/results?offset=${results.items.length})`);
    return 0;
  });
}

function describeReplay(id: string, r: ReplayResult): string {
  if (r.duplicate) return `${id} was already replayed as ${r.newId} (by ${r.replay.by} at ${r.replay.at}, key ${r.replay.requestKey}); nothing sent again${r.outcome ? ` (it is ${r.outcome})` : ''}. To replay it once more, pass a new --idempotency-key.`;
  const where = r.replay.target.sink ? ` to sink ${r.replay.target.sink}` : r.replay.target.to === 'failed-step' ? ` from step ${r.replay.target.step}` : '';
  if (r.outcome === 'delivered') return `replayed ${id} as ${r.newId}${where}: delivered`;
  const why = r.error ? ` (${errorLine(r.error)})` : '';
  return `replayed ${id} as ${r.newId}${where}: ${r.outcome === 'dead' ? 'failed again, dead' : 'failed again, waiting for a retry'}${why}`;
}

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
