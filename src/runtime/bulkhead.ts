import { hubError } from '../core/errors.js';

/**
 * A flow's concurrency limit: at most `limit` messages run at once, at most `queue` wait; a message beyond that is
 * refused with FLOW_OVERLOADED (retryable) instead of piling up without bound.
 */
export class Bulkhead {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly limit: number,
    readonly queue: number,
  ) {}

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Takes a place if one is free; false when the caller has to wait for one (enter). */
  tryEnter(): boolean {
    if (this.#active >= this.limit) return false;
    this.#active++;
    return true;
  }

  /** Takes a place, waiting in line for one; rejects with FLOW_OVERLOADED when the line is full. */
  async enter(): Promise<void> {
    if (this.tryEnter()) return;
    if (this.#waiting.length >= this.queue) throw hubError('FLOW_OVERLOADED', `flow is at its limit of ${this.limit} messages with ${this.queue} waiting`);
    // leave() hands its place straight to the first in line.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Gives a place back (to the first in line, if any). Once per place taken. */
  leave(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (!this.tryEnter()) await this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }
}
