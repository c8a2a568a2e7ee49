import type { Consumer } from 'kafkajs';
import type { Logger } from 'pino';
import { sleep } from './client.js';
import { PartitionOffsets } from './offsets.js';

/** The least time between two commits of a running consumer: a settle waits at most this long for its commit. */
const COMMIT_SPACING_MS = 50;
/** Commits on a timer as well, so that one a rebalance or an outage made fail is made again without a new settle. */
const COMMIT_INTERVAL_MS = 1_000;

/**
 * One kafkajs consumer's life and the offsets it commits. The Kafka source replaces it by a new one after a crash
 * kafkajs does not recover from; once closed it commits nothing more, and what it had fetched is delivered again
 * to whichever member owns the partition next (at least once).
 */
export class Generation {
  readonly consumer: Consumer;
  /** What may be committed of each partition this member was given, by "topic/partition". */
  readonly offsets = new Map<string, PartitionOffsets>();
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #committing: Promise<void> | undefined;
  /** Settled while a commit was on its way: another commit follows it. */
  #dirty = false;
  readonly #logger: Logger;
  /** The source stopping: cuts the spacing between two commits short. */
  readonly #stopping: AbortSignal;

  constructor(consumer: Consumer, logger: Logger, stopping: AbortSignal) {
    this.consumer = consumer;
    this.#logger = logger;
    this.#stopping = stopping;
  }

  /** Once closed (retired: stopped, crashed, or never got going) it commits nothing more. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  /** Commits every COMMIT_INTERVAL_MS whatever moved, until closed: a settle commits at once besides (commitSoon). */
  commitOnTimer(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      if (!this.#committing) this.commitSoon();
    }, COMMIT_INTERVAL_MS);
    this.#timer.unref();
  }

  offsetsOf(topic: string, partition: number): PartitionOffsets {
    const key = `${topic}/${partition}`;
    let offsets = this.offsets.get(key);
    if (!offsets) this.offsets.set(key, (offsets = new PartitionOffsets()));
    return offsets;
  }

  /** After a rebalance: forgets the partitions no longer assigned to this member (their new owner commits them). */
  keepAssigned(assigned: Record<string, number[]>): void {
    for (const key of this.offsets.keys()) {
      const [topic, partition] = splitKey(key);
      if (!assigned[topic]?.includes(partition)) this.offsets.delete(key);
    }
  }

  /**
   * Commits soon; commits that pile up while one is on its way, or within COMMIT_SPACING_MS after it, become one
   * (at thousands of records a second a commit per settle would cost more than the records).
   */
  commitSoon(): void {
    if (this.#committing) {
      this.#dirty = true;
      return;
    }
    this.#committing = this.commit().then(() => (this.#dirty ? sleep(COMMIT_SPACING_MS, this.#stopping) : undefined)).finally(() => {
      this.#committing = undefined;
      if (this.#dirty) {
        this.#dirty = false;
        this.commitSoon();
      }
    });
  }

  /** Commits every partition's offset that moved since its last commit; a failed commit is left to the next one. */
  async commit(): Promise<void> {
    if (this.#closed) return;
    const commits: { topic: string; partition: number; offset: string }[] = [];
    const marks: [PartitionOffsets, bigint][] = [];
    for (const [key, offsets] of this.offsets) {
      const offset = offsets.pending();
      if (offset === undefined) continue;
      const [topic, partition] = splitKey(key);
      commits.push({ topic, partition, offset: offset.toString() });
      marks.push([offsets, offset]);
    }
    if (commits.length === 0) return;
    try {
      await this.consumer.commitOffsets(commits);
      for (const [offsets, offset] of marks) offsets.committed(offset);
    } catch (err) {
      // A rebalance or an outage: the next settle commits again, or the new owner redelivers (at least once).
      this.#logger.debug({ err, commits }, `commit failed: ${(err as Error).message}`);
    }
  }
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf('/');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
