import { hubError } from '../core/errors.js';
import { Deadlines } from '../kit/deadlines.js';
import { Cancellation } from './cancellation.js';

/**
 * What cuts a flow's runs short: each its timeout, all on one timer (kit/deadlines.ts), or the end of the shutdown
 * grace (`stop`). The Cancellation makes its signal only if a step or sink asks for it. A cut's reason is the HubError the message
 * settles with. One per runner, on the message path: `track` and `untrack` once per run.
 */
export class RunTimeouts {
  readonly #running: Deadlines<Cancellation>;
  #stopped = false;

  constructor(timeoutMs: number) {
    this.#running = new Deadlines(timeoutMs, (run) => run.cut(hubError('TIMEOUT', `the flow did not finish within ${timeoutMs} ms`)));
  }

  /** Runs being tracked. */
  get size(): number {
    return this.#running.size;
  }

  /** A run's Cancellation, tracked from now until `untrack`: cut at its deadline, or at once once stopped. */
  track(): Cancellation {
    const run = new Cancellation();
    if (this.#stopped) run.cut(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
    this.#running.add(run);
    return run;
  }

  /** The run ended. */
  untrack(run: Cancellation): void {
    this.#running.delete(run);
  }

  /** The shutdown grace is over: every run tracked, and any tracked from now on, is cut short with FLOW_STOPPING. */
  stop(): void {
    this.#stopped = true;
    for (const run of this.#running.values()) run.cut(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
  }
}
