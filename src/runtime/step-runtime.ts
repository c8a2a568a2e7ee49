/**
 * The runtime side of the steps that keep state or work beyond one message (StepLifecycle: aggregate,
 * recipient_list, throttle): what each is given at start (StepRuntime: its groups, marks, a way to emit a message of
 * its own into the steps after it), started after the sinks and stopped after the source. One per runner.
 */
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import { EMITTED_BY_HEADER, type GroupAdd, type GroupMember, type GroupStore, type GroupSummary, type StepLifecycle, type StepRuntime } from '../core/contracts.js';
import type { Message } from '../core/message.js';
import type { Journal } from '../journal/contract.js';
import { Groups, toLine } from '../journal/embedded/groups.js';
import { journalUnavailable } from './journal.js';

export const EMITTED_BY = EMITTED_BY_HEADER;

/** Where the steps of an emitted message (or its retry, or its replay) start: at the step that emitted it; 0 for any other message. */
export function firstStep(def: FlowDefinition, message: Message): number {
  const by = message.headers[EMITTED_BY];
  if (by === undefined) return 0;
  const i = def.steps.findIndex((s) => s.label === by);
  return i < 0 ? 0 : i;
}

export class StepRuntimes {
  readonly #def: FlowDefinition;
  readonly #logger: Logger;
  readonly #journal: Journal | undefined;
  readonly #started: StepLifecycle[] = [];
  /** Marks kept when the runner has no journal (tests). */
  readonly #marks = new Map<string, number>();

  constructor(def: FlowDefinition, logger: Logger, journal: Journal | undefined) {
    this.#def = def;
    this.#logger = logger;
    this.#journal = journal;
  }

  /** True when a step of the flow has a lifecycle. */
  get any(): boolean {
    return this.#def.steps.some((s) => s.run.lifecycle);
  }

  /** Starts each step's lifecycle; `emit(message, from)` runs a message a step emitted from that step on. */
  async start(emit: (message: Message, from: number) => Promise<void>, redisUrl: string | undefined): Promise<void> {
    const groups: GroupStore = this.#journal ?? new MemoryGroups();
    for (const [i, step] of this.#def.steps.entries()) {
      const lifecycle = step.run.lifecycle;
      if (!lifecycle) continue;
      const runtime: StepRuntime = {
        flow: this.#def.name,
        step: step.label,
        logger: this.#logger.child({ step: step.label }),
        groups,
        redisUrl,
        mark: (key, ttlMs) => this.#mark(key, ttlMs),
        marked: (key) => this.#marked(key),
        emit: (message) => emit(message.with({ headers: { ...message.headers, [EMITTED_BY]: step.label } }), i),
      };
      await lifecycle.start(runtime);
      this.#started.push(lifecycle);
    }
  }

  async stop(): Promise<void> {
    for (const lifecycle of this.#started.splice(0)) {
      try {
        await lifecycle.stop();
      } catch (err) {
        this.#logger.warn({ err }, 'a step did not stop cleanly');
      }
    }
  }

  async #mark(key: string, ttlMs: number): Promise<void> {
    const scoped = `${this.#def.name}\u0000mark\u0000${key}`;
    if (!this.#journal) {
      this.#marks.set(scoped, Date.now() + ttlMs);
      return;
    }
    try {
      await this.#journal.dedupe(scoped, ttlMs);
    } catch (err) {
      throw journalUnavailable(err, 'keep a mark');
    }
  }

  async #marked(key: string): Promise<boolean> {
    const scoped = `${this.#def.name}\u0000mark\u0000${key}`;
    if (!this.#journal) return (this.#marks.get(scoped) ?? 0) > Date.now();
    try {
      return (await this.#journal.dedupeHolder(scoped)) !== undefined;
    } catch (err) {
      throw journalUnavailable(err, 'read a mark');
    }
  }
}

/** Aggregate groups in memory, for a runner without a journal (unit tests): the embedded journal's groups, without its log. */
class MemoryGroups implements GroupStore {
  readonly #groups = new Groups();

  async addToGroup(scope: string, key: string, member: GroupMember, options: { newGroupId: string; maxOpen?: number; refuseClosed?: boolean }): Promise<GroupAdd> {
    const admitted = this.#groups.admit(scope, key, member.id, options, Date.now());
    if (admitted.outcome !== 'add') return admitted;
    this.#groups.add(scope, key, admitted.groupId, toLine(member));
    return { outcome: 'added', group: { ...this.#groups.get(scope, admitted.groupId)!.summary } };
  }

  async sealGroup(scope: string, groupId: string, seal: { reason: string; closedTtlMs?: number }): Promise<{ group: GroupSummary; members: GroupMember[]; first: boolean } | undefined> {
    const g = this.#groups.get(scope, groupId);
    if (!g) return undefined;
    const first = !g.summary.sealed;
    if (first) this.#groups.seal(scope, groupId, seal.reason, new Date().toISOString(), seal.closedTtlMs ? Date.now() + seal.closedTtlMs : undefined);
    return { group: { ...g.summary }, members: [...g.members], first };
  }

  async removeGroup(scope: string, groupId: string): Promise<boolean> {
    return this.#groups.remove(scope, groupId);
  }

  async listGroups(scope: string): Promise<GroupSummary[]> {
    return this.#groups.list(scope);
  }
}
