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

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) {
      if (this.#waiting.length >= this.queue) throw hubError('FLOW_OVERLOADED', `flow is at its limit of ${this.limit} messages with ${this.queue} waiting`);
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else this.#active++;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
