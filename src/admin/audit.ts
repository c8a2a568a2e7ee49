/**
 * The admin audit log: logins (and failed ones), logouts and every change made through the admin API (replay, bulk
 * replay, delete, pause, resume, archive), refused ones included, with who, when, from where and what. Kept in this process's memory (the
 * newest MAX_ENTRIES, for GET /admin/api/audit) and written as one pino line each (`audit: true`), which is the
 * durable trail: ship the hub's log to keep it. The replay audit with body hashes stays in the journal (GET /replays).
 */
import type { Logger } from 'pino';

export const AUDIT_ACTIONS = ['login', 'logout', 'replay', 'bulk-replay', 'delete', 'pause', 'resume', 'archive', 'bulk-archive'] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditOutcome = 'ok' | 'failed' | 'denied' | 'rate-limited';

export interface AuditEntry {
  /** Increasing within this process: the cursor of GET /audit. */
  seq: number;
  at: string;
  action: AuditAction;
  outcome: AuditOutcome;
  /** Who: a user name, "token[:X-Hub-Actor]", "local[:X-Hub-Actor]"; "anonymous" when nobody could be told. */
  actor: string;
  role?: string;
  /** The client's address (the socket's peer). */
  client: string;
  /** What it was about: a message id, a filter. */
  target?: string;
  /** The HTTP status of the answer. */
  status?: number;
  detail?: string;
}

export const AUDIT_MAX_ENTRIES = 10_000;

export class AuditLog {
  readonly #entries: AuditEntry[] = [];
  #seq = 0;

  constructor(readonly logger: Logger) {}

  record(entry: Omit<AuditEntry, 'seq' | 'at'>): AuditEntry {
    const full: AuditEntry = { seq: ++this.#seq, at: new Date().toISOString(), ...entry };
    this.#entries.push(full);
    if (this.#entries.length > AUDIT_MAX_ENTRIES) this.#entries.splice(0, this.#entries.length - AUDIT_MAX_ENTRIES);
    const level = entry.outcome === 'ok' ? 'info' : 'warn';
    this.logger[level]({ audit: true, ...full }, `admin audit: ${entry.action} ${entry.outcome} by ${entry.actor} from ${entry.client}${entry.target ? ` (${entry.target})` : ''}`);
    return full;
  }

  /** Newest first; `before` is the `seq` to continue below (the previous page's `next`). */
  list(options: { limit: number; before?: number; action?: AuditAction }): { items: AuditEntry[]; next?: string } {
    const items: AuditEntry[] = [];
    for (let i = this.#entries.length - 1; i >= 0 && items.length <= options.limit; i--) {
      const e = this.#entries[i]!;
      if (options.before !== undefined && e.seq >= options.before) continue;
      if (options.action !== undefined && e.action !== options.action) continue;
      items.push(e);
    }
    const more = items.length > options.limit;
    if (more) items.pop();
    return { items, ...(more ? { next: String(items.at(-1)!.seq) } : {}) };
  }
}
