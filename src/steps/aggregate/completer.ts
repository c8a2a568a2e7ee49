/**
 * The aggregate step's lifecycle (StepLifecycle): it completes groups by time (its timer), seals each group once and
 * emits it as a message of its own (id: the group's id, stable across restarts, so that `dedupe` can drop a second
 * emission), removes the group once that message is delivered or parked, and at start emits again the groups a
 * crash left sealed. Members are added by the step itself (index.ts).
 */
import type { GroupMember, GroupSummary, StepLifecycle, StepRuntime } from '../../core/contracts.js';
import { parseJson } from '../../core/codec.js';
import { isJsonType, isXmlType, Message } from '../../core/message.js';
import { xmlToValue } from '../shared.js';

export interface CompletionTimes {
  /** Complete at this many members, or at max_size: checked by the timer too, for a group a crash left unsealed. */
  count: number | undefined;
  maxSize: number;
  /** Since the first member (ms). */
  timeoutMs: number | undefined;
  /** Since the last member (ms). */
  idleMs: number | undefined;
  /** How long a completed key counts as closed for late members (ms). */
  closedMs: number;
}

/** A sealed group another process sealed and has not settled within this time is emitted again (its process died). */
const ORPHAN_MS = 60_000;

/** What the emitted message of a group holds, for the step to finish it (its aggregation expression). */
export interface GroupBody {
  key: string;
  reason: string;
  size: number;
  members: { id: string; at: string; headers: Record<string, string>; body: unknown }[];
}

export class Completer implements StepLifecycle {
  readonly #times: CompletionTimes;
  #runtime: StepRuntime | undefined;
  #scope = '';
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  /** Groups this process is emitting now (by id), so that neither its timer nor a member starts a second emission. */
  readonly #emitting = new Map<string, Promise<void>>();
  /** Sealed groups whose emission failed (the flow was stopping, the journal away): emitted again at the next tick. */
  readonly #unsettled = new Set<string>();

  constructor(times: CompletionTimes) {
    this.#times = times;
  }

  get runtime(): StepRuntime {
    if (!this.#runtime) throw new Error('the aggregate step was not started');
    return this.#runtime;
  }

  get scope(): string {
    return this.#scope;
  }

  async start(runtime: StepRuntime): Promise<void> {
    this.#runtime = runtime;
    this.#scope = `${runtime.flow}/${runtime.step}`;
    // Groups a crash left sealed: emitted again (at least once; same id).
    try {
      for (const g of await runtime.groups.listGroups(this.#scope)) if (g.sealed) this.#unsettled.add(g.id);
    } catch (err) {
      runtime.logger.warn({ err }, 'aggregate: the journal could not list the groups at start; they are looked at again on the next tick');
    }
    const shortest = Math.min(this.#times.timeoutMs ?? Infinity, this.#times.idleMs ?? Infinity, 5_000);
    const every = Math.max(50, Math.min(1_000, Math.floor(shortest / 5)));
    this.#timer = setInterval(() => void this.#tick(), every);
    this.#timer.unref();
    void this.#tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled([...this.#emitting.values()]);
  }

  /** Seals the group (once, across processes) and emits it; not awaited by the member that completed it. */
  complete(groupId: string, reason: string): void {
    if (!this.#emitting.has(groupId)) this.#track(groupId, this.#sealAndEmit(groupId, reason));
  }

  /** Seals the oldest open group at once (the open group limit was reached) and emits it, waiting only for the seal. */
  async completeOldest(): Promise<void> {
    const open = (await this.runtime.groups.listGroups(this.#scope)).find((g) => !g.sealed && !this.#emitting.has(g.id));
    if (!open) return;
    const sealed = await this.runtime.groups.sealGroup(this.#scope, open.id, { reason: 'max_open', closedTtlMs: this.#times.closedMs });
    if (sealed?.first) this.#track(open.id, this.#emit(sealed.group, sealed.members).catch((err: unknown) => this.#failed(open.id, err)));
  }

  #failed(groupId: string, err: unknown): void {
    this.#unsettled.add(groupId);
    this.runtime.logger.warn({ err, groupId }, 'aggregate: a completed group could not be emitted yet; it is tried again');
  }

  async #sealAndEmit(groupId: string, reason: string, again = false): Promise<void> {
    const runtime = this.runtime;
    try {
      const sealed = await runtime.groups.sealGroup(this.#scope, groupId, { reason, closedTtlMs: this.#times.closedMs });
      if (!sealed) {
        this.#unsettled.delete(groupId);
        return;
      }
      // Sealed by another caller: it emits, unless this is an emission again (after a crash, or a failed one).
      if (!sealed.first && !again) return;
      await this.#emit(sealed.group, sealed.members);
    } catch (err) {
      this.#failed(groupId, err);
    }
  }

  async #emit(group: GroupSummary, members: GroupMember[]): Promise<void> {
    const runtime = this.runtime;
    await runtime.emit(groupMessage(runtime, group, members));
    this.#unsettled.delete(group.id);
    await runtime.groups.removeGroup(this.#scope, group.id);
  }

  async #tick(): Promise<void> {
    if (this.#ticking || !this.#runtime) return;
    this.#ticking = true;
    try {
      const now = Date.now();
      for (const g of await this.#runtime.groups.listGroups(this.#scope)) {
        if (this.#emitting.has(g.id)) continue;
        if (g.sealed) {
          if (this.#unsettled.has(g.id) || now - Date.parse(g.sealed.at) > ORPHAN_MS) this.#track(g.id, this.#sealAndEmit(g.id, g.sealed.reason, true));
          continue;
        }
        const { timeoutMs, idleMs, count, maxSize } = this.#times;
        if (count !== undefined && g.size >= count) this.complete(g.id, 'count');
        else if (g.size >= maxSize) this.complete(g.id, 'max_size');
        else if (timeoutMs !== undefined && now - Date.parse(g.openedAt) >= timeoutMs) this.complete(g.id, 'timeout');
        else if (idleMs !== undefined && now - Date.parse(g.lastAt) >= idleMs) this.complete(g.id, 'idle');
      }
    } catch (err) {
      this.#runtime.logger.warn({ err }, 'aggregate: the journal could not list the groups; completion by time waits for it');
    } finally {
      this.#ticking = false;
    }
  }

  #track(groupId: string, run: Promise<void>): void {
    this.#emitting.set(groupId, run.finally(() => this.#emitting.delete(groupId)));
  }
}

/** The message a completed group becomes, before the step's aggregation expression: its members, their bodies read. */
function groupMessage(runtime: StepRuntime, group: GroupSummary, members: GroupMember[]): Message {
  const first = members[0];
  const body: GroupBody = {
    key: group.key,
    reason: group.sealed?.reason ?? 'unknown',
    size: members.length,
    members: members.map((m) => ({ id: m.id, at: m.at, headers: m.headers, body: readBody(m) })),
  };
  const headers: Record<string, string> = { 'content-type': 'application/json', 'aggregate-key': group.key, 'aggregate-size': String(members.length), 'aggregate-reason': body.reason };
  const correlation = first?.headers['correlation-id'];
  if (correlation) headers['correlation-id'] = correlation;
  return new Message({ id: group.id, value: body, headers, meta: { flow: runtime.flow, source: `aggregate:${runtime.step}`, receivedAt: new Date().toISOString(), attempt: 1 } });
}

/** A member's body as a JSON value: JSON parsed, XML read into a value, anything else as text. */
function readBody(m: GroupMember): unknown {
  const type = m.headers['content-type'];
  try {
    if (m.body.length === 0) return null;
    if (isJsonType(type)) return parseJson(m.body);
    if (isXmlType(type)) return xmlToValue(m.body, { stripNamespaces: true, parseValues: true });
  } catch {
    // Not what its content type says: kept as text, for the aggregation expression to see.
  }
  return m.body.toString('utf8');
}
