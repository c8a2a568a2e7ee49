import { hubError, toHubError } from '../core/errors.js';
import type { CircuitBreakerPolicy } from '../config/service.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** The clock (tests). */
  now?: () => number;
  /** Told of each change of state (the runner logs it). */
  onChange?: (state: CircuitState, failures: number) => void;
}

/**
 * The hub's circuit breaker of one sink, shared by every message of its flow (in one process). Closed, it counts
 * consecutive retryable failures (a 5xx, a timeout, a refused connection: the downstream's trouble); a success or a
 * permanent failure (a 4xx: the downstream is alive, the message is wrong) resets the count. At
 * `consecutiveErrors` it opens: every call fails at once with CIRCUIT_OPEN (retryable, so the message is retried
 * later or parked, never lost) without reaching the downstream. After `ejectionMs` one call is let through as a
 * probe (half-open; the others still fail fast): its success closes the circuit, its failure opens it again.
 * `intervalMs` and `maxEjectionPercent` are the mesh's only.
 */
export class CircuitBreaker {
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  readonly #now: () => number;

  constructor(
    readonly sink: string,
    readonly policy: CircuitBreakerPolicy,
    private readonly options: CircuitBreakerOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.policy.ejectionMs) return 'half-open';
    return this.#state;
  }

  /** Runs one call through the breaker: fails fast with CIRCUIT_OPEN while open, else records the call's outcome. */
  async call<T>(work: () => Promise<T>): Promise<T> {
    const state = this.state;
    const probe = state === 'half-open';
    if (state === 'open' || (probe && this.#probing)) {
      const left = Math.max(0, this.policy.ejectionMs - (this.#now() - this.#openedAt));
      throw hubError('CIRCUIT_OPEN', `the circuit of sink "${this.sink}" is open after ${this.#failures} consecutive failures; ${probe ? 'a probe call is under way' : `the next call is let through in ${left} ms`}`, { details: { sink: this.sink, retryAfterMs: left } });
    }
    if (probe) {
      this.#probing = true;
      this.#set('half-open');
    }
    try {
      const result = await work();
      this.#succeeded();
      return result;
    } catch (err) {
      if (toHubError(err).retryable) this.#failed(probe);
      else this.#succeeded();
      throw err;
    } finally {
      if (probe) this.#probing = false;
    }
  }

  #succeeded(): void {
    this.#failures = 0;
    if (this.#state !== 'closed') this.#set('closed');
  }

  #failed(probe: boolean): void {
    this.#failures++;
    if (probe || this.#failures >= this.policy.consecutiveErrors) {
      this.#openedAt = this.#now();
      this.#set('open');
    }
  }

  #set(state: CircuitState): void {
    const changed = this.#state !== state;
    this.#state = state;
    if (changed) this.options.onChange?.(state, this.#failures);
  }
}
