/**
 * What GET /flows and the live feed's `event: flows` say of each flow: its shape, its state, and the current truth an
 * operator acts on: how many of its messages are dead, waiting for a retry and failed *now*, from the journal (not
 * counters since the hub started, which a replay or a restart makes wrong), and each sink's health from its real
 * calls (a downstream refusing connections is `degraded`, with the error and since when, until a call succeeds).
 */
import type { MessageLog, MessageStatus } from '../journal/contract.js';
import type { FlowRunner } from '../runtime/flow-runner.js';
import { fromJournalError } from './replay.js';

/** The statuses the Flows page shows as "now", by the name it shows them under. */
const NOW: Record<'dead' | 'waiting' | 'failed', MessageStatus> = { dead: 'dead', waiting: 'waiting-for-retry', failed: 'failed' };

export class FlowInfos {
  constructor(
    readonly runners: readonly FlowRunner[],
    readonly journal: Pick<MessageLog, 'statusCounts'>,
  ) {}

  /** Every flow's figures; the journal's counts are read once for all of them. */
  async read(): Promise<{ flows: unknown[]; at: string }> {
    let counts: Map<string, Partial<Record<MessageStatus, number>>> | undefined;
    let journalError: string | undefined;
    try {
      counts = new Map((await this.journal.statusCounts()).map((c) => [c.flow, c.counts]));
    } catch (err) {
      const e = fromJournalError(err);
      journalError = `${e.code}: ${e.message}`;
    }
    return { flows: this.runners.map((r) => this.#info(r, counts, journalError)), at: new Date().toISOString() };
  }

  #info(r: FlowRunner, counts: Map<string, Partial<Record<MessageStatus, number>>> | undefined, journalError: string | undefined): unknown {
    const sinks = [...r.def.sinks].map(([name, s]) => ({ name, adapter: s.adapter, requestReply: s.requestReply, connected: s.instance.ready(), health: r.sinkHealth(name) }));
    const ready = r.ready();
    const degraded = sinks.filter((s) => s.health.state === 'degraded').map((s) => s.name);
    const c = counts?.get(r.name) ?? {};
    return {
      name: r.name,
      ...(r.def.description ? { description: r.def.description } : {}),
      source: { adapter: r.def.source.adapter, requestReply: r.def.source.requestReply },
      sinks,
      steps: r.def.steps.map((s) => s.label),
      journal: { record: r.def.journal.record, bodyBytes: r.def.journal.maxBodyBytes },
      ready,
      health: !ready ? 'not ready' : degraded.length > 0 ? 'degraded' : 'ready',
      ...(degraded.length > 0 ? { degraded } : {}),
      ...(counts ? { now: Object.fromEntries(Object.entries(NOW).map(([k, status]) => [k, c[status] ?? 0])) } : { nowError: journalError }),
      ...(r.paused ? { state: 'paused', paused: r.paused } : { state: 'running' }),
      rate: r.meter.snapshot(),
      stats: { ...r.stats },
    };
  }
}
