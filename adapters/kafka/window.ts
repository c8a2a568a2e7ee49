import type { KafkaMessage } from 'kafkajs';

/** How the flow left a record: settled, to be delivered again after a backoff, or cut off by the source stopping. */
export type Outcome = 'done' | 'retry' | 'stopped';

/** #wants when nothing is waited for, and when the end of the batch (all settled) is. */
const NOTHING = -2;
const ALL = -1;

/**
 * The records of one ordered batch handed to the flow, pipelined (see KafkaSource's ordered consumption): each one's
 * outcome by its place, and the one thing the batch loop waits for at a time: the record just handed over being
 * issued (its sink write is out, DeliverOptions.onIssued) or settled; or, at the end, all of them settled. One
 * object per batch rather than a promise and closures per record: at tens of thousands of records a second, what
 * each record in flight keeps alive is what the garbage collector copies.
 */
export class OrderedWindow {
  readonly records: KafkaMessage[] = [];
  /** Each record's outcome, by place; undefined while it is in the flow. */
  readonly outcomes: (Outcome | undefined)[] = [];
  unsettled = 0;
  /** A record did not settle: none behind it is handed over any more. */
  broken = false;
  /** The source stopped: waits end at once. */
  stopped = false;
  /** The batch is over: outcomes that come later count for nothing (the partition is fetched again). */
  closed = false;
  #lastIssued = -1;
  #wants = NOTHING;
  #wake: (() => void) | undefined;

  /**
   * DeliverOptions.onIssued of every record of the window. Only the newest one can be unissued: the next record is
   * handed over once the one before it is issued or settled, and a record is issued at most once, before it settles.
   */
  readonly issued = (): void => {
    this.#lastIssued = this.records.length - 1;
    if (this.#wants === this.#lastIssued) this.#resume();
  };

  /** What every pipelined record of the window is delivered with (one object for them all). */
  readonly pipelined = { onIssued: this.issued };

  /** Ends the current wait and any later one at once (the source stops). */
  readonly stop = (): void => {
    this.stopped = true;
    this.#resume();
  };

  /** Takes a record into the window; returns its place. */
  add(record: KafkaMessage): number {
    this.records.push(record);
    this.outcomes.push(undefined);
    this.unsettled++;
    return this.records.length - 1;
  }

  settle(place: number, outcome: Outcome): void {
    this.outcomes[place] = outcome;
    this.unsettled--;
    if (outcome !== 'done') this.broken = true;
    if (this.#wants === place || (this.#wants === ALL && this.unsettled === 0)) this.#resume();
  }

  /** Resolves once the record at `place` is issued or settled, or the source stops; undefined when it is already. */
  untilIssued(place: number): Promise<void> | undefined {
    if (this.#lastIssued >= place || this.outcomes[place] !== undefined || this.stopped) return undefined;
    return this.#wait(place);
  }

  /** Resolves once every record settled, or (unless `evenStopped`) the source stops; undefined when they are. */
  untilSettled(evenStopped = false): Promise<void> | undefined {
    if (this.unsettled === 0 || (this.stopped && !evenStopped)) return undefined;
    return this.#wait(ALL);
  }

  /** The first place whose record did not settle as done (-1: all did). */
  firstUnsettled(): number {
    return this.outcomes.findIndex((o) => o !== 'done');
  }

  #wait(wants: number): Promise<void> {
    this.#resume();
    this.#wants = wants;
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  #resume(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    this.#wants = NOTHING;
    wake?.();
  }
}
