/**
 * Who may call the admin API, and with what: the caller (a session of a user from hub.yaml or of a one-time login
 * link, or the bearer token), its role against the operation's (from api/operations/), CSRF protection of
 * state-changing requests made with a session, login with rate limiting, and the security headers of every /admin
 * answer. routes.ts wires these into fastify hooks. With neither users nor a token the API answers no one: `hub run`
 * always has a token (the state folder's, see admin-token.ts); being on the hub's machine makes no one admin.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { hubError, type HubError } from '../core/errors.js';
import { ADMIN_ROOT, CSRF_HEADER, roleAllows, SESSION_COOKIE, type AdminRole } from './api/constants.js';
import { isStateChanging, type OperationSpec } from './api/operation.js';
import type { AuditLog } from './audit.js';
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, type LoginLimits } from './login-limiter.js';
import { decoyHash, parsePasswordHash, verifyPassword, type PasswordHash } from '../kit/password.js';
import { DEFAULT_SESSION_LIMITS, SessionStore, type Session, type SessionLimits } from './sessions.js';

export interface AdminUserConfig {
  name: string;
  role: AdminRole;
  /** `scrypt$N$r$p$salt$hash` (hub admin hash-password). */
  passwordHash: string;
}

export interface AdminSecurityConfig {
  /** The bearer token: a machine credential with role admin. */
  token: string | undefined;
  users?: readonly AdminUserConfig[];
  session?: Partial<SessionLimits>;
  login?: Partial<LoginLimits>;
  /** The address the hub listens on (for the advice logged at start). */
  listenHost?: string;
}

export type Principal =
  | { via: 'session'; user: string; role: AdminRole; actor: string; session: Session }
  | { via: 'token'; user: 'token'; role: 'admin'; actor: string };

/** The user name of a session opened with a one-time login link (role admin). */
export const LINK_USER = 'login-link';
/** How long a one-time login link stays usable. */
export const LOGIN_LINK_MS = 15 * 60_000;
/** Links outstanding at most; the oldest is dropped past it. */
const MAX_LINKS = 100;

/** Shown to a viewer instead of what may quote a body: an error's text, a correlation id taken from a body. */
export const MASKED_TEXT = '*** (masked for viewers)';

/** Headers of every /admin answer. The raw-body route tightens the CSP further. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Password checks running at once (each holds 32 MiB or more for some 50-100 ms); more wait, and past the queue are refused. */
const PASSWORD_CHECKS = 2;
const PASSWORD_QUEUE = 32;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Equal strings, in a time that does not depend on where they differ. */
function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(sha256(given), expected);
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
}

/** The caller's own word for the audit (X-Hub-Actor), cleaned. */
function declaredActor(request: FastifyRequest): string | undefined {
  return headerValue(request, 'x-hub-actor')?.replace(/[\u0000-\u001f]/g, '').slice(0, 200) || undefined;
}

/**
 * The client's address: the socket's own peer, or, behind a proxy named in `trust_proxy`, the address that proxy
 * forwarded (fastify's request.ip); never a forwarded-for header from anyone else, which a client could write.
 */
export function clientAddress(request: FastifyRequest): string {
  return request.ip || request.socket.remoteAddress || 'unknown';
}

/** Every value of a cookie in a Cookie header (a browser sends one per path and domain that matched). */
function cookieValues(request: FastifyRequest, name: string): string[] {
  const header = request.headers.cookie;
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Whether an Origin (or Referer) names the host the request was sent to. Schemes are not compared: behind a proxy
 * that ends TLS the hub sees plain HTTP from an https origin. A Host without a port matches either default port.
 */
function sameHost(from: string, host: string | undefined): boolean {
  if (from === 'null' || host === undefined) return false;
  let origin: URL;
  let target: URL;
  try {
    origin = new URL(from);
    target = new URL(`http://${host}`);
  } catch {
    return false;
  }
  if (origin.hostname.toLowerCase() !== target.hostname.toLowerCase()) return false;
  const originPort = origin.port || (origin.protocol === 'https:' ? '443' : origin.protocol === 'http:' ? '80' : '');
  const hostPort = /:\d+$/.test(host) ? host.slice(host.lastIndexOf(':') + 1) : undefined;
  return hostPort === undefined ? originPort === '80' || originPort === '443' : hostPort === originPort;
}

export class AdminSecurity {
  readonly sessions: SessionStore;
  readonly limiter: LoginLimiter;
  readonly #users: Map<string, { name: string; role: AdminRole; hash: PasswordHash }>;
  readonly #token: Buffer | undefined;
  /** One-time login links: the code's hash to when it expires. */
  readonly #links = new Map<string, number>();
  readonly #now: () => number;
  /** Checked against for unknown names: the first user's cost, so both answers take as long. */
  readonly #decoy: PasswordHash;
  #checking = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    config: AdminSecurityConfig,
    readonly audit: AuditLog,
    readonly logger: Logger,
    now: () => number = Date.now,
  ) {
    this.#token = config.token ? sha256(config.token) : undefined;
    this.#now = now;
    this.#users = new Map();
    for (const u of config.users ?? []) {
      if (this.#users.has(u.name)) throw new Error(`admin user "${u.name}" is configured twice`);
      this.#users.set(u.name, { name: u.name, role: u.role, hash: parsePasswordHash(u.passwordHash) });
    }
    const first = [...this.#users.values()][0]?.hash;
    this.#decoy = decoyHash(first ? { N: first.N, r: first.r, p: first.p } : undefined);
    this.sessions = new SessionStore({ ...DEFAULT_SESSION_LIMITS, ...config.session }, now);
    this.limiter = new LoginLimiter({ ...DEFAULT_LOGIN_LIMITS, ...config.login }, now);
  }

  /** Neither users nor a token: the API answers no one (a hub built in code without admin settings). */
  get closed(): boolean {
    return !this.#token && this.#users.size === 0;
  }

  get hasUsers(): boolean {
    return this.#users.size > 0;
  }

  /**
   * The caller of a request. A bearer token is checked when sent (a wrong one is a 401, never a fall-back to the
   * cookie); else the session cookie. Throws UNAUTHORIZED, or FORBIDDEN when nothing could ever authenticate.
   */
  authenticate(request: FastifyRequest, reply: FastifyReply): Principal {
    if (this.closed) {
      throw hubError('FORBIDDEN', 'no admin users and no admin token are configured, so the admin API is closed: `hub run` makes a token in its state folder at first start; a hub built in code needs admin.token or admin.users');
    }
    const authorization = headerValue(request, 'authorization');
    if (authorization !== undefined && this.#token) {
      const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
      if (given !== undefined && sameSecret(given, this.#token)) {
        const actor = declaredActor(request);
        return { via: 'token', user: 'token', role: 'admin', actor: actor ? `token:${actor}` : 'token' };
      }
      reply.header('www-authenticate', 'Bearer realm="hub-admin"');
      throw hubError('UNAUTHORIZED', given === undefined ? 'the admin API needs Authorization: Bearer <token>' : 'the admin token does not match');
    }
    const ids = cookieValues(request, SESSION_COOKIE);
    if (ids.length > 0) {
      if (ids.length > 1) throw this.#unauthorized(reply, `several ${SESSION_COOKIE} cookies were sent; log in again`);
      const session = this.sessions.use(ids[0]!);
      if (!session) throw this.#unauthorized(reply, 'the session has ended (logged out, unused for too long, past its limit, or the hub restarted); log in again');
      return { via: 'session', user: session.user, role: session.role, actor: session.user, session };
    }
    if (this.#users.size === 0) {
      reply.header('www-authenticate', 'Bearer realm="hub-admin"');
      throw hubError('UNAUTHORIZED', `the admin API needs Authorization: Bearer <token> (the hub's admin token; hub commands on its machine read it from its state folder), or a session from a one-time login link (hub admin login-link)`);
    }
    throw this.#unauthorized(reply, `the admin API needs a login (POST ${ADMIN_ROOT}/api/session with name and password) or Authorization: Bearer <token>`);
  }

  /**
   * A new one-time login link's code: whoever opens `/admin/login?code=CODE` within LOGIN_LINK_MS gets a console
   * session with role admin, once. Only the code's hash is kept.
   */
  issueLoginLink(): { code: string; expiresAt: Date } {
    const at = this.#now();
    for (const [hash, until] of this.#links) if (until <= at) this.#links.delete(hash);
    while (this.#links.size >= MAX_LINKS) this.#links.delete(this.#links.keys().next().value!);
    const code = randomBytes(32).toString('base64url');
    this.#links.set(sha256(code).toString('hex'), at + LOGIN_LINK_MS);
    return { code, expiresAt: new Date(at + LOGIN_LINK_MS) };
  }

  /** Opens the session of a one-time link (and uses the link up), rate-limited by address; throws UNAUTHORIZED or TOO_MANY_REQUESTS. Audited. */
  redeemLoginLink(request: FastifyRequest, reply: FastifyReply, code: string): Session {
    const client = clientAddress(request);
    const attempt = this.limiter.begin([{ key: `addr:${client}`, ...this.limiter.limits.address }]);
    if (!attempt.ok) throw this.#tooMany(reply, client, 'anonymous', attempt.retryAfterMs, 'too many unusable login links from this address');
    const hash = sha256(code).toString('hex');
    const until = this.#links.get(hash);
    this.#links.delete(hash);
    if (until === undefined || until <= this.#now()) {
      this.audit.record({ action: 'login', outcome: 'failed', actor: 'anonymous', client, status: 401, detail: 'unknown, used or expired login link' });
      throw hubError('UNAUTHORIZED', 'this login link is unknown, used already, or expired (links last 15 minutes, once); get a new one with: hub admin login-link');
    }
    attempt.succeeded([]);
    for (const id of cookieValues(request, SESSION_COOKIE)) this.sessions.end(id);
    const session = this.sessions.create(LINK_USER, 'admin');
    this.audit.record({ action: 'login', outcome: 'ok', actor: LINK_USER, role: 'admin', client, status: 303, detail: 'one-time login link' });
    return session;
  }

  #tooMany(reply: FastifyReply, client: string, actor: string, retryAfterMs: number, what: string, detail?: string): HubError {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    this.audit.record({ action: 'login', outcome: 'rate-limited', actor, client, status: 429, ...(detail ? { detail } : {}) });
    reply.header('retry-after', String(seconds));
    return hubError('TOO_MANY_REQUESTS', `${what}; try again in ${seconds} s`);
  }

  #unauthorized(reply: FastifyReply, message: string): HubError {
    reply.header('www-authenticate', `Bearer realm="hub-admin"${this.#users.size ? ', Cookie realm="hub-admin"' : ''}`);
    return hubError('UNAUTHORIZED', message);
  }

  /** Throws FORBIDDEN unless the principal's role allows the operation. */
  requireRole(principal: Principal, needed: AdminRole, what: string): void {
    if (!roleAllows(principal.role, needed)) throw hubError('FORBIDDEN', `${what} needs role ${needed}; ${principal.user} is ${principal.role}`);
  }

  /**
   * CSRF protection of a state-changing request not made with a bearer token (browsers never add one by
   * themselves): a same-origin Origin (or Referer) when the browser sent one, and with a session its CSRF token.
   */
  checkRequestOrigin(request: FastifyRequest, principal: Principal | undefined): void {
    if (!isStateChanging(request.method) || principal?.via === 'token') return;
    const host = headerValue(request, 'host');
    const origin = headerValue(request, 'origin');
    const referer = headerValue(request, 'referer');
    const from = origin ?? referer;
    if (from !== undefined) {
      if (!sameHost(from, host)) {
        throw hubError('FORBIDDEN', `a state-changing admin request must come from the hub's own origin (${origin !== undefined ? 'Origin' : 'Referer'}: ${from.slice(0, 200)}, Host: ${host ?? 'none'})`);
      }
    }
    if (principal?.via === 'session') {
      const token = headerValue(request, CSRF_HEADER.toLowerCase());
      if (token === undefined || !sameSecret(token, sha256(principal.session.csrfToken))) {
        throw hubError('FORBIDDEN', `a ${request.method} with a session needs the header ${CSRF_HEADER}: the csrfToken the login answered with (GET ${ADMIN_ROOT}/api/session shows it again)`);
      }
    }
  }

  /** Throws FORBIDDEN when the validated body needs a higher role than the principal's (the operation's `elevate`). */
  checkElevation(op: OperationSpec, principal: Principal, body: unknown): void {
    for (const rule of op.elevate ?? []) {
      if (rule.applies((body ?? {}) as Record<string, unknown>)) this.requireRole(principal, rule.role, `${op.operationId} with ${rule.when}`);
    }
  }

  /** Checks a name and password, rate-limited; resolves with a new session, or throws UNAUTHORIZED / TOO_MANY_REQUESTS. Audited either way. */
  async login(request: FastifyRequest, reply: FastifyReply, name: string, password: string): Promise<Session> {
    const client = clientAddress(request);
    const user = this.#users.get(name);
    // An unknown name is not recorded: it may be a password typed into the wrong field.
    const actor = user ? user.name : 'anonymous';
    const detail = user ? undefined : 'unknown user';
    if (this.#users.size === 0) {
      this.audit.record({ action: 'login', outcome: 'failed', actor, client, status: 401, detail: 'no users are configured' });
      throw hubError('UNAUTHORIZED', 'this hub has no admin users (admin.users in hub.yaml): open the one-time login link it printed at start (hub admin login-link makes another), or use the admin token');
    }
    // Per name AND address: one address that guesses a name's password locks that name out for itself only; the
    // address's own limit stops it spraying names; the name's own limit, set above what one address can reach
    // (pair max per window × account window / window), stops a guess spread over many addresses.
    const limits = this.limiter.limits;
    const pairKey = `pair:${name}\u0000${client}`;
    const attempt = this.limiter.begin([
      { key: pairKey, max: limits.max, windowMs: limits.windowMs },
      { key: `addr:${client}`, ...limits.address },
      { key: `user:${name}`, ...limits.account },
    ]);
    if (!attempt.ok) throw this.#tooMany(reply, client, actor, attempt.retryAfterMs, 'too many failed logins from this address, or for this name', detail);
    const ok = await this.#check(password, user?.hash ?? this.#decoy, reply);
    if (!user || !ok) {
      this.audit.record({ action: 'login', outcome: 'failed', actor, client, status: 401, ...(detail ? { detail } : { detail: 'wrong password' }) });
      throw hubError('UNAUTHORIZED', 'the name or the password is wrong');
    }
    attempt.succeeded([pairKey]);
    // A new id at every login: a session id known before the login (fixation) is never promoted.
    for (const id of cookieValues(request, SESSION_COOKIE)) this.sessions.end(id);
    const session = this.sessions.create(user.name, user.role);
    this.audit.record({ action: 'login', outcome: 'ok', actor: user.name, role: user.role, client, status: 200 });
    return session;
  }

  async #check(password: string, hash: PasswordHash, reply: FastifyReply): Promise<boolean> {
    if (this.#checking >= PASSWORD_CHECKS) {
      if (this.#waiting.length >= PASSWORD_QUEUE) {
        reply.header('retry-after', '1');
        throw hubError('TOO_MANY_REQUESTS', 'too many logins at once; try again in a second');
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else this.#checking++;
    try {
      return await verifyPassword(password, hash);
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#checking--;
    }
  }

  logout(request: FastifyRequest, principal: Principal): void {
    if (principal.via === 'session') this.sessions.end(principal.session.id);
    this.audit.record({ action: 'logout', outcome: 'ok', actor: principal.actor, role: principal.role, client: clientAddress(request), status: 204, ...(principal.via === 'session' ? {} : { detail: `a ${principal.via} caller has no session` }) });
  }

  /** The Set-Cookie of a new session: HttpOnly, Secure, SameSite=Strict, under /admin, gone when the browser closes. */
  sessionCookie(session: Session): string {
    return `${SESSION_COOKIE}=${session.id}; Path=${ADMIN_ROOT}; HttpOnly; Secure; SameSite=Strict`;
  }

  clearedCookie(): string {
    return `${SESSION_COOKIE}=; Path=${ADMIN_ROOT}; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
  }

  /** What GET /session answers. */
  describe(principal: Principal): Record<string, unknown> {
    if (principal.via !== 'session') return { user: principal.user, role: principal.role, via: principal.via };
    const { idle, absolute } = this.sessions.expiry(principal.session);
    return { user: principal.user, role: principal.role, via: 'session', csrfToken: principal.session.csrfToken, idleExpiresAt: idle.toISOString(), expiresAt: absolute.toISOString() };
  }
}
