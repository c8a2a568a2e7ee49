/**
 * How the operator commands (`hub messages`, `hub replay`, `hub flows` ...) call a running hub's admin API: as the
 * bearer token (HUB_ADMIN_TOKEN, else, for a hub on this machine, the token the hub keeps in its state folder), or
 * as a user logged in for the command (--user or HUB_ADMIN_USER, the password in HUB_ADMIN_PASSWORD). A hub that
 * cannot be reached, or that answers with a problem, is an AdminError (exit 1).
 */
import { userInfo } from 'node:os';
import { readAdminToken } from '../admin/admin-token.js';
import { loadHubConfig, stateDirOf } from '../config/hub-config.js';
import { ADMIN_PREFIX, CSRF_HEADER, SESSION_COOKIE } from '../admin/api/constants.js';
import { ConfigError } from '../core/errors.js';
import { UsageError } from './args.js';

export const DEFAULT_HUB_URL = 'http://127.0.0.1:8080';

/** The hub could not be reached, or answered with a problem (printed with its title, status, code and detail). */
export class AdminError extends ConfigError {
  override readonly name = 'AdminError';
  declare readonly code: 'ADMIN_UNREACHABLE' | 'ADMIN_REFUSED' | 'ADMIN_UNEXPECTED_ANSWER';

  constructor(code: AdminError['code'], message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The options every operator command takes. */
export const ADMIN_OPTIONS = {
  url: { type: 'string', value: 'URL', description: `The hub's address (else HUB_URL, else ${DEFAULT_HUB_URL}).` },
  user: { type: 'string', value: 'NAME', description: 'Log in as this user of admin.users for the command (else HUB_ADMIN_USER), with the password in HUB_ADMIN_PASSWORD, never a flag; without a user, the command calls with the admin token in HUB_ADMIN_TOKEN, else (for a hub on this machine) the one in the hub\'s state folder (HUB_STATE_DIR, hub.yaml\'s state_dir, else ./.hub).' },
  json: { type: 'boolean', description: 'Print the hub\'s answer as JSON.' },
} as const;

interface Problem {
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: { path?: string; message: string }[];
}

/** How the CLI proves who it is: the bearer token, or a user's name and password (logged in for one command). */
type Credentials = { token: string } | { user: string; password: string } | undefined;

export class AdminClient {
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

  /**
   * Reads a server-sent event stream (GET), calling `onEvent` for each event, until the server ends it (resolves)
   * or `signal` aborts (resolves too).
   */
  async events(path: string, onEvent: (event: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
    if (this.#login && !this.#session) await this.#logIn(this.#login);
    const target = `${this.url}${ADMIN_PREFIX}${path}`;
    let res: Response;
    try {
      res = await fetch(target, { headers: { ...this.#headers, accept: 'text/event-stream', ...(this.#session ? { cookie: `${SESSION_COOKIE}=${this.#session.cookie}` } : {}) }, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) return;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminError('ADMIN_UNREACHABLE', `cannot reach the hub at ${this.url} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running? Name it with --url or HUB_URL`, { cause: err });
    }
    if (res.status >= 400 || !res.body) {
      const text = await res.text();
      let data: unknown = text;
      try {
        data = JSON.parse(text);
      } catch {
        // Not JSON: shown as text.
      }
      throw new AdminError('ADMIN_REFUSED', describeProblem(res.status, data, res.headers));
    }
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) !== -1) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (event && data) onEvent(event, JSON.parse(data));
        }
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
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
    if (!cookie || !data.csrfToken) throw new AdminError('ADMIN_UNEXPECTED_ANSWER', `the server at ${this.url} logged ${login.user} in without a session cookie; is it an integration hub? Check --url (or HUB_URL)`);
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
      throw new AdminError('ADMIN_UNREACHABLE', `cannot reach the hub at ${this.url} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running? Name it with --url or HUB_URL`, { cause: err });
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = text;
    }
    if (res.status >= 400) throw new AdminError('ADMIN_REFUSED', describeProblem(res.status, data, res.headers));
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
  const hint = status === 401 ? ['  set HUB_ADMIN_TOKEN to the hub\'s admin token (on the hub\'s machine, run the command as the hub\'s user where it runs, or set HUB_STATE_DIR to its state folder), or log in with --user NAME (or HUB_ADMIN_USER) and the password in HUB_ADMIN_PASSWORD'] : status === 429 && headers.get('retry-after') ? [`  try again in ${headers.get('retry-after')} s`] : [];
  return [head, ...more, ...hint].join('\n');
}

/** A URL whose host is this machine's loopback: only to such a hub is the local state folder's token sent. */
const LOOPBACK_URL_HOST = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

/**
 * The token a hub on this machine keeps in its state folder, found the way `hub run` finds the folder (HUB_STATE_DIR,
 * else the state_dir of hub.yaml (HUB_CONFIG or ./hub.yaml), else ./.hub). Only for a loopback URL: a token of this
 * machine's hub is never sent to another host. Undefined when there is none this user may read.
 */
export function localStateToken(url: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  if (!LOOPBACK_URL_HOST.test(host)) return undefined;
  let stateDir: string;
  try {
    stateDir = loadHubConfig({}, env, cwd).stateDir;
  } catch {
    // A hub.yaml the CLI cannot read: the folder by the variable or the default.
    stateDir = stateDirOf({}, cwd, env, cwd);
  }
  return readAdminToken(stateDir);
}

/**
 * Runs `body` with the admin client of a command: as the user of --user (or HUB_ADMIN_USER) with the password in
 * HUB_ADMIN_PASSWORD (never a flag: it would show in `ps` and the shell's history), else with the bearer token in
 * HUB_ADMIN_TOKEN, else the token of a hub on this machine from its state folder (localStateToken). Logs out of a
 * session it opened.
 */
export async function withAdmin<T>(values: { url: string | undefined; user: string | undefined }, env: NodeJS.ProcessEnv, body: (api: AdminClient) => Promise<T>): Promise<T> {
  const base = (values.url ?? env.HUB_URL ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  const name = values.user ?? (env.HUB_ADMIN_USER || undefined);
  let api: AdminClient;
  if (name !== undefined) {
    const password = env.HUB_ADMIN_PASSWORD;
    if (!password) throw new UsageError('CLI_BAD_OPTION', `--user ${name}: set HUB_ADMIN_PASSWORD to the user's password (it is never taken as a flag)`);
    api = new AdminClient(base, { user: name, password });
  } else {
    const token = env.HUB_ADMIN_TOKEN || localStateToken(base, env);
    api = new AdminClient(base, token ? { token } : undefined);
  }
  try {
    return await body(api);
  } finally {
    await api.close();
  }
}

/** An ISO time from a flag, normalised; a usage error when it is not one. */
export function isoTime(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError('CLI_BAD_OPTION', `${flag} must be a date and time such as 2025-01-31T14:00:00Z (got "${value}")`);
  return new Date(ms).toISOString();
}
