/**
 * The embedded journal's aggregate groups in memory (the AggregateGroups role), built by the log's `ga`, `gs`, `gr`
 * and `gc` operations (state.ts): each scope's groups by id, the open group of each key, and the keys closed lately.
 */
import type { GroupAdd, GroupMember, GroupSummary } from '../contract.js';

export interface StoredGroup {
  summary: GroupSummary;
  members: GroupMember[];
  ids: Set<string>;
}

/** A member as one log line holds it: the body in base64. */
export interface MemberLine {
  id: string;
  at: string;
  h: Record<string, string>;
  b: string;
}

export const toLine = (m: GroupMember): MemberLine => ({ id: m.id, at: m.at, h: m.headers, b: m.body.toString('base64') });
const fromLine = (m: MemberLine): GroupMember => ({ id: m.id, at: m.at, headers: m.h, body: Buffer.from(m.b, 'base64') });

const scoped = (scope: string, key: string): string => `${scope}\u0000${key}`;

export class Groups {
  /** Groups by scope, then by id, in the order they opened. */
  readonly #groups = new Map<string, Map<string, StoredGroup>>();
  /** The open group's id of each scope and key. */
  readonly #open = new Map<string, string>();
  /** Until when each scope and key counts as closed (ms). */
  readonly #closed = new Map<string, number>();

  get(scope: string, id: string): StoredGroup | undefined {
    return this.#groups.get(scope)?.get(id);
  }

  openOf(scope: string, key: string): StoredGroup | undefined {
    const id = this.#open.get(scoped(scope, key));
    return id === undefined ? undefined : this.get(scope, id);
  }

  openCount(scope: string): number {
    let n = 0;
    for (const g of this.#groups.get(scope)?.values() ?? []) if (!g.summary.sealed) n++;
    return n;
  }

  closed(scope: string, key: string, now: number): boolean {
    const until = this.#closed.get(scoped(scope, key));
    return until !== undefined && until > now;
  }

  /**
   * AddToGroup's decision for a member, made in memory (the caller then writes the member, with `add`): refused
   * (`closed`, `full`) or `duplicate`, as the contract says, or to be added to group `groupId` (the open one, else a
   * new one with `newGroupId`).
   */
  admit(scope: string, key: string, memberId: string, options: { newGroupId: string; maxOpen?: number; refuseClosed?: boolean }, now: number): GroupAdd | { outcome: 'add'; groupId: string } {
    const open = this.openOf(scope, key);
    if (open?.ids.has(memberId)) return { outcome: 'duplicate', group: { ...open.summary } };
    if (open) return { outcome: 'add', groupId: open.summary.id };
    if (options.refuseClosed && this.closed(scope, key, now)) return { outcome: 'closed' };
    if (options.maxOpen !== undefined && this.openCount(scope) >= options.maxOpen) return { outcome: 'full' };
    return { outcome: 'add', groupId: options.newGroupId };
  }

  list(scope: string): GroupSummary[] {
    return [...(this.#groups.get(scope)?.values() ?? [])].map((g) => ({ ...g.summary, ...(g.summary.sealed ? { sealed: { ...g.summary.sealed } } : {}) }));
  }

  add(scope: string, key: string, groupId: string, line: MemberLine): void {
    let byId = this.#groups.get(scope);
    if (!byId) this.#groups.set(scope, (byId = new Map()));
    let g = byId.get(groupId);
    if (!g) {
      g = { summary: { id: groupId, key, openedAt: line.at, lastAt: line.at, size: 0 }, members: [], ids: new Set() };
      byId.set(groupId, g);
      this.#open.set(scoped(scope, key), groupId);
    }
    if (g.ids.has(line.id)) return;
    g.ids.add(line.id);
    g.members.push(fromLine(line));
    g.summary.size = g.members.length;
    g.summary.lastAt = line.at;
  }

  seal(scope: string, groupId: string, reason: string, at: string, closedUntil: number | undefined): void {
    const g = this.get(scope, groupId);
    if (!g || g.summary.sealed) return;
    g.summary.sealed = { at, reason };
    const k = scoped(scope, g.summary.key);
    if (this.#open.get(k) === groupId) this.#open.delete(k);
    if (closedUntil !== undefined) this.#closed.set(k, closedUntil);
  }

  close(scope: string, key: string, until: number): void {
    this.#closed.set(scoped(scope, key), until);
  }

  remove(scope: string, groupId: string): boolean {
    const byId = this.#groups.get(scope);
    const g = byId?.get(groupId);
    if (!byId || !g) return false;
    byId.delete(groupId);
    if (byId.size === 0) this.#groups.delete(scope);
    const k = scoped(scope, g.summary.key);
    if (this.#open.get(k) === groupId) this.#open.delete(k);
    return true;
  }

  /** The operations that rebuild the groups (for a compaction): members, seals, and the closed keys still closed. */
  *snapshot(now: number): Generator<{ o: 'ga'; s: string; k: string; g: string; m: MemberLine } | { o: 'gs'; s: string; g: string; r: string; at: string } | { o: 'gc'; s: string; k: string; x: number }> {
    for (const [s, byId] of this.#groups) {
      for (const g of byId.values()) {
        for (const m of g.members) yield { o: 'ga', s, k: g.summary.key, g: g.summary.id, m: toLine(m) };
        if (g.summary.sealed) yield { o: 'gs', s, g: g.summary.id, r: g.summary.sealed.reason, at: g.summary.sealed.at };
      }
    }
    for (const [sk, x] of this.#closed) {
      if (x <= now) continue;
      const cut = sk.indexOf('\u0000');
      yield { o: 'gc', s: sk.slice(0, cut), k: sk.slice(cut + 1), x };
    }
  }
}
