/**
 * The CLI's operator commands (`hub messages`, `hub dead-letters`, `hub replay`): each is a call to a running hub's
 * admin API, printed for a terminal (or as JSON with --json), as the bearer token (HUB_ADMIN_TOKEN) or as a user
 * logged in for the command (--user or HUB_ADMIN_USER, the password in HUB_ADMIN_PASSWORD). And `hub admin
 * hash-password`, which makes the password hashes of hub.yaml's admin.users. Exit codes: 0 done, 1 the hub refused
 * or failed (its problem is printed), 2 a usage error.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { DeadLetterGroup, MessageRecord, MessageSummary, Page, TimelineEvent } from '../journal/contract.js';
import { ADMIN_PREFIX, CSRF_HEADER, SESSION_COOKIE } from '../admin/api/constants.js';
import { hashPassword } from '../kit/password.js';
import type { AuditEntry } from '../admin/audit.js';
import type { ReplayJob } from '../admin/replay-jobs.js';
import type { ReplayCheck, ReplayResult } from '../admin/replay.js';

type Print = (s: string) => void;

export const DEFAULT_HUB_URL = 'http://127.0.0.1:8080';
/** How often `hub replay --flow` asks how its bulk replay job is going. */
const JOB_POLL_MS = 500;

/** A usage error: printed with a hint, exit code 2. */
export class UsageError extends Error {}

/** The hub answered with a problem (or could not be reached): printed, exit code 1. */
class AdminError extends Error {}

interface Problem {
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: { path?: string; message: string }[];
}

/** How the CLI proves who it is: the bearer token, or a user's name and password (logged in for one command). */
type Credentials = { token: string } | { user: string; password: string } | undefined;

class AdminClient {
  readonly #headers: Record<string, string>;
  readonly #login: { user: string; password: string } | undefined;
  /** The session's cookie and CSRF token, once logged in. */
  #session: { cookie: string; csrf: string } | undefined;

  constructor(
    readonly url: string,
    credentials: Credentials,
  ) {
    this.#headers = { 'x-hub-actor': actorName(), ...(credentials && 'token' in credentials ? { authorization: `Bearer ${credentials.token}` } : {}) };
    this.#login = credentials && 'user' in credentials ? credentials : undefined;
  }

  async call<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; data: T }> {
    if (this.#login && !this.#session) await this.#logIn(this.#login);
    const session = this.#session ? { cookie: `${SESSION_COOKIE}=${this.#session.cookie}`, ...(method === 'GET' ? {} : { [CSRF_HEADER.toLowerCase()]: this.#session.csrf }) } : {};
    return this.#fetch<T>(method, path, { ...options, headers: { ...session, ...options.headers } });
  }

  /** Ends the session the CLI opened, if any (best effort: it would end by itself). */
  async close(): Promise<void> {
    if (!this.#session) return;
    await this.call('DELETE', '/session').catch(() => undefined);
    this.#session = undefined;
  }

  async #logIn(login: { user: string; password: string }): Promise<void> {
    const { data, headers } = await this.#fetch<{ csrfToken: string }>('POST', '/session', { body: { name: login.user, password: login.password } });
    const cookie = headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    if (!cookie || !data.csrfToken) throw new AdminError(`the hub at ${this.url} logged ${login.user} in without a session cookie; is it an integration hub?`);
    this.#session = { cookie: cookie.slice(SESSION_COOKIE.length + 1), csrf: data.csrfToken };
  }

  async #fetch<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; data: T; headers: Headers }> {
    const target = `${this.url}${ADMIN_PREFIX}${path}`;
    let res: Response;
    try {
      res = await fetch(target, {
        method,
        headers: { ...this.#headers, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(10 * 60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminError(`cannot reach the hub at ${this.url} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running? Name it with --url or HUB_URL`);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = text;
    }
    if (res.status >= 400) throw new AdminError(describeProblem(res.status, data, res.headers));
    return { status: res.status, data: data as T, headers: res.headers };
  }
}

function actorName(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

function describeProblem(status: number, data: unknown, headers: Headers): string {
  const p = (typeof data === 'object' && data !== null ? data : { detail: String(data ?? '') }) as Problem;
  const head = `${p.title ?? 'Error'} (${status}${p.code ? ` ${p.code}` : ''})${p.detail ? `: ${p.detail}` : ''}`;
  const more = (p.errors ?? []).map((e) => `  ${e.path ? `${e.path}: ` : ''}${e.message}`);
  const hint = status === 401 ? ['  set HUB_ADMIN_TOKEN to the hub\'s admin token, or log in with --user NAME (or HUB_ADMIN_USER) and the password in HUB_ADMIN_PASSWORD'] : status === 429 && headers.get('retry-after') ? [`  try again in ${headers.get('retry-after')} s`] : [];
  return [head, ...more, ...hint].join('\n');
}

const COMMON = { url: { type: 'string' }, json: { type: 'boolean' }, user: { type: 'string' } } as const;

/**
 * The admin client of a command: as the user of --user (or HUB_ADMIN_USER) with the password in HUB_ADMIN_PASSWORD
 * (never a flag: it would show in `ps` and the shell's history), else with the bearer token in HUB_ADMIN_TOKEN.
 */
function client(url: string | undefined, env: NodeJS.ProcessEnv, user?: string): AdminClient {
  const base = (url ?? env.HUB_URL ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  const name = user ?? (env.HUB_ADMIN_USER || undefined);
  if (name !== undefined) {
    const password = env.HUB_ADMIN_PASSWORD;
    if (!password) throw new UsageError(`--user ${name}: set HUB_ADMIN_PASSWORD to the user's password (it is never taken as a flag)`);
    return new AdminClient(base, { user: name, password });
  }
  return new AdminClient(base, env.HUB_ADMIN_TOKEN ? { token: env.HUB_ADMIN_TOKEN } : undefined);
}

function positiveInt(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be an integer from 1 to ${max} (got "${value}")`);
  return n;
}

function isoTime(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be a date and time such as 2025-01-31T14:00:00Z (got "${value}")`);
  return new Date(ms).toISOString();
}

function target(value: string | undefined): 'start' | 'failed-step' | undefined {
  if (value === undefined || value === 'start' || value === 'failed-step') return value;
  throw new UsageError(`--to must be "start" or "failed-step" (got "${value}")`);
}

/** Runs one command; resolves with its exit code. Logs out of a session the command opened. */
async function run(fail: Print, api: AdminClient, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof AdminError) {
      fail(`hub: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await api.close();
  }
}

/** `hub messages [filters]` and `hub messages show ID`. */
export async function messagesCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...COMMON,
      flow: { type: 'string' },
      status: { type: 'string', multiple: true },
      'correlation-id': { type: 'string' },
      'error-code': { type: 'string' },
      'error-step': { type: 'string' },
      'error-text': { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    },
  });
  const api = client(values.url, env, values.user);
  if (positionals[0] === 'show') {
    const id = positionals[1];
    if (!id || positionals.length > 2) throw new UsageError('show: name one message id (e.g. hub messages show 01J...)');
    return run(err, api, async () => {
      const { data } = await api.call<MessageRecord>('GET', `/messages/${encodeURIComponent(id)}`);
      if (values.json) out(JSON.stringify(data, null, 2));
      else showMessage(data, api.url, out);
      return 0;
    });
  }
  if (positionals.length) throw new UsageError(`unexpected "${positionals[0]}" (did you mean hub messages show ID?)`);
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
  add('limit', positiveInt(values.limit, '--limit', 500)?.toString());
  add('cursor', values.cursor);
  return run(err, api, async () => {
    const { data } = await api.call<Page<MessageSummary>>('GET', `/messages${query.size ? `?${query}` : ''}`);
    if (values.json) {
      out(JSON.stringify(data, null, 2));
      return 0;
    }
    if (data.items.length === 0) out('no messages match');
    else {
      out(
        table(
          ['ID', 'FLOW', 'STATUS', 'TRIES', 'RECEIVED', 'ERROR'],
          data.items.map((m) => [m.id, m.flow, m.status, String(m.attempts), m.receivedAt, m.lastError ? clip(`${m.lastError.code}${m.lastError.step ? ` at ${m.lastError.step}` : ''}: ${m.lastError.message}`, 80) : m.replayOf ? `(replay of ${m.replayOf})` : '']),
        ),
      );
    }
    if (data.next) out(`\nmore: add --cursor ${data.next}`);
    return 0;
  });
}

/** `hub dead-letters [--flow F]`. */
export async function deadLettersCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, flow: { type: 'string' } } });
  const api = client(values.url, env, values.user);
  return run(err, api, async () => {
    const { data } = await api.call<{ groups: DeadLetterGroup[] }>('GET', `/dead-letters${values.flow ? `?flow=${encodeURIComponent(values.flow)}` : ''}`);
    if (values.json) out(JSON.stringify(data, null, 2));
    else if (data.groups.length === 0) out('no dead letters');
    else {
      out(table(['FLOW', 'STEP', 'CODE', 'COUNT', 'FIRST', 'LAST'], data.groups.map((g) => [g.flow, g.step || '-', g.code, String(g.count), g.firstSeen, g.lastSeen])));
      out('\nlist them: hub messages --status dead --flow FLOW --error-code CODE; replay them: hub replay --flow FLOW --error-code CODE');
    }
    return 0;
  });
}

/** `hub replay ID [...]` (one message) and `hub replay --flow F [filters]` (every match). */
export async function replayCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...COMMON,
      to: { type: 'string' },
      sink: { type: 'string' },
      'body-file': { type: 'string' },
      'content-type': { type: 'string' },
      note: { type: 'string' },
      'idempotency-key': { type: 'string' },
      flow: { type: 'string' },
      status: { type: 'string', multiple: true },
      'error-code': { type: 'string' },
      'error-step': { type: 'string' },
      'error-text': { type: 'string' },
      from: { type: 'string' },
      until: { type: 'string' },
      max: { type: 'string' },
      check: { type: 'boolean' },
    },
  });
  const api = client(values.url, env, values.user);
  const headers = values['idempotency-key'] ? { 'idempotency-key': values['idempotency-key'] } : undefined;
  const to = target(values.to);
  const filterFlags = (['status', 'error-code', 'error-step', 'error-text', 'from', 'until', 'max'] as const).filter((f) => values[f] !== undefined);
  if (positionals.length > 1) throw new UsageError('name one message id, or none with --flow for every match of a filter');
  const id = positionals[0];
  if (id !== undefined) {
    if (values.flow !== undefined || filterFlags.length) throw new UsageError(`--${values.flow !== undefined ? 'flow' : filterFlags[0]} selects messages by filter; give it without a message id`);
    let edited: { body: string; bodyEncoding: 'utf8' | 'base64' } | undefined;
    if (values['body-file'] !== undefined) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(values['body-file']);
      } catch (e) {
        throw new UsageError(`--body-file: cannot read ${values['body-file']}: ${(e as Error).message}`);
      }
      edited = isUtf8(bytes) ? { body: bytes.toString('utf8'), bodyEncoding: 'utf8' } : { body: bytes.toString('base64'), bodyEncoding: 'base64' };
    }
    const body = { ...(to ? { to } : {}), ...(values.sink ? { sink: values.sink } : {}), ...edited, ...(values['content-type'] ? { contentType: values['content-type'] } : {}), ...(values.note ? { note: values.note } : {}) };
    if (values.check) {
      return run(err, api, async () => {
        const { data } = await api.call<ReplayCheck>('POST', `/messages/${encodeURIComponent(id)}/replay/check`, { body });
        if (values.json) out(JSON.stringify(data, null, 2));
        else {
          const against = data.schema ? ` against ${data.schema}` : '';
          out(data.ok ? `ok: the body passes${against}; nothing was sent (replay without --check to send it)` : `refused${against}: ${data.errors.length} problem(s); nothing was sent`);
          for (const e of data.errors) out(`  ${e.path}: ${e.message}`);
        }
        return data.ok ? 0 : 1;
      });
    }
    return run(err, api, async () => {
      const { data } = await api.call<ReplayResult>('POST', `/messages/${encodeURIComponent(id)}/replay`, { body, ...(headers ? { headers } : {}) });
      if (values.json) out(JSON.stringify(data, null, 2));
      else out(describeReplay(id, data));
      return data.outcome === 'dead' && !data.duplicate ? 1 : 0;
    });
  }
  if (values.check) throw new UsageError('--check is the dry run of one message\'s replay; name its id');
  if (values.flow === undefined) throw new UsageError('name a message id (hub replay ID), or --flow FLOW to replay every match of a filter (dead ones by default)');
  for (const f of ['body-file', 'content-type'] as const) if (values[f] !== undefined) throw new UsageError(`--${f} edits one message; name its id`);
  const filter = {
    flow: values.flow,
    ...(values.status ? { status: values.status } : {}),
    ...(values['error-code'] ? { errorCode: values['error-code'] } : {}),
    ...(values['error-step'] ? { errorStep: values['error-step'] } : {}),
    ...(values['error-text'] ? { errorText: values['error-text'] } : {}),
    ...(values.from ? { from: isoTime(values.from, '--from') } : {}),
    ...(values.until ? { to: isoTime(values.until, '--until') } : {}),
  };
  const max = positiveInt(values.max, '--max', 10_000);
  const body = { filter, ...(to ? { to } : {}), ...(values.sink ? { sink: values.sink } : {}), ...(max ? { max } : {}), ...(values.note ? { note: values.note } : {}) };
  return run(err, api, async () => {
    // As a job: the hub answers at once, and the command polls it, a line per change, until it ends.
    const started = await api.call<ReplayJob>('POST', '/replays', { body, headers: { ...headers, prefer: 'respond-async' } });
    let data = started.data;
    let shown = -1;
    for (;;) {
      if (!values.json && data.done !== shown) {
        shown = data.done;
        if (data.state === 'running') out(`replaying: ${data.done} of ${data.matched} done (delivered ${data.outcomes.delivered}, duplicates ${data.duplicates}, failed ${data.failed.length})`);
      }
      if (data.state !== 'running') break;
      await delay(JOB_POLL_MS);
      data = (await api.call<ReplayJob>('GET', `/replays/jobs/${encodeURIComponent(started.data.id)}`)).data;
    }
    if (data.state === 'failed') err(`hub: the bulk replay stopped after ${data.done} of ${data.matched}: ${data.error ?? 'unknown error'}; run it again (what was replayed is not replayed twice)`);
    if (values.json) out(JSON.stringify(data, null, 2));
    else {
      const o = data.outcomes;
      out(`matched ${data.matched}${data.capped ? ' (capped by --max: run it again for the rest)' : ''}, replayed ${data.replayed} (delivered ${o.delivered}, waiting for retry ${o['waiting-for-retry']}, dead ${o.dead}), duplicates ${data.duplicates}, failed ${data.failed.length}`);
      for (const f of data.failed) out(`  ${f.id}: ${f.reason}`);
    }
    return data.state === 'failed' || data.failed.length || data.outcomes.dead ? 1 : 0;
  });
}

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

/** `hub flows`: each flow's state, rate, p99 latency and counters since the hub started. */
export async function flowsCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON } });
  const api = client(values.url, env, values.user);
  return run(err, api, async () => {
    const { data } = await api.call<{ flows: FlowRow[] }>('GET', '/flows');
    if (values.json) out(JSON.stringify(data, null, 2));
    else if (data.flows.length === 0) out('no flows');
    else {
      out(
        table(
          ['FLOW', 'STATE', 'READY', 'RATE/S', 'P99', 'IN', 'OUT', 'FAILED', 'WAITING', 'DEAD', 'LAST ERROR'],
          data.flows.map((f) => [
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
          ]),
        ),
      );
    }
    return 0;
  });
}

/** `hub flow pause NAME` and `hub flow resume NAME`. */
export async function flowCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...COMMON } });
  const [action, name, ...extra] = positionals;
  if (action !== 'pause' && action !== 'resume') throw new UsageError(action === undefined ? 'name an action: hub flow pause NAME, hub flow resume NAME' : `unknown flow action "${action}" (there are: pause, resume)`);
  if (!name || extra.length) throw new UsageError(`name one flow: hub flow ${action} NAME (hub flows lists them)`);
  const api = client(values.url, env, values.user);
  return run(err, api, async () => {
    const { data } = await api.call<FlowStateAnswer>('POST', `/flows/${encodeURIComponent(name)}/${action}`);
    if (values.json) out(JSON.stringify(data, null, 2));
    else if (!data.changed) out(`${data.name} was ${data.state} already`);
    else out(action === 'pause' ? `paused ${data.name}: it takes no new messages until hub flow resume ${data.name}` : `resumed ${data.name}`);
    return 0;
  });
}

/** `hub archive ID [--reason R]` and `hub archive --flow F --step S --code C [--reason R]` (a dead-letter group). */
export async function archiveCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...COMMON, reason: { type: 'string' }, flow: { type: 'string' }, step: { type: 'string' }, code: { type: 'string' }, max: { type: 'string' } },
  });
  if (positionals.length > 1) throw new UsageError('name one message id, or none with --flow, --step and --code for a dead-letter group');
  const reason = values.reason ? { reason: values.reason } : {};
  const id = positionals[0];
  const api = client(values.url, env, values.user);
  if (id !== undefined) {
    const flag = (['flow', 'step', 'code', 'max'] as const).find((f) => values[f] !== undefined);
    if (flag) throw new UsageError(`--${flag} selects a dead-letter group; give it without a message id`);
    return run(err, api, async () => {
      const { data } = await api.call<{ id: string; removableFrom?: string }>('POST', `/messages/${encodeURIComponent(id)}/archive`, { body: reason });
      if (values.json) out(JSON.stringify(data, null, 2));
      else out(`archived ${data.id}${data.removableFrom ? `; the retention sweeper removes it from ${data.removableFrom}` : '; kept until deleted'}`);
      return 0;
    });
  }
  const missing = (['flow', 'step', 'code'] as const).filter((f) => values[f] === undefined);
  if (missing.length) throw new UsageError(`name a message id (hub archive ID), or a dead-letter group with --flow, --step and --code (hub dead-letters lists them; missing: ${missing.map((f) => `--${f}`).join(', ')})`);
  const max = positiveInt(values.max, '--max', 10_000);
  const body = { flow: values.flow, step: values.step === '-' ? '' : values.step, code: values.code, ...reason, ...(max ? { max } : {}) };
  return run(err, api, async () => {
    const { data } = await api.call<{ matched: number; capped: boolean; archived: number; failed: { id: string; reason: string }[]; keepMs?: number }>('POST', '/dead-letters/archive', { body });
    if (values.json) out(JSON.stringify(data, null, 2));
    else {
      const days = data.keepMs === undefined ? undefined : Math.round(data.keepMs / 86_400_000);
      out(`matched ${data.matched}${data.capped ? ' (capped by --max: run it again for the rest)' : ''}, archived ${data.archived}, failed ${data.failed.length}${days === undefined ? '; kept until deleted' : `; removed ${days} day(s) after each was received`}`);
      for (const f of data.failed) out(`  ${f.id}: ${f.reason}`);
    }
    return data.failed.length ? 1 : 0;
  });
}

/** `hub audit [--limit N] [--action A]`: the admin audit, newest first. */
export async function auditCommand(argv: string[], out: Print, err: Print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, limit: { type: 'string' }, action: { type: 'string' }, cursor: { type: 'string' } } });
  const query = new URLSearchParams();
  const limit = positiveInt(values.limit, '--limit', 500);
  if (limit) query.set('limit', String(limit));
  if (values.action) query.set('action', values.action);
  if (values.cursor) query.set('cursor', values.cursor);
  const api = client(values.url, env, values.user);
  return run(err, api, async () => {
    const { data } = await api.call<Page<AuditEntry>>('GET', `/audit${query.size ? `?${query}` : ''}`);
    if (values.json) out(JSON.stringify(data, null, 2));
    else if (data.items.length === 0) out('no audit entries');
    else out(table(['AT', 'ACTION', 'OUTCOME', 'ACTOR', 'CLIENT', 'TARGET', 'DETAIL'], data.items.map((e) => [e.at, e.action, e.outcome, e.actor, e.client, clip(e.target ?? '', 60), clip(e.detail ?? '', 80)])));
    if (!values.json && data.next) out(`\nmore: add --cursor ${data.next}`);
    return 0;
  });
}

function describeReplay(id: string, r: ReplayResult): string {
  if (r.duplicate) return `${id} was already replayed as ${r.newId} (by ${r.replay.by} at ${r.replay.at}, key ${r.replay.requestKey}); nothing sent again${r.outcome ? ` (it is ${r.outcome})` : ''}. To replay it once more, pass a new --idempotency-key.`;
  const where = r.replay.target.sink ? ` to sink ${r.replay.target.sink}` : r.replay.target.to === 'failed-step' ? ` from step ${r.replay.target.step}` : '';
  if (r.outcome === 'delivered') return `replayed ${id} as ${r.newId}${where}: delivered`;
  const why = r.error ? ` (${r.error.code}${r.error.step ? ` at ${r.error.step}` : ''}: ${r.error.message})` : '';
  return `replayed ${id} as ${r.newId}${where}: ${r.outcome === 'dead' ? 'failed again, dead' : 'failed again, waiting for a retry'}${why}`;
}

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
    ['last error', m.lastError ? `${m.lastError.code}${m.lastError.step ? ` at ${m.lastError.step}` : ''}: ${m.lastError.message}` : undefined],
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
  if (e.error) parts.push(`${e.error.code}${e.error.step ? ` at ${e.error.step}` : ''}: ${e.error.message}`);
  if (e.dueAt) parts.push(`due ${e.dueAt}`);
  if (e.detail) parts.push(e.detail);
  return parts.join('  ');
}

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function clip(s: string, n: number): string {
  const line = s.replace(/\s+/g, ' ');
  return line.length > n ? `${line.slice(0, n - 1)}…` : line;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** Reads a password: everything on a pipe (one trailing newline dropped), or one line typed at a terminal (echoed). */
async function readPassword(input: NodeJS.ReadableStream & { isTTY?: boolean }, err: Print): Promise<string> {
  if (input.isTTY) err('password (it will be shown as you type; pipe it in to avoid that): ');
  const chunks: Buffer[] = [];
  for await (const chunk of input) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    if (input.isTTY && String(chunk).includes('\n')) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return input.isTTY ? text.split(/\r?\n/)[0]! : text.replace(/\r?\n$/, '');
}

/** `hub admin hash-password`: reads a password on stdin and prints its hash for admin.users[].password_hash. */
export async function adminCommand(argv: string[], out: Print, err: Print, input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'hash-password') throw new UsageError(sub === undefined ? 'name a command: hub admin hash-password' : `unknown admin command "${sub}" (there is: hash-password)`);
  if (rest.length) throw new UsageError('hash-password reads the password on stdin and takes no arguments (an argument would show in `ps` and the shell\'s history)');
  const password = await readPassword(input, err);
  if (password === '') {
    err('hub admin hash-password: the password is empty (pipe it in: printf %s "$PASSWORD" | hub admin hash-password)');
    return 1;
  }
  if (password.length < 12) err('hub admin hash-password: warning: a password shorter than 12 characters is easy to guess');
  out(await hashPassword(password));
  return 0;
}
