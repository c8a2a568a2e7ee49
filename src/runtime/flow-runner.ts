import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { FlowResult, HubLimits, StepContext } from '../core/contracts.js';
import { hubError, toHubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { Bulkhead } from './bulkhead.js';
import { withRetry } from './retry.js';

export interface FlowStats {
  received: number;
  completed: number;
  failed: number;
  inFlight: number;
  lastError?: { code: string; message: string; step?: string; at: string; messageId: string };
}

/**
 * Runs one flow: its source feeds messages in, each goes through the steps under the flow's concurrency limit and
 * timeout, sinks are called with the flow's retry policy, and the source is told the outcome only when everything
 * downstream settled. The same runner serves hub mode (many runners, one server) and flow mode (one runner).
 */
export class FlowRunner {
  readonly stats: FlowStats = { received: 0, completed: 0, failed: 0, inFlight: 0 };
  readonly #bulkhead: Bulkhead;
  readonly #logger: Logger;
  #stopping = false;
  #idle: (() => void) | undefined;
  /** Messages in the flow, each with the controller that cuts it short (its timeout, or the end of the shutdown grace). */
  readonly #running = new Set<AbortController>();
  #shutDown = false;
  readonly #started = new Set<string>();

  constructor(
    readonly def: FlowDefinition,
    logger: Logger,
  ) {
    this.#bulkhead = new Bulkhead(def.concurrency, def.queue);
    this.#logger = logger.child({ flow: def.name });
  }

  get name(): string {
    return this.def.name;
  }

  /**
   * Starts the sinks, then the source (which adds its routes to `http`). Sinks and sources connect in the
   * background, so a rejection here is a configuration problem: it is thrown, and the hub does not start.
   */
  async start(http: FastifyInstance, limits: HubLimits): Promise<void> {
    await Promise.all(
      [...this.def.sinks].map(async ([name, sink]) => {
        try {
          await sink.instance.start();
          this.#started.add(name);
        } catch (err) {
          throw new Error(`flow "${this.def.name}": sink "${name}" could not start: ${(err as Error).message}`, { cause: err });
        }
      }),
    );
    await this.def.source.instance.start({
      flow: this.def.name,
      logger: this.#logger.child({ source: this.def.source.adapter }),
      http,
      limits,
      deliver: (message) => this.deliver(message),
    });
  }

  ready(): boolean {
    if (this.#stopping || !this.def.source.instance.ready()) return false;
    for (const sink of this.def.sinks.values()) if (!sink.instance.ready()) return false;
    return true;
  }

  /** Called by the source for each inbound message; see SourceContext.deliver. */
  async deliver(message: Message): Promise<FlowResult> {
    if (this.#stopping) throw hubError('FLOW_STOPPING', 'the hub is shutting down and takes no new messages');
    this.stats.received++;
    this.stats.inFlight++;
    try {
      const replies = await this.#bulkhead.run(() => this.#process(message));
      this.stats.completed++;
      return { replies };
    } catch (err) {
      const e = toHubError(err);
      this.stats.failed++;
      this.stats.lastError = { code: e.code, message: e.message, ...(e.step ? { step: e.step } : {}), at: new Date().toISOString(), messageId: message.id };
      const level = e.code === 'INTERNAL' ? 'error' : 'warn';
      this.#logger[level]({ messageId: message.id, correlationId: message.headers['correlation-id'], code: e.code, step: e.step, retryable: e.retryable, ...(e.code === 'INTERNAL' ? { err: e.cause ?? e } : {}) }, `message failed: ${e.message}`);
      throw e;
    } finally {
      this.stats.inFlight--;
      if (this.stats.inFlight === 0) this.#idle?.();
    }
  }

  // One controller and one timer per message (AbortSignal.timeout plus AbortSignal.any cost several times more, at
  // tens of thousands of messages a second). The abort reason is the HubError the message settles with.
  async #process(input: Message): Promise<Message[]> {
    const controller = new AbortController();
    if (this.#shutDown) controller.abort(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
    let fail: (err: unknown) => void = () => {};
    const aborted = new Promise<never>((_, reject) => (fail = reject));
    aborted.catch(() => {});
    controller.signal.addEventListener('abort', () => fail(controller.signal.reason), { once: true });
    const timer = setTimeout(() => controller.abort(hubError('TIMEOUT', `the flow did not finish within ${this.def.timeoutMs} ms`)), this.def.timeoutMs);
    this.#running.add(controller);
    try {
      return await Promise.race([this.#runSteps(input, controller.signal), aborted]);
    } finally {
      clearTimeout(timer);
      this.#running.delete(controller);
    }
  }

  async #runSteps(input: Message, signal: AbortSignal): Promise<Message[]> {
    // The message's child logger is made only if something logs: most messages never do.
    let logger: Logger | undefined;
    const log = (): Logger => (logger ??= this.#logger.child({ messageId: input.id }));
    const flow = this.def.name;
    const ctx: StepContext = {
      flow,
      get logger() {
        return log();
      },
      signal,
      send: (sink, message) => this.#send(sink, message, signal, log),
    };
    let current = [input];
    for (const step of this.def.steps) {
      const next: Message[] = [];
      for (const message of current) {
        try {
          next.push(...(await step.run(message, ctx)));
        } catch (err) {
          const e = toHubError(err);
          e.step ??= step.label;
          throw e;
        }
      }
      current = next;
      if (current.length === 0) break;
    }
    const { expression, status } = this.def.reply;
    if (!expression && status === undefined) return current;
    return Promise.all(
      current.map(async (m) => {
        try {
          const value = expression ? await expression.evaluate(m) : undefined;
          return m.with({ ...(value === undefined ? {} : { value }), meta: status === undefined ? {} : { status } });
        } catch (err) {
          const e = toHubError(err);
          e.step ??= 'reply';
          throw e;
        }
      }),
    );
  }

  async #send(sinkName: string, message: Message, signal: AbortSignal, log: () => Logger): Promise<Message | undefined> {
    const sink = this.def.sinks.get(sinkName);
    if (!sink) throw hubError('INTERNAL', `flow has no sink named "${sinkName}"`);
    return withRetry(
      this.def.retry,
      signal,
      (attempt) => sink.instance.send(attempt === 1 ? message : message.with({ meta: { attempt } }), { flow: this.def.name, get logger() { return log(); }, signal }),
      (err, attempt, wait) => log().info({ sink: sinkName, code: err.code, attempt, waitMs: wait }, `sink "${sinkName}" failed (${err.message}); retrying`),
    );
  }

  /**
   * Stops taking messages and waits up to `graceMs` for those in flight; then cuts the rest short (they settle as
   * FLOW_STOPPING, retryable: an HTTP caller gets 503, a broker redelivers) and stops the source and the sinks.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    if (this.stats.inFlight > 0) {
      await Promise.race([new Promise<void>((resolve) => (this.#idle = resolve)), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
    this.#shutDown = true;
    for (const c of this.#running) c.abort(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
    await this.def.source.instance.stop().catch((err: unknown) => this.#logger.warn({ err }, 'source did not stop cleanly'));
    await Promise.all([...this.def.sinks].filter(([name]) => this.#started.has(name)).map(([, s]) => s.instance.stop().catch((err: unknown) => this.#logger.warn({ err }, 'sink did not stop cleanly'))));
  }
}
