import type { FastifyInstance } from 'fastify';
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { DeliverOptions, FlowResult, HubLimits } from '../core/contracts.js';
import { isoNow } from '../core/clock.js';
import { hubError, toHubError, type HubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Journal, RetryClaim } from '../journal/contract.js';
import { MessageTrail } from '../journal/trail.js';
import { Bulkhead } from './bulkhead.js';
import type { Cancellation } from './cancellation.js';
import { DedupeKeys, LEASE_MARGIN_MS } from './dedupe-keys.js';
import { FlowControl, type MessageNotice } from './flow-control.js';
import { FlowMeter, type FlowStats } from './flow-meter.js';
import { journalUnavailable, recordOutcome, trailSubject, transportFacts } from './journal.js';
import { ALWAYS_NEW, Lane, MessageContext, type Deduper, type Handling, type ReplayTarget, type Sender } from './message-context.js';
import type { FlowMetrics } from './metrics.js';
import { Parking } from './parking.js';
import { RunTimeouts } from './run-timeouts.js';
import { Refusals } from './refusals.js';
import { SinkCalls } from './sink-calls.js';
import type { SinkHealthState } from './sink-health.js';
import { EMITTED_BY, firstStep, StepRuntimes } from './step-runtime.js';
import { failSpan, FlowTracing } from './tracing.js';
import { FlowTracer, type TraceSession } from './flow-trace.js';

export interface FlowRunnerOptions {
  /** How much later a durable retry that comes due while the flow is paused is due again (default 30 s). */
  pausedRetryMs?: number;
  /** The flow's Prometheus metrics (HubMetrics.forFlow); none in unit tests that do not look at them. */
  metrics?: FlowMetrics;
  /** The Redis of the hub's journal, for steps whose state replicas share (throttle). */
  redisUrl?: string;
}

/** How a durable retry's run is handled by #run: from the first step, not pipelined. */
const RETRY_RUN: Handling = { park: true };

/** Steps that only change the message in memory: the admin's check of an edited replay body may run them. */
export const IN_MEMORY_STEPS: ReadonlySet<string> = new Set(['xml_to_json', 'json_to_xml', 'transform', 'set_headers', 'validate']);

/** Steps before a flow's final `to` that keep ordered pipelining possible: one message in, at most one out, no I/O. */
const ORDER_KEEPING = new Set([...IN_MEMORY_STEPS, 'filter']);

/**
 * True when each message reaches exactly one one-way sink, in the last step, and nothing before that does I/O or
 * multiplies it: then the order in which messages are handed to the flow is the order of their sink writes, and a
 * source may pipeline (DeliverOptions.onIssued).
 */
function pipelinable(def: FlowDefinition): boolean {
  const last = def.steps.at(-1);
  if (last?.kind !== 'to' || typeof last.config !== 'string') return false;
  const sink = def.sinks.get(last.config);
  if (!sink || sink.requestReply || def.deadLetterSink === last.config) return false;
  return def.steps.slice(0, -1).every((step) => ORDER_KEEPING.has(step.kind));
}

const now = isoNow;

/**
 * Runs one flow: its source feeds messages in, each goes through the steps under the flow's concurrency limit and
 * timeout, sinks are called with the flow's retry policy (sink-calls.ts), and the source is told the outcome only
 * when everything downstream settled. With a journal, what happened is recorded under the flow's journal policy, and
 * a message a source that waits for no reply cannot deliver is parked (waiting for a durable retry, or dead) before
 * the source is told (parking.ts): then the source settles its transport, and the journal holds the message. The
 * runner keeps the lifecycle (start, stop), the run of the steps, and one message's way through them (#handle); the
 * rest is its parts', one instance each, made with the runner and called with plain method calls: SinkCalls,
 * Parking, DedupeKeys, FlowControl (pause, resume, watch) and RunTimeouts. The same runner serves hub mode (many
 * runners, one server) and flow mode (one runner).
 */
export class FlowRunner {
  readonly stats: FlowStats = { received: 0, completed: 0, failed: 0, inFlight: 0, waiting: 0, dead: 0, retried: 0 };
  /** Delivered messages per second and the p99 of their time in the runner, over the last minute. */
  readonly meter = new FlowMeter();
  readonly #bulkhead: Bulkhead;
  readonly #logger: Logger;
  readonly #journal: Journal | undefined;
  #stopping = false;
  #idle: (() => void) | undefined;
  /** What cuts each message's run short: its timeout, or the end of the shutdown grace. */
  readonly #timeouts: RunTimeouts;
  readonly #started = new Set<string>();
  readonly #metrics: FlowMetrics | undefined;
  readonly #tracing: FlowTracing;
  readonly #pipelinable: boolean;
  readonly #sinks: SinkCalls;
  readonly #keys: DedupeKeys;
  readonly #control: FlowControl;
  readonly #parking: Parking;
  readonly #refusals: Refusals;
  /** Set only while someone traces the flow (flow-trace.ts); then #steps and #sender are its wrapped ones. */
  #tracer: FlowTracer | undefined;
  #steps: FlowDefinition['steps'];
  #sender: Sender;
  /** The steps with a lifecycle of their own (aggregate, recipient_list, throttle). */
  readonly #stepRuntimes: StepRuntimes;
  readonly #redisUrl: string | undefined;

  constructor(
    readonly def: FlowDefinition,
    logger: Logger,
    journal?: Journal,
    options: FlowRunnerOptions = {},
  ) {
    this.#bulkhead = new Bulkhead(def.concurrency, def.queue);
    this.#timeouts = new RunTimeouts(def.timeoutMs);
    this.#logger = logger.child({ flow: def.name });
    this.#journal = journal;
    this.#metrics = options.metrics;
    this.#tracing = new FlowTracing(def);
    this.#pipelinable = pipelinable(def);
    this.#sinks = new SinkCalls(def, this.#logger, this.#tracing, this.#metrics);
    this.#steps = def.steps;
    this.#sender = this.#sinks.sender;
    this.#keys = new DedupeKeys(def.name, journal, this.#logger, def.timeoutMs + LEASE_MARGIN_MS);
    this.#control = new FlowControl(def.name, this.#logger);
    this.#refusals = new Refusals(def, journal, this.#logger);
    this.#stepRuntimes = new StepRuntimes(def, this.#logger, journal);
    this.#redisUrl = options.redisUrl;
    this.#parking = new Parking(def, this.#logger, journal, {
      refusals: this.#refusals,
      stats: this.stats,
      meter: this.meter,
      metrics: this.#metrics,
      tracing: this.#tracing,
      sinks: this.#sinks,
      control: this.#control,
      keys: this.#keys,
      runs: {
        stopping: () => this.#stopping,
        enter: () => this.#enter(),
        run: (message, trail, span) => this.#runRetry(message, trail, span),
        leave: () => this.#leave(),
      },
      pausedRetryMs: options.pausedRetryMs,
    });
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
    if (this.#stepRuntimes.any) await this.#stepRuntimes.start((message, from) => this.#emit(message, from), this.#redisUrl);
    await this.def.source.instance.start({
      flow: this.def.name,
      logger: this.#logger.child({ source: this.def.source.adapter }),
      http,
      limits,
      deliver: (message, options) => this.deliver(message, options),
      refused: (input, error) => this.#refusals.refused(input, error),
    });
  }

  ready(): boolean {
    if (this.#stopping || !this.def.source.instance.ready()) return false;
    for (const sink of this.def.sinks.values()) if (!sink.instance.ready()) return false;
    return true;
  }

  /** A sink's health from its real calls (degraded while its calls fail for retryable reasons); see SinkHealth. */
  sinkHealth(sink: string): SinkHealthState {
    return this.#sinks.health.of(sink);
  }

  /**
   * Called by the source for each inbound message; see SourceContext.deliver. A source that waits for a reply gets
   * the error; one that does not gets the message parked in the journal (when the runner has one).
   */
  deliver(message: Message, options?: DeliverOptions): Promise<FlowResult> {
    if (this.#control.holding) return this.#whenResumed(message);
    const lane = options?.onIssued && this.#pipelinable ? new Lane(options.onIssued) : undefined;
    if (this.#tracer) return this.#tracer.run(message, () => this.#handle(message, { park: !this.def.source.requestReply, lane }));
    return this.#handle(message, { park: !this.def.source.requestReply, lane });
  }

  /**
   * Follows the flow's next messages step by step for `session` (flow-trace.ts) until it has its count, its time
   * is up or it ends; nothing is wrapped while no session is open.
   */
  trace(session: TraceSession): void {
    if (this.#stopping) {
      session.end('flow-stopped');
      return;
    }
    if (!this.#tracer) {
      const tracer = new FlowTracer(this.def, () => {
        if (this.#tracer !== tracer) return;
        this.#tracer = undefined;
        this.#steps = this.def.steps;
        this.#sender = this.#sinks.sender;
      });
      this.#tracer = tracer;
      this.#steps = tracer.steps(this.def.steps);
      this.#sender = tracer.sender(this.#sinks.sender);
    }
    this.#tracer.join(session);
  }

  /** The open trace sessions of the version this runner replaces (a reload): they follow this one from now on. */
  adoptTraces(old: FlowRunner): void {
    for (const s of old.#tracer ? [...old.#tracer.sessions] : []) {
      old.#tracer!.sessions.delete(s);
      this.trace(s);
    }
  }

  /** How many trace sessions are open on the flow. */
  get traces(): number {
    return this.#tracer?.sessions.size ?? 0;
  }

  /**
   * While paused the flow takes no new messages. A source that waits for a reply (REST, SOAP) gets FLOW_PAUSED
   * (retryable: 503 with Retry-After). A broker source's delivery is held here until resume or stop, so the
   * source's own backpressure (AMQP prefetch, a Kafka partition's one delivery at a time) stops its consumption;
   * stop lets the held deliveries go on, to settle as FLOW_STOPPING (the broker gets them back). Durable retries
   * wait too (Parking.retry). The pause lives in this process's memory: a restart runs the flow again.
   */
  pause(by: string): boolean {
    return this.#control.pause(by);
  }

  /** Takes messages again; held deliveries go on. False when it was not paused. */
  resume(by: string): boolean {
    return this.#control.resume(by);
  }

  get paused(): { at: string; by: string; held: number } | undefined {
    return this.#control.paused;
  }

  /** See FlowControl.watch: `watcher` hears of each message whose status changes off the common path. */
  watch(watcher: (notice: MessageNotice) => void): () => void {
    return this.#control.watch(watcher);
  }

  async #whenResumed(message: Message): Promise<FlowResult> {
    if (this.def.source.requestReply) throw hubError('FLOW_PAUSED', `flow "${this.name}" is paused by an operator and takes no new messages; retry later`);
    await this.#control.hold();
    return this.#handle(message, { park: true });
  }

  /**
   * Runs an operator's replay (a new message with `meta.replayOf`, booked with journal.recordReplay first): from the
   * start, from a step, or straight to a sink. Nobody waits for its reply, so a failure is parked like a broker
   * message's. `recorded`: the journal already holds the message whole (the Replayer records it, with a retry due
   * later as its safety net, before it resolves the original), so its trail goes on from that record.
   */
  replay(message: Message, target: ReplayTarget = {}, recorded = false): Promise<FlowResult> {
    if (target.sink !== undefined && !this.def.sinks.has(target.sink)) throw hubError('NOT_FOUND', `flow "${this.name}" has no sink named "${target.sink}" (sinks: ${[...this.def.sinks.keys()].join(', ')})`);
    if (target.startAt !== undefined && !(Number.isInteger(target.startAt) && target.startAt >= 0 && target.startAt < this.def.steps.length)) {
      throw hubError('NOT_FOUND', `flow "${this.name}" has no step ${target.startAt} (steps 0 to ${this.def.steps.length - 1})`);
    }
    const from = target.startAt === undefined && target.sink === undefined && message.headers[EMITTED_BY] !== undefined ? firstStep(this.def, message) : undefined;
    return this.#handle(message, { park: true, target, recorded, ...(from ? { from } : {}) });
  }

  /** Runs one durable retry claimed from the journal (the retry poller calls it); see Parking.retry. */
  retry(claim: RetryClaim): Promise<void> {
    return this.#parking.retry(claim);
  }

  /** A message a step emitted (StepRuntime.emit), run from step `from` and parked when it fails: resolves once delivered or parked. */
  async #emit(message: Message, from: number): Promise<void> {
    await this.#handle(message, { park: true, from });
  }

  async #handle(message: Message, how: Handling): Promise<FlowResult> {
    if (this.#stopping) throw hubError('FLOW_STOPPING', 'the hub is shutting down and takes no new messages');
    this.stats.received++;
    this.#metrics?.received.inc();
    this.#enter();
    const span = this.#tracing.message(message);
    const clock = performance.now();
    let trail: MessageTrail | undefined;
    /** Delivered or parked: the dedupe keys it passed are kept; handed back to its source or caller: given up. */
    let settled = false;
    try {
      if (this.#journal) {
        const begun = this.#begin(message, how);
        trail = begun instanceof MessageTrail ? begun : await begun;
      }
      // The bulkhead by hand rather than bulkhead.run: one async call less per message.
      if (!this.#bulkhead.tryEnter()) await this.#bulkhead.enter();
      let replies: Message[];
      const run = this.#timeouts.track();
      try {
        replies = await this.#run(message, run, trail, how, span);
      } finally {
        this.#timeouts.untrack(run);
        this.#bulkhead.leave();
      }
      settled = true;
      this.stats.completed++;
      const tookMs = performance.now() - clock;
      this.meter.record(tookMs);
      this.#metrics?.delivered.inc();
      this.#metrics?.deliveredIn.observe(tookMs / 1000);
      if (trail) {
        const written = recordOutcome(trail, { type: 'delivered', at: now(), attempt: message.meta.attempt ?? 1 }, this.#logger);
        if (written) await written;
      }
      if (how.target) this.#control.notify(message, 'delivered');
      return { replies };
    } catch (err) {
      const parked = await this.#parking.notDelivered(message, err, how, trail, span, clock);
      settled = true;
      return parked;
    } finally {
      span?.end();
      if (this.#keys.took(message)) await this.#keys.settle(message, settled);
      this.#leave();
    }
  }

  /**
   * The message's steps, cut short by `run`, under the message's span. Apart from #handle: a closure there would
   * make each call of it allocate the variables it captures, traced or not.
   */
  #run(message: Message, run: Cancellation, trail: MessageTrail | undefined, how: Handling, span: Span | undefined): Promise<Message[]> {
    if (this.#tracing.untraced(span)) return run.race(this.#runSteps(message, run, trail, how.target, how.lane, how.from));
    return this.#tracing.within(span, () => run.race(this.#runSteps(message, run, trail, how.target, how.lane, how.from)), true);
  }

  /** A durable retry's run (Parking.retry): its steps from the first, under the bulkhead and the flow's timeout. */
  #runRetry(message: Message, trail: MessageTrail, span: Span | undefined): Promise<Message[]> {
    return this.#bulkhead.run(async () => {
      const run = this.#timeouts.track();
      try {
        return await this.#run(message, run, trail, message.headers[EMITTED_BY] === undefined ? RETRY_RUN : { park: true, from: firstStep(this.def, message) }, span);
      } finally {
        this.#timeouts.untrack(run);
      }
    });
  }

  /** The message's record in the journal, begun (or resumed: a replay booked with its safety retry). */
  #begin(message: Message, how: Handling): MessageTrail | Promise<MessageTrail> {
    const journal = this.#journal!;
    try {
      if (how.recorded) return MessageTrail.resume(journal, this.def.journal, trailSubject(message));
      const facts = this.def.journal.record === 'all' ? transportFacts(message.meta) : undefined;
      const begun = MessageTrail.begin(journal, this.def.journal, trailSubject(message), message.meta.attempt ?? 1, facts);
      return begun instanceof MessageTrail ? begun : begun.catch((err: unknown) => Promise.reject(journalUnavailable(err, 'record the message')));
    } catch (err) {
      throw journalUnavailable(err, 'record the message');
    }
  }

  #enter(): void {
    this.stats.inFlight++;
    this.#metrics?.inFlight.inc();
  }

  #leave(): void {
    this.stats.inFlight--;
    this.#metrics?.inFlight.dec();
    if (this.stats.inFlight === 0) this.#idle?.();
  }

  #runSteps(input: Message, cancel: Cancellation, trail: MessageTrail | undefined, target: ReplayTarget = {}, lane?: Lane, from = 0): Promise<Message[]> {
    if (target.sink !== undefined) return this.#straightToSink(target.sink, input, cancel, trail);
    // A replay is an operator's decision: dedupe steps let it through.
    const dedupe = target.startAt !== undefined || input.meta.replayOf ? ALWAYS_NEW : this.#keys.deduper;
    const ctx = this.#context(input, cancel, this.#sender, dedupe, lane);
    ctx.trail = trail;
    // Resuming at a step: the steps before it run again, but one-way sinks already have the message.
    if (target.startAt !== undefined && target.startAt > 0) {
      ctx.resume = target.startAt;
      ctx.replay = this.#context(input, cancel, this.#sinks.replaySender, dedupe, lane);
    }
    try {
      const out = this.#stepsFrom(from, [input], ctx);
      return Array.isArray(out) ? Promise.resolve(out) : out;
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * Runs the steps from step `i` on `current`, the messages step i - 1 put out. One message goes through a step
   * with no async frame of its own (a suspended frame per message in flight is what the garbage collector copies),
   * and through a step that answers at once without a turn of the microtask queue; several (after a split) go
   * through #stepEach.
   */
  #stepsFrom(i: number, current: Message[], ctx: MessageContext): Message[] | Promise<Message[]> {
    const steps = this.#steps;
    for (; ; i++) {
      if (i === steps.length || current.length === 0) {
        const { expression, status } = this.def.reply;
        return expression || status !== undefined ? this.#replies(current) : current;
      }
      if (current.length > 1) return this.#stepEach(i, current, ctx);
      const out = this.#step(i, current[0]!, ctx, true);
      // A promise: the steps after this one run on from it.
      if (!Array.isArray(out)) return out;
      this.#noteStep(i, ctx);
      current = out;
    }
  }

  /** Step `i` for each of several messages, one after the other, then the steps after it. */
  async #stepEach(i: number, current: Message[], ctx: MessageContext): Promise<Message[]> {
    const next: Message[] = [];
    for (const message of current) for (const m of await this.#step(i, message, ctx, false)) next.push(m);
    return this.#onward(i, next, ctx);
  }

  /** After step `i`: its trail event, then the steps after it. */
  #onward(i: number, next: Message[], ctx: MessageContext): Message[] | Promise<Message[]> {
    this.#noteStep(i, ctx);
    return this.#stepsFrom(i + 1, next, ctx);
  }

  #noteStep(i: number, ctx: MessageContext): void {
    ctx.trail?.note({ type: 'step', at: now(), step: this.def.steps[i]!.label });
  }

  /**
   * Step `i` on one message: its span and duration; a failure (thrown or rejected) names the step. A step that
   * answers later goes `onward` (#onward) from the same `then`, when asked: one turn of the microtask queue less.
   */
  #step(i: number, message: Message, ctx: MessageContext, onward: boolean): Message[] | Promise<Message[]> {
    const step = this.#steps[i]!;
    const stepCtx = i < ctx.resume ? ctx.replay! : ctx;
    const span = this.#tracing.step(i);
    const clock = performance.now();
    let out: Message[] | Promise<Message[]>;
    try {
      out = span ? this.#tracing.within(span, () => step.run(message, stepCtx)) : step.run(message, stepCtx);
    } catch (err) {
      throw this.#stepFailed(i, span, clock, err);
    }
    if (Array.isArray(out)) {
      this.#stepEnded(i, span, clock);
      return out;
    }
    return out.then(
      (next) => {
        this.#stepEnded(i, span, clock);
        return onward ? this.#onward(i, next, ctx) : next;
      },
      (err: unknown) => {
        throw this.#stepFailed(i, span, clock, err);
      },
    );
  }

  #stepEnded(i: number, span: Span | undefined, clock: number): void {
    span?.end();
    this.#metrics?.steps[i]!.observe((performance.now() - clock) / 1000);
  }

  #stepFailed(i: number, span: Span | undefined, clock: number, err: unknown): HubError {
    const e = toHubError(err);
    e.step ??= this.def.steps[i]!.label;
    if (span) failSpan(span, e);
    this.#stepEnded(i, span, clock);
    return e;
  }

  /** A replay straight to one sink of the flow, skipping the steps. */
  async #straightToSink(sink: string, input: Message, cancel: Cancellation, trail: MessageTrail | undefined): Promise<Message[]> {
    const reply = await this.#sinks.send(sink, input, this.#context(input, cancel, this.#sinks.sender, ALWAYS_NEW));
    trail?.note({ type: 'step', at: now(), step: `sink:${sink}` });
    return reply ? [reply] : [];
  }

  /** The messages a request-reply source answers with, made by the flow's `reply:` (expression and status). */
  #replies(messages: Message[]): Promise<Message[]> {
    const { expression, status } = this.def.reply;
    return Promise.all(
      messages.map(async (m) => {
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

  #context(input: Message, cancel: Cancellation, send: Sender, dedupe: Deduper, lane?: Lane): MessageContext {
    return new MessageContext(this.def.name, this.#logger, input, cancel, send, dedupe, lane);
  }

  /**
   * Stops taking messages and waits up to `graceMs` for those in flight; then cuts the rest short (they settle as
   * FLOW_STOPPING, retryable: an HTTP caller gets 503, a broker redelivers, a durable retry is due again) and stops
   * the source and the sinks.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    for (const s of this.#tracer ? [...this.#tracer.sessions] : []) s.end('flow-stopped');
    this.#control.stop();
    if (this.stats.inFlight > 0) {
      await Promise.race([new Promise<void>((resolve) => (this.#idle = resolve)), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
    this.#timeouts.stop();
    await this.#stepRuntimes.stop();
    await this.def.source.instance.stop().catch((err: unknown) => this.#logger.warn({ err }, 'source did not stop cleanly'));
    await Promise.all([...this.def.sinks].filter(([name]) => this.#started.has(name)).map(([, s]) => s.instance.stop().catch((err: unknown) => this.#logger.warn({ err }, 'sink did not stop cleanly'))));
  }
}
