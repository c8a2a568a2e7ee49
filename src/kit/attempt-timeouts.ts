import type { Abortable, SendContext } from '../core/contracts.js';
import { Deadlines } from './deadlines.js';


/**
 * What undici's request takes as `signal` (it reads `aborted` and `reason` and adds one abort listener), made for
 * one attempt of an HTTP sink. A plain object: Node takes microseconds to make an AbortSignal, and
 * AbortSignal.timeout keeps a timer and the signal alive for the whole timeout even after the request finished.
 */
export class AttemptSignal implements Abortable {
  aborted = false;
  reason: unknown = undefined;
  /** When the attempt's time runs out (performance.now() milliseconds; set by Deadlines). */
  deadline = 0;
  #listener: (() => void) | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    this.#listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.#listener === listener) this.#listener = undefined;
  }

  /** Aborts the attempt with this reason; the first reason counts. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.();
  }

  /**
   * Aborts this attempt when the flow gives up on the message first (its timeout, or the hub stopping): through the
   * context's follow (no AbortSignal made), or its signal for a context without it.
   */
  follow(ctx: SendContext): void {
    this.#ctx = ctx;
    if (ctx.follow) ctx.follow(this);
    else if (ctx.signal.aborted) this.abort(ctx.signal.reason);
    else ctx.signal.addEventListener('abort', (this.#onSignal = () => this.abort(ctx.signal.reason)));
  }

  /** Stops following the flow: the attempt is over. */
  unfollow(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    this.#ctx = undefined;
    if (ctx.unfollow) ctx.unfollow(this);
    else if (this.#onSignal) ctx.signal.removeEventListener('abort', this.#onSignal);
  }

  #ctx: SendContext | undefined;
  #onSignal: (() => void) | undefined;

  /** This object as the AbortSignal type undici's options are declared with (it reads only what this class has). */
  get asSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}

/** The reason an attempt is aborted with when its sink's timeout ran out. */
export class AttemptTimedOut extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/**
 * One HTTP sink's timeout, connect to last byte, for all its attempts in flight on one timer (Deadlines). `begin`
 * when an attempt starts, `end` when it settled (either way); an attempt still running at its deadline is aborted
 * with an AttemptTimedOut, which `transportError` makes a TIMEOUT hub error.
 */
export class AttemptTimeouts {
  readonly #running: Deadlines<AttemptSignal>;

  constructor(readonly timeoutMs: number) {
    this.#running = new Deadlines(timeoutMs, (attempt) => attempt.abort(new AttemptTimedOut(timeoutMs)));
  }

  /** A new attempt, following the flow's cut when given its send context. */
  begin(ctx?: SendContext): AttemptSignal {
    const attempt = new AttemptSignal();
    if (ctx) attempt.follow(ctx);
    this.#running.add(attempt);
    return attempt;
  }

  end(attempt: AttemptSignal): void {
    attempt.unfollow();
    this.#running.delete(attempt);
  }

  /** How many attempts are in flight (for tests). */
  get size(): number {
    return this.#running.size;
  }
}
