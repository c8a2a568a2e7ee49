/**
 * What the embedded journal holds in memory, role by role, and the operations of its log that build it: one JSON
 * line each, applied by the same code at load and at run time, so that the two cannot disagree.
 */
import type { AuditRecord, ReplayJobRecord, ReplayJobResult, ReplayRecord, TimelineEvent } from '../contract.js';
import { AUDIT_KEPT, REPLAY_JOBS_KEPT } from '../contract.js';
import { Groups, type MemberLine } from './groups.js';
import { Records, type Rec } from './records.js';

/** One line of the log. */
export type Op =
  | { o: 'rec'; m: Omit<Rec, 'timeline' | 'replayedAs' | 'ms' | 'deadGroup' | 'status' | 'attempts' | 'updatedAt' | 'lastError'>; e: TimelineEvent[] }
  | { o: 'ev'; id: string; e: TimelineEvent[] }
  | { o: 'retry'; id: string; due: number; attempt: number }
  | { o: 'unretry'; id: string }
  | { o: 'replay'; r: ReplayRecord; e: TimelineEvent[] }
  | { o: 'rm'; id: string }
  | { o: 'dd'; k: string; x: number; w?: string }
  | { o: 'audit'; a: AuditRecord }
  | { o: 'job'; j: ReplayJobRecord }
  | { o: 'jres'; id: string; r: ReplayJobResult[] }
  // Aggregate groups: a member added (the group opened by its first), a group sealed, removed, a key closed until x.
  | { o: 'ga'; s: string; k: string; g: string; m: MemberLine }
  | { o: 'gs'; s: string; g: string; r: string; at: string; x?: number }
  | { o: 'gr'; s: string; g: string }
  | { o: 'gc'; s: string; k: string; x: number }
  // Compaction snapshots: a whole record, a replay audit entry alone.
  | { o: 'snap'; r: Rec }
  | { o: 'rps'; r: ReplayRecord };

export interface RetryEntry {
  dueMs: number;
  attempt: number;
}

export class EmbeddedState {
  /** The message log. */
  readonly records = new Records();
  /** The retry queue: each waiting (or claimed) retry by message id. */
  readonly retries = new Map<string, RetryEntry>();
  /** The claims held now. In memory only, never logged: after a restart every claimed retry is due again at once. */
  readonly claims = new Map<string, { token: string; until: number }>();
  /** The replay book, by request key. */
  readonly replays = new Map<string, ReplayRecord>();
  /** The admin audit, oldest first (by seq). */
  readonly audit: AuditRecord[] = [];
  /** The replay jobs by id, and their results. */
  readonly jobs = new Map<string, ReplayJobRecord>();
  readonly jobResults = new Map<string, ReplayJobResult[]>();
  /** The dedupe keys: until when each is held, and by whom. */
  readonly dedupe = new Map<string, { until: number; owner: string | undefined }>();
  /** The aggregate groups. */
  readonly groups = new Groups();

  apply(op: Op): void {
    switch (op.o) {
      case 'rec': {
        if (!this.records.has(op.m.id)) {
          const rec: Rec = { ...op.m, status: 'received', attempts: 0, updatedAt: op.m.receivedAt, timeline: [], replayedAs: [], ms: Date.parse(op.m.receivedAt) };
          this.records.add(rec);
        }
        this.records.events(op.m.id, op.e);
        break;
      }
      case 'ev':
        this.records.events(op.id, op.e);
        break;
      case 'retry':
        this.retries.set(op.id, { dueMs: op.due, attempt: op.attempt });
        this.claims.delete(op.id);
        break;
      case 'unretry':
        this.retries.delete(op.id);
        this.claims.delete(op.id);
        break;
      case 'replay':
        this.replays.set(op.r.requestKey, op.r);
        this.records.get(op.r.originalId)?.replayedAs.push(op.r.newId);
        this.records.events(op.r.originalId, op.e);
        break;
      case 'rps':
        this.replays.set(op.r.requestKey, op.r);
        break;
      case 'rm':
        if (!this.records.remove(op.id)) break;
        this.retries.delete(op.id);
        this.claims.delete(op.id);
        break;
      case 'dd':
        this.dedupe.set(op.k, { until: op.x, owner: op.w });
        break;
      case 'audit':
        this.audit.push(op.a);
        if (this.audit.length > AUDIT_KEPT * 1.1) this.audit.splice(0, this.audit.length - AUDIT_KEPT);
        break;
      case 'ga':
        this.groups.add(op.s, op.k, op.g, op.m);
        break;
      case 'gs':
        this.groups.seal(op.s, op.g, op.r, op.at, op.x);
        break;
      case 'gr':
        this.groups.remove(op.s, op.g);
        break;
      case 'gc':
        this.groups.close(op.s, op.k, op.x);
        break;
      case 'snap':
        this.records.restore(op.r);
        break;
      case 'job': {
        this.jobs.set(op.j.id, op.j);
        if (this.jobs.size > REPLAY_JOBS_KEPT) {
          const oldest = [...this.jobs.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt))[0]!;
          this.jobs.delete(oldest.id);
          this.jobResults.delete(oldest.id);
        }
        break;
      }
      case 'jres': {
        if (!this.jobs.has(op.id)) break;
        const list = this.jobResults.get(op.id);
        if (list) list.push(...op.r);
        else this.jobResults.set(op.id, [...op.r]);
        break;
      }
    }
  }

  /** The operations that rebuild this state as it is now, for a compaction: expired dedupe keys are left out. */
  snapshot(): Op[] {
    const now = Date.now();
    const ops: Op[] = [];
    for (const r of this.records.values()) ops.push({ o: 'snap', r });
    for (const [id, r] of this.retries) ops.push({ o: 'retry', id, due: r.dueMs, attempt: r.attempt });
    for (const r of this.replays.values()) ops.push({ o: 'rps', r });
    for (const [k, d] of this.dedupe) if (d.until > now) ops.push({ o: 'dd', k, x: d.until, ...(d.owner ? { w: d.owner } : {}) });
    for (const a of this.audit.slice(-AUDIT_KEPT)) ops.push({ o: 'audit', a });
    for (const j of this.jobs.values()) ops.push({ o: 'job', j });
    for (const [id, r] of this.jobResults) ops.push({ o: 'jres', id, r });
    for (const op of this.groups.snapshot(now)) ops.push(op);
    return ops;
  }
}
