/** Something with a deadline (performance.now() milliseconds), set by Deadlines when it is added. */
export interface Timed {
  deadline: number;
}

/**
 * Items that all share one timeout, on one timer: added in the order they start, which (the timeout being the same)
 * is the order of their deadlines, so the timer waits only for the first. Node's AbortSignal.timeout plus
 * AbortSignal.any per item would cost microseconds each and keep a timer and a signal alive for the whole timeout
 * even after the item ended, at tens of thousands of items a second. An item still there at its deadline is taken
 * out and handed to `onExpired`. Used for a flow's runs (runtime/run-timeouts.ts) and an HTTP sink's attempts
 * (kit/attempt-timeouts.ts).
 */
export class Deadlines<T extends Timed> {
  readonly #items = new Set<T>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly timeoutMs: number,
    readonly onExpired: (item: T) => void,
  ) {}

  get size(): number {
    return this.#items.size;
  }

  /** Starts the item's time: its deadline is now plus the timeout. */
  add(item: T): void {
    item.deadline = performance.now() + this.timeoutMs;
    this.#items.add(item);
    this.#timer ??= setTimeout(this.#expire, this.timeoutMs);
  }

  /** The item ended; with none left, the timer goes too. */
  delete(item: T): void {
    this.#items.delete(item);
    if (this.#items.size === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Every item still there, first deadline first. */
  values(): IterableIterator<T> {
    return this.#items.values();
  }

  /**
   * Hands over the items whose deadline passed (the first ones), and sets the timer for the next deadline, even when
   * `onExpired` throws or adds an item (whose own timer it takes over).
   */
  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    try {
      for (const item of this.#items) {
        if (item.deadline > now) break;
        this.#items.delete(item);
        this.onExpired(item);
      }
    } finally {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      const next = this.#items.values().next();
      if (!next.done) this.#timer = setTimeout(this.#expire, Math.max(0, Math.ceil(next.value.deadline - performance.now())));
    }
  };
}
