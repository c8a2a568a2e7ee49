/**
 * The admin audit log: logins (and failed ones), logouts and every change made through the admin API (replay, bulk
 * replay, delete, pause, resume, archive), refused ones included, with who, when, from where and what. Kept in the
 * journal (so it outlives a restart, and replicas sharing a Redis journal share it), read by GET /admin/api/audit,
 * and written as one pino line each (`audit: true`), which stays the trail when the journal cannot take an entry.
 * The replay audit with body hashes is the journal's own (GET /replays).
 */
import type { Logger } from 'pino';
import type { AdminAudit, AuditRecord } from '../journal/contract.js';

export const AUDIT_ACTIONS = ['login', 'logout', 'replay', 'bulk-replay', 'delete', 'pause', 'resume', 'archive', 'bulk-archive', 'job-control', 'reload'] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditOutcome = 'ok' | 'failed' | 'denied' | 'rate-limited';

/** An audit entry as the admin API writes it: the journal's AuditRecord with the admin's own actions and outcomes. */
export interface AuditEntry extends AuditRecord {
  action: AuditAction;
  outcome: AuditOutcome;
}

export class AuditLog {
  /** Writes under way: a read waits for them, so that a caller sees its own change in the audit at once. */
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    readonly journal: AdminAudit,
    readonly logger: Logger,
  ) {}

  /** Records an entry. Not awaited by the request it audits: a journal that cannot take it leaves the log line. */
  record(entry: Omit<AuditEntry, 'seq' | 'at'>): void {
    const at = new Date().toISOString();
    const level = entry.outcome === 'ok' ? 'info' : 'warn';
    this.logger[level]({ audit: true, at, ...entry }, `admin audit: ${entry.action} ${entry.outcome} by ${entry.actor} from ${entry.client}${entry.target ? ` (${entry.target})` : ''}`);
    const write = this.journal.appendAudit({ at, ...entry }).catch((err: unknown) => this.logger.error({ err, audit: true, at, ...entry }, 'admin audit: the journal could not keep this entry; the log line above is its record'));
    this.#pending.add(write);
    void write.finally(() => this.#pending.delete(write));
  }

  /** Resolves once every entry recorded so far is written (or given up): before the journal closes. */
  async flush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  /** Newest first; `cursor` is the previous page's `next`. */
  async list(options: { limit: number; cursor?: string; action?: AuditAction }): Promise<{ items: AuditEntry[]; next?: string }> {
    await this.flush();
    return (await this.journal.listAudit(options)) as { items: AuditEntry[]; next?: string };
  }
}
