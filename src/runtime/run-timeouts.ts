import { hubError } from '../core/errors.js';
import { Cancellation } from './cancellation.js';

/**
 * What cuts a flow's runs short: each its timeout, or the end of the shutdown grace (`stop`). The runs are kept in
 * the order they started; since every run of a flow has the same timeout, that is also the order of their deadlines,
 * so one timer (at the first deadline) serves them all rather than one timer each. AbortSignal.timeout plus
 * AbortSignal.any per message would cost several times more, at tens of thousands of messages a second; the
 * Cancellation makes its signal only if a step or sink asks for it. A cut's reason is the HubError the message
 * settles with. One per runner, on the message path: `track` and `untrack` once per run.
 */
export class RunTimeouts {
  readonly #timeoutMs: number;
  readonly #running = new Set<Cancellation>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Runs being tracked. */
  get size(): number {
    return this.#running.size;
  }

  /** A run's Cancellation, tracked from now until `untrack`: cut at its deadline, or at once once stopped. */
  track(): Cancellation {
    const run = new Cancellation();
    if (this.#stopped) run.cut(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
    run.deadline = performance.now() + this.#timeoutMs;
    this.#running.add(run);
    this.#timer ??= setTimeout(this.#expire, this.#timeoutMs);
    return run;
  }

  /** The run ended; with none left, the timer goes too. */
  untrack(run: Cancellation): void {
    this.#running.delete(run);
    if (this.#running.size === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** The shutdown grace is over: every run tracked, and any tracked from now on, is cut short with FLOW_STOPPING. */
  stop(): void {
    this.#stopped = true;
    for (const run of this.#running) run.cut(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
  }

  /** Cuts the runs whose deadline passed (the first ones in #running), and sets the timer for the next deadline. */
  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const run of this.#running) {
      if (run.deadline > now) {
        this.#timer = setTimeout(this.#expire, Math.ceil(run.deadline - now));
        return;
      }
      run.cut(hubError('TIMEOUT', `the flow did not finish within ${this.#timeoutMs} ms`));
    }
  };
}
