import type { HubError } from '../core/errors.js';

/** A sink's health as its calls show it: `degraded` since its first failing call in a row, with the latest error. */
export interface SinkHealthState {
  state: 'ok' | 'degraded';
  /** When the run of failures began (degraded), or when it last recovered (ok, after a degradation). */
  since?: string;
  /** The latest failure of the run (degraded only). */
  error?: { code: string; message: string; at: string };
  /** Failing calls in a row (degraded only). */
  failures?: number;
}

/**
 * The health of a flow's sinks from their real calls, not only from whether they are connected: a downstream that
 * refuses every connection (a REST sink has no connection to lose) is `degraded`, with its error and since when, and
 * clears at the first call that succeeds. Only retryable failures count (the downstream is down, overloaded, timing
 * out): a permanent one (a 4xx for one message's content) says nothing of the sink's health.
 *
 * Called by SinkCalls on each call's end: the common case (a success while ok) is one map lookup and no write.
 */
export class SinkHealth {
  readonly #degraded = new Map<string, { since: string; error: { code: string; message: string; at: string }; failures: number }>();
  readonly #recovered = new Map<string, string>();

  ok(sink: string): void {
    if (this.#degraded.size === 0 || !this.#degraded.delete(sink)) return;
    this.#recovered.set(sink, new Date().toISOString());
  }

  failed(sink: string, err: HubError): void {
    if (!err.retryable) return;
    const at = new Date().toISOString();
    const error = { code: err.code, message: err.message, at };
    const now = this.#degraded.get(sink);
    if (now) {
      now.error = error;
      now.failures++;
    } else this.#degraded.set(sink, { since: at, error, failures: 1 });
  }

  of(sink: string): SinkHealthState {
    const d = this.#degraded.get(sink);
    if (d) return { state: 'degraded', since: d.since, error: { ...d.error }, failures: d.failures };
    const recovered = this.#recovered.get(sink);
    return recovered ? { state: 'ok', since: recovered } : { state: 'ok' };
  }
}
