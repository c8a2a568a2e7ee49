/**
 * The embedded journal's message log in memory: every record, the small entries a query walks, the records by
 * correlation id, and the dead-letter groups. Changed only by the log's operations (state.ts), read by the journal.
 */
import type { DeadLetterGroup, ErrorInfo, FlowStatusCounts, MessageQuery, MessageStatus, MessageSummary, Page, StoredBody, TimelineEvent } from '../contract.js';
import { compileFilter, deadGroupKey, decodeCursor, encodeCursor, foldEvent, isAfter, pageLimit, toMs, type FilterFields, type Position } from '../shared.js';

/** A record as held in memory (and written whole by a compaction's `snap`). */
export interface Rec extends MessageSummary {
  headers: Record<string, string>;
  body: StoredBody;
  timeline: TimelineEvent[];
  replayedAs: string[];
  ms: number;
  /** The dead-letter group it is in, while dead. */
  deadGroup?: string;
}

/**
 * What a query tests of a record, kept apart from the record: a small object of one shape, so that a query walking
 * 100,000 of them reads a few cache lines each, where the records themselves (built by spreading, grown by events)
 * are slow to read in bulk (a walk over them measured ten times slower). Updated whenever the record's status or
 * last error change; `gone` once the record is removed.
 */
class Entry implements FilterFields {
  readonly ms: number;
  readonly id: string;
  readonly flow: string;
  readonly correlationId: string | undefined;
  status: MessageStatus;
  lastError: ErrorInfo | undefined;
  gone = false;

  constructor(readonly rec: Rec) {
    this.ms = rec.ms;
    this.id = rec.id;
    this.flow = rec.flow;
    this.correlationId = rec.correlationId;
    this.status = rec.status;
    this.lastError = rec.lastError;
  }
}

/** Oldest first by (ms, id), the reverse of paging order. */
function older(a: Position, b: Position): boolean {
  return a.ms < b.ms || (a.ms === b.ms && a.id < b.id);
}

export class Records {
  readonly #records = new Map<string, Rec>();
  /**
   * Every record's entry oldest first by (ms, id), so that a query binary-searches its cursor and time range and
   * walks back from there. New entries are appended (nearly always the newest); one that is not marks the array for
   * a sort before the next query (nearly sorted: about linear). A removed record's entry stays as a tombstone until
   * tombstones are a quarter of the array: removing one by one (retention) must not copy the array each time.
   */
  #order: Entry[] = [];
  #orderDirty = false;
  #tombstones = 0;
  readonly #entries = new Map<string, Entry>();
  /** Entries by correlation id: a search by correlation id reads only these. */
  readonly #byCorrelation = new Map<string, Entry[]>();
  readonly #deadGroups = new Map<string, { flow: string; step: string; code: string; members: Map<string, number> }>();
  /** Records per flow and status now (MessageLog.statusCounts), kept as statuses change. */
  readonly #counts = new Map<string, Map<MessageStatus, number>>();

  has(id: string): boolean {
    return this.#records.has(id);
  }

  /** The live record itself (not a copy): callers must not change it. */
  get(id: string): Rec | undefined {
    return this.#records.get(id);
  }

  values(): IterableIterator<Rec> {
    return this.#records.values();
  }

  add(rec: Rec): void {
    this.#records.set(rec.id, rec);
    const entry = new Entry(rec);
    this.#entries.set(rec.id, entry);
    const last = this.#order[this.#order.length - 1];
    if (last !== undefined && older(entry, last)) this.#orderDirty = true;
    this.#order.push(entry);
    this.#count(rec.flow, rec.status, 1);
    if (rec.correlationId !== undefined) {
      const same = this.#byCorrelation.get(rec.correlationId);
      if (same) same.push(entry);
      else this.#byCorrelation.set(rec.correlationId, [entry]);
    }
  }

  /** A record from a compaction's snapshot: added as it was, back in its dead-letter group if it was in one. */
  restore(rec: Rec): void {
    this.add(rec);
    if (rec.deadGroup) this.#enterDeadGroup(rec, rec.timeline.findLast((e) => e.type === 'dead'));
  }

  /** Appends events to a record's timeline and folds them into its summary, entry and dead-letter group. */
  events(id: string, events: TimelineEvent[]): void {
    const rec = this.#records.get(id);
    if (!rec) return;
    for (const event of events) {
      rec.timeline.push(event);
      foldEvent(rec, event);
      if (event.type === 'dead') this.#enterDeadGroup(rec, event);
      else if (rec.deadGroup && rec.status !== 'dead') this.#leaveDeadGroup(rec);
    }
    const entry = this.#entries.get(id)!;
    if (entry.status !== rec.status) {
      this.#count(rec.flow, entry.status, -1);
      this.#count(rec.flow, rec.status, 1);
    }
    entry.status = rec.status;
    entry.lastError = rec.lastError;
  }

  /** Removes a record; false when there was none. */
  remove(id: string): boolean {
    const rec = this.#records.get(id);
    if (!rec) return false;
    this.#leaveDeadGroup(rec);
    this.#records.delete(id);
    const entry = this.#entries.get(id)!;
    this.#entries.delete(id);
    entry.gone = true;
    this.#count(rec.flow, entry.status, -1);
    this.#tombstones++;
    if (rec.correlationId !== undefined) {
      const same = this.#byCorrelation.get(rec.correlationId)?.filter((e) => e !== entry) ?? [];
      if (same.length > 0) this.#byCorrelation.set(rec.correlationId, same);
      else this.#byCorrelation.delete(rec.correlationId);
    }
    return true;
  }

  /** MessageLog.query over memory. */
  query(q: MessageQuery): Page<MessageSummary> {
    const limit = pageLimit(q.limit);
    const cursor = decodeCursor(q.cursor);
    const test = compileFilter(q);
    const from = q.from === undefined ? -Infinity : toMs(q.from, 'from');
    const to = q.to === undefined ? Infinity : toMs(q.to, 'to');
    // Walk newest first from the newest record the cursor and `to` allow, down to `from`.
    let order: Entry[];
    if (q.correlationId !== undefined) {
      order = [...(this.#byCorrelation.get(q.correlationId) ?? [])].sort((a, b) => a.ms - b.ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    } else {
      order = this.#sorted();
    }
    // The first index past the records that come after the cursor and before `to` (those are a prefix, oldest first).
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const entry = order[mid]!;
      if (entry.ms < to && isAfter(entry, cursor)) lo = mid + 1;
      else hi = mid;
    }
    const items: MessageSummary[] = [];
    let last: Entry | undefined;
    for (let i = lo - 1; i >= 0; i--) {
      const entry = order[i]!;
      if (entry.ms < from) break;
      if (entry.gone || !test(entry)) continue;
      if (items.length === limit) return { items, next: encodeCursor({ ms: last!.ms, id: last!.id }) };
      items.push(summary(entry.rec));
      last = entry;
    }
    return { items };
  }

  /** MessageLog.deadLetterGroups over memory. */
  deadLetterGroups(filter: { flow?: string }): DeadLetterGroup[] {
    const out: DeadLetterGroup[] = [];
    for (const g of this.#deadGroups.values()) {
      if (filter.flow !== undefined && g.flow !== filter.flow) continue;
      // A loop, not Math.min(...times): a group of a few hundred thousand would overflow the call's arguments.
      let first = Infinity;
      let last = -Infinity;
      for (const t of g.members.values()) {
        if (t < first) first = t;
        if (t > last) last = t;
      }
      out.push({ flow: g.flow, step: g.step, code: g.code, count: g.members.size, firstSeen: new Date(first).toISOString(), lastSeen: new Date(last).toISOString() });
    }
    return out.sort((a, b) => b.count - a.count || a.flow.localeCompare(b.flow) || a.step.localeCompare(b.step) || a.code.localeCompare(b.code));
  }

  /** MessageLog.statusCounts over memory. */
  statusCounts(filter: { flow?: string }): FlowStatusCounts[] {
    const out: FlowStatusCounts[] = [];
    for (const [flow, counts] of this.#counts) {
      if (filter.flow !== undefined && flow !== filter.flow) continue;
      const c: FlowStatusCounts['counts'] = {};
      for (const [status, n] of counts) if (n > 0) c[status] = n;
      if (Object.keys(c).length > 0) out.push({ flow, counts: c });
    }
    return out.sort((a, b) => a.flow.localeCompare(b.flow));
  }

  #count(flow: string, status: MessageStatus, by: number): void {
    let counts = this.#counts.get(flow);
    if (!counts) this.#counts.set(flow, (counts = new Map()));
    counts.set(status, (counts.get(status) ?? 0) + by);
  }

  /** #order sorted and, past a quarter of tombstones, without them. */
  #sorted(): Entry[] {
    if (this.#tombstones > 0 && this.#tombstones * 4 > this.#order.length) {
      this.#order = this.#order.filter((e) => !e.gone);
      this.#tombstones = 0;
    }
    if (this.#orderDirty) {
      this.#order.sort((a, b) => a.ms - b.ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.#orderDirty = false;
    }
    return this.#order;
  }

  #enterDeadGroup(rec: Rec, event: TimelineEvent | undefined): void {
    this.#leaveDeadGroup(rec);
    const g = deadGroupKey(event?.error ?? rec.lastError, rec.flow);
    let group = this.#deadGroups.get(g.key);
    if (!group) this.#deadGroups.set(g.key, (group = { flow: g.flow, step: g.step, code: g.code, members: new Map() }));
    group.members.set(rec.id, event ? Date.parse(event.at) : Date.now());
    rec.deadGroup = g.key;
  }

  #leaveDeadGroup(rec: Rec): void {
    if (!rec.deadGroup) return;
    const group = this.#deadGroups.get(rec.deadGroup);
    group?.members.delete(rec.id);
    if (group && group.members.size === 0) this.#deadGroups.delete(rec.deadGroup);
    delete rec.deadGroup;
  }
}

function summary(rec: Rec): MessageSummary {
  return {
    id: rec.id,
    ...(rec.correlationId ? { correlationId: rec.correlationId } : {}),
    flow: rec.flow,
    source: rec.source,
    receivedAt: rec.receivedAt,
    updatedAt: rec.updatedAt,
    status: rec.status,
    attempts: rec.attempts,
    ...(rec.lastError ? { lastError: { ...rec.lastError } } : {}),
    ...(rec.replayOf ? { replayOf: rec.replayOf } : {}),
  };
}
