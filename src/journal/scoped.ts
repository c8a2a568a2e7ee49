import type {
  AuditRecord,
  DeadLetterGroup,
  DedupeReservation,
  ErrorInfo,
  FlowStatusCounts,
  FlowJournalOptions,
  Journal,
  MessageInput,
  MessageQuery,
  MessageRecord,
  MessageStatus,
  MessageSummary,
  Page,
  ReplayJobRecord,
  ReplayJobResult,
  ReplayOutcome,
  ReplayRecord,
  ReplayRequest,
  RetryClaim,
  TimelineEvent,
} from './contract.js';
import { notFound } from './errors.js';

/**
 * A journal seen through one flow: what a flow-mode process's admin API and retention sweeper use, so that with a
 * journal several flow services share (Redis) each shows, changes and sweeps only its own flow's messages, as if
 * the journal were its own. Another flow's message is "not there" (undefined, NOT_FOUND, an empty page), never an
 * error of its own kind, so the admin API answers 404 as for any unknown id.
 *
 * It is a whole Journal, so that it stands wherever one does; role by role:
 * - MessageLog: scoped, but `record` passes through (a process records only its own flow's messages);
 * - RetryQueue: claims are of this flow only; scheduling and ending a claim pass through (their caller holds a
 *   message or a claim of its own flow already);
 * - ReplayBook: scoped (another flow's replays are left out);
 * - DedupeKeys and AdminAudit: passed through (the flow runner scopes its keys by flow itself; the audit is the
 *   process's own);
 * - close() closes nothing: the journal belongs to whoever opened it.
 */
export class FlowScopedJournal implements Journal {
  constructor(
    readonly inner: Journal,
    readonly flow: string,
  ) {}

  async #ownOrThrow(id: string): Promise<void> {
    const record = await this.inner.get(id);
    if (!record || record.flow !== this.flow) throw notFound(id);
  }

  // MessageLog

  record(message: MessageInput, events: TimelineEvent[], options: Pick<FlowJournalOptions, 'maxBodyBytes'>): Promise<{ created: boolean }> {
    return this.inner.record(message, events, options);
  }

  async append(id: string, events: TimelineEvent[]): Promise<void> {
    await this.#ownOrThrow(id);
    return this.inner.append(id, events);
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    const record = await this.inner.get(id);
    return record?.flow === this.flow ? record : undefined;
  }

  async query(query: MessageQuery): Promise<Page<MessageSummary>> {
    if (query.flow !== undefined && query.flow !== this.flow) return { items: [] };
    return this.inner.query({ ...query, flow: this.flow });
  }

  async remove(id: string, options?: { ifStatus?: MessageStatus[] }): Promise<boolean> {
    if (!(await this.get(id))) return false;
    return this.inner.remove(id, options);
  }

  async deadLetter(id: string, dead: { error: ErrorInfo; attempt: number; at?: string }): Promise<void> {
    await this.#ownOrThrow(id);
    return this.inner.deadLetter(id, dead);
  }

  async deadLetterGroups(filter?: { flow?: string }): Promise<DeadLetterGroup[]> {
    if (filter?.flow !== undefined && filter.flow !== this.flow) return [];
    return this.inner.deadLetterGroups({ ...filter, flow: this.flow });
  }

  async statusCounts(filter?: { flow?: string }): Promise<FlowStatusCounts[]> {
    if (filter?.flow !== undefined && filter.flow !== this.flow) return [];
    return this.inner.statusCounts({ ...filter, flow: this.flow });
  }

  // RetryQueue

  scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    return this.inner.scheduleRetry(id, retry);
  }

  claimDueRetries(limit: number, options?: { flows?: readonly string[] }): Promise<RetryClaim[]> {
    return this.inner.claimDueRetries(limit, { flows: (options?.flows ?? [this.flow]).filter((f) => f === this.flow) });
  }

  completeRetry(claim: RetryClaim): Promise<void> {
    return this.inner.completeRetry(claim);
  }

  extendRetry(claim: RetryClaim): Promise<void> {
    return this.inner.extendRetry(claim);
  }

  releaseRetry(claim: RetryClaim, retry?: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void> {
    return this.inner.releaseRetry(claim, retry);
  }

  // ReplayBook

  async recordReplay(request: ReplayRequest): Promise<ReplayOutcome> {
    await this.#ownOrThrow(request.originalId);
    return this.inner.recordReplay(request);
  }

  async getReplay(requestKey: string): Promise<ReplayRecord | undefined> {
    const replay = await this.inner.getReplay(requestKey);
    return replay?.flow === this.flow ? replay : undefined;
  }

  /** Another flow's replays are left out of each page, so a page may hold fewer than its limit (as Page allows). */
  async listReplays(filter?: { originalId?: string; limit?: number; cursor?: string }): Promise<Page<ReplayRecord>> {
    const page = await this.inner.listReplays(filter);
    return { ...page, items: page.items.filter((r) => r.flow === this.flow) };
  }

  // DedupeKeys

  dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean> {
    return this.inner.dedupe(key, ttlMs, owner);
  }

  dedupeHolder(key: string): Promise<string | undefined> {
    return this.inner.dedupeHolder(key);
  }

  reserveDedupe(key: string, owner: string, leaseMs: number): Promise<DedupeReservation> {
    return this.inner.reserveDedupe(key, owner, leaseMs);
  }

  releaseDedupe(key: string, owner: string): Promise<void> {
    return this.inner.releaseDedupe(key, owner);
  }

  // AggregateGroups: scoped by the runtime itself (flow and step).

  addToGroup(...args: Parameters<Journal['addToGroup']>): ReturnType<Journal['addToGroup']> {
    return this.inner.addToGroup(...args);
  }

  sealGroup(...args: Parameters<Journal['sealGroup']>): ReturnType<Journal['sealGroup']> {
    return this.inner.sealGroup(...args);
  }

  removeGroup(scope: string, groupId: string): Promise<boolean> {
    return this.inner.removeGroup(scope, groupId);
  }

  listGroups(scope: string): ReturnType<Journal['listGroups']> {
    return this.inner.listGroups(scope);
  }

  // AdminAudit: the process's own, not a flow's; every entry is this service's.

  // ReplayJobStore: the admin's jobs, shared as the audit is.

  saveReplayJob(job: ReplayJobRecord): Promise<void> {
    return this.inner.saveReplayJob(job);
  }

  listReplayJobs(limit?: number): Promise<ReplayJobRecord[]> {
    return this.inner.listReplayJobs(limit);
  }

  getReplayJob(id: string): Promise<ReplayJobRecord | undefined> {
    return this.inner.getReplayJob(id);
  }

  appendReplayJobResults(id: string, results: ReplayJobResult[]): Promise<void> {
    return this.inner.appendReplayJobResults(id, results);
  }

  replayJobResults(id: string, options?: { offset?: number; limit?: number }): Promise<{ items: ReplayJobResult[]; total: number }> {
    return this.inner.replayJobResults(id, options);
  }

  appendAudit(entry: Omit<AuditRecord, 'seq'>): Promise<AuditRecord> {
    return this.inner.appendAudit(entry);
  }

  listAudit(filter?: { action?: string; limit?: number; cursor?: string }): Promise<Page<AuditRecord>> {
    return this.inner.listAudit(filter);
  }

  // Lifecycle

  /** The journal belongs to whoever opened it: closing a view of it closes nothing. */
  async close(): Promise<void> {}
}
