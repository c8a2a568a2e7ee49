/**
 * Console sessions, in this process's memory: a login creates one (a random id for the cookie and a random CSRF token
 * for the X-CSRF-Token header), every use extends it up to its idle limit, and it ends at its absolute limit, at
 * logout, or when the hub restarts. Several hub replicas behind one address need sticky sessions.
 */
import { randomBytes } from 'node:crypto';
import type { AdminRole } from './api/constants.js';

export interface SessionLimits {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after its login, used or not. */
  absoluteMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 8 * 60 * 60_000 };

export interface Session {
  readonly id: string;
  readonly csrfToken: string;
  readonly user: string;
  readonly role: AdminRole;
  readonly createdAt: number;
  lastUsedAt: number;
}

/** Sessions kept at most; past it, the least recently used one ends. */
const MAX_SESSIONS = 10_000;

export class SessionStore {
  // Insertion order is use order: a session is moved to the end each time it is used.
  readonly #sessions = new Map<string, Session>();

  constructor(
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    readonly now: () => number = Date.now,
  ) {}

  create(user: string, role: AdminRole): Session {
    this.#sweep();
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const at = this.now();
    const session: Session = { id: randomBytes(32).toString('base64url'), csrfToken: randomBytes(32).toString('base64url'), user, role, createdAt: at, lastUsedAt: at };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id, marked as used now; undefined when there is none or it has expired. */
  use(id: string): Session | undefined {
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    const at = this.now();
    this.#sessions.delete(id);
    if (this.#expired(session, at)) return undefined;
    session.lastUsedAt = at;
    this.#sessions.set(id, session);
    return session;
  }

  /** Whether the session is live, without marking it used (a live feed watching does not keep it alive). */
  alive(id: string): boolean {
    const session = this.#sessions.get(id);
    return session !== undefined && !this.#expired(session, this.now());
  }

  end(id: string): boolean {
    return this.#sessions.delete(id);
  }

  /** When the session ends unless used again (idle), and at the latest (absolute). */
  expiry(session: Session): { idle: Date; absolute: Date } {
    const absolute = session.createdAt + this.limits.absoluteMs;
    return { idle: new Date(Math.min(session.lastUsedAt + this.limits.idleMs, absolute)), absolute: new Date(absolute) };
  }

  get size(): number {
    return this.#sessions.size;
  }

  #expired(session: Session, at: number): boolean {
    return at - session.lastUsedAt >= this.limits.idleMs || at - session.createdAt >= this.limits.absoluteMs;
  }

  #sweep(): void {
    const at = this.now();
    for (const [id, session] of this.#sessions) if (this.#expired(session, at)) this.#sessions.delete(id);
  }
}
