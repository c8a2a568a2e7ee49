/**
 * Archiving dead letters as the admin API does it, apart from HTTP: one dead message, or a whole dead-letter group
 * (flow, step, error code). Each gets the journal's `archived` event with who and why (journal.append), which makes
 * its status `archived` and takes it out of its group; the retention sweeper removes it once `journal.keep.archived`
 * has passed since it was received (journal/retention.ts). Nothing is sent anywhere.
 */
import { hubError, toHubError } from '../core/errors.js';
import type { MessageLog } from '../journal/contract.js';
import type { Retention } from '../journal/retention.js';
import { BULK_DEFAULT } from './api/constants.js';
import { fromJournalError } from './replay.js';

export interface ArchiveResult {
  id: string;
  status: 'archived';
  /** When the retention sweeper may remove it (received at + journal.keep.archived); absent when archived records are kept. */
  removableFrom?: string;
}

export interface GroupArchiveRequest {
  flow: string;
  /** The group's step ("" for errors without one). */
  step: string;
  code: string;
  reason?: string;
  max?: number;
}

export interface GroupArchiveResult {
  matched: number;
  capped: boolean;
  archived: number;
  failed: { id: string; reason: string }[];
  /** journal.keep.archived in ms: how long after receipt archived records are kept; absent: kept until deleted. */
  keepMs?: number;
}

async function journalCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw fromJournalError(err);
  }
}

export class Archiver {
  constructor(
    readonly journal: MessageLog,
    readonly retention: Retention,
    /** Told of each message archived (the live feed). */
    readonly onArchived: (id: string, flow: string) => void = () => {},
  ) {}

  /** Archives one dead message. Throws NOT_FOUND (no such message) or CONFLICT (it is not dead). */
  async archiveOne(id: string, by: string, reason: string | undefined): Promise<ArchiveResult> {
    const record = await journalCall(this.journal.get(id));
    if (!record) throw hubError('NOT_FOUND', `no such message: ${id} (never recorded under its flow's journal policy, or removed)`);
    if (record.status !== 'dead') throw hubError('CONFLICT', `message ${id} is ${record.status}, not dead: only dead letters are archived`);
    const at = await this.#archive(record.id, by, reason);
    this.onArchived(id, record.flow);
    return { id, status: 'archived', ...this.#removable(at) };
  }

  /** Archives every dead message of one group (up to `max`). Throws NOT_FOUND when the group has none. */
  async archiveGroup(request: GroupArchiveRequest, by: string): Promise<GroupArchiveResult> {
    const max = request.max ?? BULK_DEFAULT;
    // The ids first: each archive takes its message out of the pages being walked.
    const ids: string[] = [];
    let cursor: string | undefined;
    let capped = false;
    do {
      const page = await journalCall(this.journal.query({ flow: request.flow, status: 'dead', errorCode: request.code, ...(request.step ? { errorStep: request.step } : {}), limit: 500, ...(cursor ? { cursor } : {}) }));
      for (const m of page.items) {
        if ((m.lastError?.step ?? '') !== request.step) continue;
        if (ids.length === max) {
          capped = true;
          break;
        }
        ids.push(m.id);
      }
      cursor = page.next;
    } while (cursor && !capped);
    if (ids.length === 0) throw hubError('NOT_FOUND', `no dead letters in group flow "${request.flow}", step "${request.step}", code ${request.code}`);
    const result: GroupArchiveResult = { matched: ids.length, capped, archived: 0, failed: [], ...(this.retention.archived !== undefined ? { keepMs: this.retention.archived } : {}) };
    for (const id of ids) {
      try {
        await this.#archive(id, by, request.reason);
        result.archived++;
        this.onArchived(id, request.flow);
      } catch (err) {
        const e = toHubError(err);
        result.failed.push({ id, reason: `${e.code}: ${e.message}` });
      }
    }
    return result;
  }

  /** Resolves with when it was archived (ms). */
  async #archive(id: string, by: string, reason: string | undefined): Promise<number> {
    const at = Date.now();
    await journalCall(this.journal.append(id, [{ type: 'archived', at: new Date(at).toISOString(), detail: `archived by ${by}${reason ? `: ${reason}` : ''}` }]));
    return at;
  }

  /** Retention counts from the archiving (the record's last change), not from receipt. */
  #removable(archivedAt: number): Pick<ArchiveResult, 'removableFrom'> {
    const keep = this.retention.archived;
    return keep === undefined ? {} : { removableFrom: new Date(archivedAt + keep).toISOString() };
  }
}
