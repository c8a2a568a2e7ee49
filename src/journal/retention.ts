import type { Logger } from 'pino';
import type { MessageLog, MessageStatus } from './contract.js';

/** How long records of each settled status are kept (ms, from the record's last change: delivered, failed, replayed, archived); absent: for ever. */
export type Retention = Partial<Record<Extract<MessageStatus, 'delivered' | 'failed' | 'resolved' | 'archived'>, number>>;

/** Most records one sweep removes, so that a sweep never holds the journal for long; the next one goes on. */
const PER_SWEEP = 5_000;

/**
 * Removes journal records that are settled and older than their status's retention: delivered (under `journal:
 * all`), failed (the caller got the error), resolved (replayed) and archived ones. Messages waiting for a retry or
 * dead are never removed by it: they need an operator. Without it the journal grows for ever (and the embedded
 * store keeps every record in memory).
 */
export class RetentionSweeper {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(
    readonly journal: MessageLog,
    readonly retention: Retention,
    readonly logger: Logger,
    readonly everyMs = 60_000,
  ) {}

  start(): void {
    if (Object.keys(this.retention).length === 0) return;
    this.#timer = setInterval(() => void this.sweep().catch(() => {}), this.everyMs);
    this.#timer.unref();
  }

  /** One pass: resolves with the number of records removed. */
  sweep(at = Date.now()): Promise<number> {
    this.#sweeping ??= this.#sweep(at).finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweep(at: number): Promise<number> {
    let removed = 0;
    try {
      for (const [status, keepMs] of Object.entries(this.retention) as [MessageStatus, number][]) {
        const to = new Date(at - keepMs).toISOString();
        let cursor: string | undefined;
        do {
          // The query narrows by receipt (never later than the last change); the clock runs from the last change,
          // so a message received long ago and archived today is kept for the whole retention from today.
          const page = await this.journal.query({ status, to, limit: 500, ...(cursor ? { cursor } : {}) });
          for (const m of page.items) if (m.updatedAt < to && (await this.journal.remove(m.id, { ifStatus: [status] }))) removed++;
          cursor = page.next;
        } while (cursor && removed < PER_SWEEP);
      }
    } catch (err) {
      this.logger.warn({ err }, 'journal retention: the sweep stopped early; the next one goes on');
    }
    if (removed > 0) this.logger.info({ removed }, `journal retention: removed ${removed} settled record(s) past their retention`);
    return removed;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping?.catch(() => {});
  }
}
