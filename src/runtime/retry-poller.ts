import type { Logger } from 'pino';
import type { RetryClaim, RetryQueue } from '../journal/contract.js';
import type { FlowRunner } from './flow-runner.js';

export interface RetryPollerOptions {
  /** How often to look for due retries when the last look found fewer than it could take. */
  pollMs: number;
  /** Most retries this process runs at once (each flow's bulkhead limits it further). */
  maxInFlight?: number;
  /** The journal's claim lease: a claim is renewed every third of it while its retry runs. */
  leaseMs?: number;
  /**
   * How long a claim may go unanswered before the journal counts as unavailable (default 5 s). A backend may hold
   * a claim sent just before its store went away until the store is back (Redis workers wait out a restart), so
   * an answer that does not come is reported like one that fails.
   */
  unansweredMs?: number;
}

/**
 * Each hub process's worker for durable retries: claims due retries from the journal (exactly one replica gets
 * each), hands each to its flow's runner, and claims more as they finish. While the journal is unavailable (a
 * claim fails, or goes unanswered) it says so once and keeps trying, so it resumes by itself when the journal is
 * back, and says that once too.
 */
export class RetryPoller {
  readonly #inFlight = new Set<Promise<void>>();
  readonly #max: number;
  #timer: NodeJS.Timeout | undefined;
  #halted = false;
  #journalDown = false;
  #ticking = false;

  constructor(
    readonly journal: RetryQueue,
    readonly runners: ReadonlyMap<string, FlowRunner>,
    readonly logger: Logger,
    readonly options: RetryPollerOptions,
  ) {
    this.#max = options.maxInFlight ?? 64;
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#halted || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, ms);
  }

  async #tick(): Promise<void> {
    if (this.#halted || this.#ticking) return;
    this.#ticking = true;
    let claims: RetryClaim[] = [];
    const room = this.#max - this.#inFlight.size;
    const waitMs = this.options.unansweredMs ?? 5_000;
    const unanswered = setTimeout(() => this.#down(new Error(`a claim of due retries got no answer within ${waitMs} ms`)), waitMs);
    try {
      // Only this process's flows: another flow's retry claimed here would wait out its whole lease (flow mode).
      if (room > 0) claims = await this.journal.claimDueRetries(room, { flows: [...this.runners.keys()] });
      if (this.#journalDown) this.logger.info('the journal is back: durable retries resume');
      this.#journalDown = false;
    } catch (err) {
      this.#down(err);
    } finally {
      clearTimeout(unanswered);
      this.#ticking = false;
    }
    for (const claim of claims) this.#run(claim);
    // A full batch suggests more are due: look again at once.
    this.#schedule(claims.length > 0 && claims.length === room ? 0 : this.options.pollMs);
  }

  #down(err: unknown): void {
    if (!this.#journalDown) this.logger.warn({ err }, 'the journal is unavailable: durable retries wait until it is back');
    this.#journalDown = true;
  }

  #run(claim: RetryClaim): void {
    const runner = this.runners.get(claim.flow);
    // Not claimed for flows this process does not run; should a backend hand one out anyway, its claim is left to
    // run out, which writes nothing, and then a process that runs the flow takes it.
    if (!runner) return;
    // The claim stays ours while the retry runs, however long it waits for a slot or a slow downstream.
    const renew = setInterval(() => void this.journal.extendRetry(claim).catch((err: unknown) => this.logger.debug({ err, messageId: claim.id }, 'could not renew a retry claim')), Math.max(100, (this.options.leaseMs ?? 30_000) / 3));
    const p = runner
      .retry(claim)
      .catch((err: unknown) => this.logger.warn({ err, messageId: claim.id, flow: claim.flow }, 'a durable retry could not be finished; it is handed out again when its claim runs out'))
      .finally(() => {
        clearInterval(renew);
        this.#inFlight.delete(p);
        if (this.#inFlight.size < this.#max / 2) this.#schedule(0);
      });
    this.#inFlight.add(p);
  }

  /** Claims nothing more. */
  halt(): void {
    this.#halted = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves once the retries it started have finished (the runners' stop cuts them short after the grace). */
  async drained(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
