import type { FastifyInstance } from 'fastify';
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { DeliverOptions, FlowResult, HubLimits, SendContext, Sink, StepContext } from '../core/contracts.js';
import { isoNow } from '../core/clock.js';
import { hubError, toHubError, type HubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Journal, RetryClaim, TimelineEvent } from '../journal/contract.js';
import { MessageTrail } from '../journal/trail.js';
import { Bulkhead } from './bulkhead.js';
import { Cancellation } from './cancellation.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { FlowMeter } from './flow-meter.js';
import { durableDueAt, errorInfo, journalUnavailable, messageFromRecord, trailSubject } from './journal.js';
import type { FlowMetrics } from './metrics.js';
import { retryAfter } from './retry.js';
import { egressHeaders, failSpan, FlowTracing } from './tracing.js';

export interface FlowStats {
  received: number;
  completed: number;
  failed: number;
  inFlight: number;
  /** Messages parked for a durable retry (each time). */
  waiting: number;
  /** Messages parked as dead. */
  dead: number;
  /** Durable retries run from the journal. */
  retried: number;
  lastError?: { code: string; message: string; step?: string; at: string; messageId: string };
}

/** A message whose status changed off the common path: parked, delivered by a durable retry or a replay, archived. */
export interface MessageNotice {
  id: string;
  flow: string;
  status: 'delivered' | 'waiting-for-retry' | 'dead' | 'archived';
  at: string;
  replayOf?: string;
}

export interface FlowRunnerOptions {
  /** How much later a durable retry that comes due while the flow is paused is due again (default 30 s). */
  pausedRetryMs?: number;
  /** The flow's Prometheus metrics (HubMetrics.forFlow); none in unit tests that do not look at them. */
  metrics?: FlowMetrics;
}

/** Where a replayed message enters the flow. */
export interface ReplayTarget {
  /** Resume at this step (its index): the steps before it run again, but sinks that only take messages (no reply) are not called again. */
  startAt?: number;
  /** Skip the steps and send the message straight to this sink of the flow. */
  sink?: string;
}

interface Handling {
  /** Park a failed message in the journal (retry or dead) and resolve, rather than reject to the caller. */
  park: boolean;
  target?: ReplayTarget;
  /** The message already has its whole record (a replay booked with its safety retry): no `received` is written. */
  recorded?: boolean;
  /** An ordered source pipelines this message (DeliverOptions.onIssued); set only when the flow can keep the order. */
  lane?: Lane;
}

/**
 * One pipelined delivery's order point: `issue` is handed to the one sink send as SendContext.issued, and tells the
 * source once; after that, a retryable failure goes back to the source (which delivers it and what followed again,
 * in order) instead of being retried here while later messages are already written.
 */
class Lane {
  issued = false;
  constructor(readonly onIssued: () => void) {}
  readonly issue = (): void => {
    if (this.issued) return;
    this.issued = true;
    this.onIssued();
  };
}

/** How a durable retry's run is handled by #run: from the first step, not pipelined. */
const RETRY_RUN: Handling = { park: true };

/** Failures that are the hub's condition, not the message's: never parked; the source keeps the message. */
const NOT_PARKED = new Set(['FLOW_STOPPING', 'FLOW_OVERLOADED', 'JOURNAL_UNAVAILABLE']);

/**
 * A durable retry whose record has one of these is finished: its outcome was written before a crash kept the claim
 * from being completed, or an operator replayed or resolved it. Any other status (`failed`: a run's failure was
 * written, then the process died before it parked the message again) still needs the retry.
 */
const FINISHED: ReadonlySet<string> = new Set(['delivered', 'dead', 'resolved', 'archived']);

/** Steps that only change the message in memory: the input check of an edited body may run them. */
const IN_MEMORY = new Set(['xml_to_json', 'json_to_xml', 'transform', 'set_headers', 'validate']);

/** Steps before a flow's final `to` that keep ordered pipelining possible: one message in, at most one out, no I/O. */
const ORDER_KEEPING = new Set([...IN_MEMORY, 'filter']);

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

type Sender = (sink: string, message: Message, ctx: MessageContext) => Promise<Message | undefined>;

/** The dedupe check of a message's context: `input` is the message as it entered the flow. */
type Deduper = (input: Message, key: string, ttlMs: number) => Promise<boolean>;

const ALWAYS_NEW: Deduper = () => Promise.resolve(true);

/**
 * What a message's steps get (StepContext), and its sink calls (SendContext): an instance of a class, since an
 * object literal with getters costs over a microsecond to make, and with methods rather than closures, since it
 * lives as long as the message. The message's child logger and the AbortSignal are made only if asked for: most
 * messages never log, and few sinks need the signal itself.
 */
class MessageContext implements StepContext, SendContext {
  #logger: Logger | undefined;
  readonly #base: Logger;
  readonly #input: Message;
  readonly #cancel: Cancellation;
  readonly #sender: Sender;
  readonly #deduper: Deduper;
  readonly issued: (() => void) | undefined;
  /** The runner's own, for the run of the steps: the message's trail, and a replay's resume point and context. */
  trail: MessageTrail | undefined = undefined;
  resume = 0;
  replay: MessageContext | undefined = undefined;

  constructor(
    readonly flow: string,
    base: Logger,
    input: Message,
    cancel: Cancellation,
    sender: Sender,
    deduper: Deduper,
    readonly lane: Lane | undefined,
  ) {
    this.#base = base;
    this.#input = input;
    this.#cancel = cancel;
    this.#sender = sender;
    this.#deduper = deduper;
    this.issued = lane?.issue;
  }

  send(sink: string, message: Message): Promise<Message | undefined> {
    return this.#sender(sink, message, this);
  }

  dedupe(key: string, ttlMs: number): Promise<boolean> {
    return this.#deduper(this.#input, key, ttlMs);
  }

  get logger(): Logger {
    return (this.#logger ??= this.#base.child({ messageId: this.#input.id }));
  }

  get signal(): AbortSignal {
    return this.#cancel.signal;
  }

  get aborted(): boolean {
    return this.#cancel.aborted;
  }
}

/** How much later a durable retry of a paused flow is due again (each postponement is a waiting-for-retry event in its timeline). */
const PAUSED_RETRY_MS = 30_000;

/**
 * Runs one flow: its source feeds messages in, each goes through the steps under the flow's concurrency limit and
 * timeout, sinks are called with the flow's retry policy, and the source is told the outcome only when everything
 * downstream settled. With a journal, what happened is recorded under the flow's journal policy, and a message a
 * source that waits for no reply cannot deliver is parked (waiting for a durable retry, or dead) before the source
 * is told: then the source settles its transport, and the journal holds the message. The same runner serves hub
 * mode (many runners, one server) and flow mode (one runner).
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
  /**
   * Messages in the flow, each by what cuts it short (its timeout, or the end of the shutdown grace), in the order
   * they started: since every run of a flow has the same timeout, also the order of their deadlines, so one timer
   * (#timeouts, at the first deadline) serves them all rather than one timer each.
   */
  readonly #running = new Set<Cancellation>();
  #timeouts: NodeJS.Timeout | undefined;
  #shutDown = false;
  readonly #started = new Set<string>();
  /** The dedupe step's memory when the runner has no journal (unit tests). */
  readonly #seen = new Map<string, { until: number; owner: string }>();
  /** Dedupe keys of the messages running in this process, with the id of the message that has each. */
  readonly #runningKeys = new Map<string, string>();
  /** The dedupe keys each running message passed, to be kept or given up when it settles. */
  readonly #taken = new WeakMap<Message, { scoped: string; ttlMs: number }[]>();
  /** While paused: when and by whom, and the gate held deliveries wait on (opened by resume or stop). */
  #pause: { at: string; by: string; gate: Promise<void>; open: () => void } | undefined;
  /** Deliveries of a source that waits for no reply, held while paused. */
  #held = 0;
  readonly #watchers = new Set<(notice: MessageNotice) => void>();

  readonly #pausedRetryMs: number;
  /** The hub's circuit breaker of each sink whose circuit breaking the hub owns (service.resilience.circuit_breaker). */
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #metrics: FlowMetrics | undefined;
  readonly #tracing: FlowTracing;
  readonly #pipelinable: boolean;
  /** How a message's context sends: through #send with the flow's retry policy. */
  readonly #sender: Sender = (sink, message, ctx) => this.#send(sink, message, ctx);
  readonly #deduper: Deduper = (input, key, ttlMs) => this.#dedupe(input, key, ttlMs);
  /** How the steps before a replay's resume point send: one-way sinks already have the message. */
  readonly #replaySender: Sender = (sink, message, ctx) => (this.def.sinks.get(sink)?.requestReply ? this.#send(sink, message, ctx) : Promise.resolve(undefined));

  constructor(
    readonly def: FlowDefinition,
    logger: Logger,
    journal?: Journal,
    options: FlowRunnerOptions = {},
  ) {
    this.#pausedRetryMs = options.pausedRetryMs ?? PAUSED_RETRY_MS;
    this.#bulkhead = new Bulkhead(def.concurrency, def.queue);
    this.#logger = logger.child({ flow: def.name });
    this.#journal = journal;
    for (const hop of def.service?.hops ?? []) {
      if (hop.kind !== 'sink' || !hop.hubBreaker) continue;
      const sink = hop.name;
      this.#breakers.set(sink, new CircuitBreaker(sink, hop.hubBreaker, { onChange: (state, failures) => this.#logger.warn({ sink, state, failures }, `circuit of sink "${sink}" is ${state}`) }));
    }
    this.#metrics = options.metrics;
    this.#tracing = new FlowTracing(def);
    this.#pipelinable = pipelinable(def);
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
      deliver: (message, options) => this.deliver(message, options),
    });
  }

  ready(): boolean {
    if (this.#stopping || !this.def.source.instance.ready()) return false;
    for (const sink of this.def.sinks.values()) if (!sink.instance.ready()) return false;
    return true;
  }

  /**
   * Called by the source for each inbound message; see SourceContext.deliver. A source that waits for a reply gets
   * the error; one that does not gets the message parked in the journal (when the runner has one).
   */
  deliver(message: Message, options?: DeliverOptions): Promise<FlowResult> {
    if (this.#pause && !this.#stopping) return this.#whenResumed(message);
    const lane = options?.onIssued && this.#pipelinable ? new Lane(options.onIssued) : undefined;
    return this.#handle(message, { park: !this.def.source.requestReply, lane });
  }

  /**
   * While paused the flow takes no new messages. A source that waits for a reply (REST, SOAP) gets FLOW_PAUSED
   * (retryable: 503 with Retry-After). A broker source's delivery is held here until resume or stop, so the
   * source's own backpressure (AMQP prefetch, a Kafka partition's one delivery at a time) stops its consumption;
   * stop lets the held deliveries go on, to settle as FLOW_STOPPING (the broker gets them back). Durable retries
   * wait too (see retry). The pause lives in this process's memory: a restart runs the flow again.
   */
  pause(by: string): boolean {
    if (this.#pause) return false;
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    this.#pause = { at: now(), by, gate, open };
    this.#logger.info({ by }, `flow paused by ${by}`);
    return true;
  }

  /** Takes messages again; held deliveries go on. False when it was not paused. */
  resume(by: string): boolean {
    const pause = this.#pause;
    if (!pause) return false;
    this.#pause = undefined;
    pause.open();
    this.#logger.info({ by, held: this.#held }, `flow resumed by ${by}`);
    return true;
  }

  /**
   * Calls `watcher` when a message's status changes off the common path: parked (waiting for a retry, or dead),
   * delivered by a durable retry or a replay (a first-time delivery is not announced: that is the rate). Synchronous
   * and cheap: the admin's live feed only queues a line. Returns the function that stops it.
   */
  watch(watcher: (notice: MessageNotice) => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  #notify(message: Message, status: MessageNotice['status']): void {
    if (this.#watchers.size === 0) return;
    const notice: MessageNotice = { id: message.id, flow: this.name, status, at: now(), ...(message.meta.replayOf ? { replayOf: message.meta.replayOf } : {}) };
    for (const w of this.#watchers) {
      try {
        w(notice);
      } catch (err) {
        this.#logger.warn({ err }, 'a message watcher failed');
      }
    }
  }

  get paused(): { at: string; by: string; held: number } | undefined {
    return this.#pause && { at: this.#pause.at, by: this.#pause.by, held: this.#held };
  }

  async #whenResumed(message: Message): Promise<FlowResult> {
    if (this.def.source.requestReply) throw hubError('FLOW_PAUSED', `flow "${this.name}" is paused by an operator and takes no new messages; retry later`);
    this.#held++;
    try {
      // Paused again before this one went on: it waits for the next resume.
      while (this.#pause && !this.#stopping) await this.#pause.gate;
    } finally {
      this.#held--;
    }
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
    return this.#handle(message, { park: true, target, recorded });
  }

  /**
   * Checks a body an operator edited before it is replayed, against the flow's input schema: the flow's first
   * `validate` step, reached through the steps before it when each of them only changes the message in memory
   * (xml_to_json, json_to_xml, transform, set_headers). Nothing is sent. `schema` names the schema checked, or is
   * undefined when the flow has none in reach (then the body need only parse as its content type says).
   */
  async checkInput(message: Message): Promise<{ schema: string | undefined; problems: { path: string; message: string }[] }> {
    const prefix: FlowDefinition['steps'] = [];
    for (const step of this.def.steps) {
      if (!IN_MEMORY.has(step.kind)) break;
      prefix.push(step);
      if (step.kind === 'validate') break;
    }
    const validate = prefix.at(-1)?.kind === 'validate' ? prefix : [];
    const schema = (validate.at(-1)?.config as { schema?: string } | undefined)?.schema;
    const ctx: StepContext = {
      flow: this.name,
      logger: this.#logger,
      signal: new AbortController().signal,
      aborted: false,
      send: () => Promise.reject(hubError('INTERNAL', 'the input check sends nothing')),
      dedupe: () => Promise.resolve(true),
    };
    try {
      if (validate.length === 0) {
        if (message.isJson) message.json();
        else if (message.isXml) message.xml();
        return { schema, problems: [] };
      }
      let current = [message];
      for (const step of validate) {
        const next: Message[] = [];
        for (const m of current) next.push(...(await step.run(m, ctx)));
        current = next;
      }
      return { schema, problems: [] };
    } catch (err) {
      const e = toHubError(err);
      const details = e.details as { errors?: { path: string; message: string }[] } | undefined;
      return { schema, problems: e.code === 'VALIDATION_FAILED' && details?.errors ? details.errors : [{ path: '/', message: `${e.code}: ${e.message}` }] };
    }
  }

  async #handle(message: Message, how: Handling): Promise<FlowResult> {
    if (this.#stopping) throw hubError('FLOW_STOPPING', 'the hub is shutting down and takes no new messages');
    this.stats.received++;
    this.stats.inFlight++;
    this.#metrics?.received.inc();
    this.#metrics?.inFlight.inc();
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
      const run = this.#track();
      try {
        replies = await this.#run(message, run, trail, how, span);
      } finally {
        this.#untrack(run);
        this.#bulkhead.leave();
      }
      settled = true;
      this.stats.completed++;
      const tookMs = performance.now() - clock;
      this.meter.record(tookMs);
      this.#metrics?.delivered.inc();
      this.#metrics?.deliveredIn.observe(tookMs / 1000);
      if (trail) {
        const written = this.#record(trail, { type: 'delivered', at: now(), attempt: message.meta.attempt ?? 1 });
        if (written) await written;
      }
      if (how.target) this.#notify(message, 'delivered');
      return { replies };
    } catch (err) {
      const parked = await this.#notDelivered(message, err, how, trail, span, clock);
      settled = true;
      return parked;
    } finally {
      span?.end();
      if (this.#taken.has(message)) await this.#settleKeys(message, settled);
      this.#leave();
    }
  }

  /**
   * The message's steps, cut short by `run`, under the message's span. Apart from #handle: a closure there would
   * make each call of it allocate the variables it captures, traced or not.
   */
  #run(message: Message, run: Cancellation, trail: MessageTrail | undefined, how: Handling, span: Span | undefined): Promise<Message[]> {
    if (this.#tracing.untraced(span)) return run.race(this.#runSteps(message, run, trail, how.target, how.lane));
    return this.#tracing.within(span, () => run.race(this.#runSteps(message, run, trail, how.target, how.lane)), true);
  }

  /** The message's record in the journal, begun (or resumed: a replay booked with its safety retry). */
  #begin(message: Message, how: Handling): MessageTrail | Promise<MessageTrail> {
    const journal = this.#journal!;
    try {
      if (how.recorded) return MessageTrail.resume(journal, this.def.journal, trailSubject(message));
      const begun = MessageTrail.begin(journal, this.def.journal, trailSubject(message), message.meta.attempt ?? 1);
      return begun instanceof MessageTrail ? begun : begun.catch((err: unknown) => Promise.reject(journalUnavailable(err, 'record the message')));
    } catch (err) {
      throw journalUnavailable(err, 'record the message');
    }
  }

  /**
   * #handle's failure: parked in the journal (resolves with the outcome), or handed back to the source or caller
   * (rejects with the error), as ARCHITECTURE.md says. Apart from #handle, whose frame each message in flight keeps.
   */
  async #notDelivered(message: Message, err: unknown, how: Handling, trail: MessageTrail | undefined, span: Span | undefined, clock: number): Promise<FlowResult> {
    const e = this.#failed(message, err);
    const attempt = message.meta.attempt ?? 1;
    this.#metrics?.failedIn.observe((performance.now() - clock) / 1000);
    if (span) failSpan(span, e);
    if (!trail) throw e;
    // A replay has no source to keep it: only a journal that cannot take it makes it go back to its caller. A
    // pipelined message that failed after its write was issued goes back to its source, to keep the order.
    if ((NOT_PARKED.has(e.code) && (how.target === undefined || e.code === 'JOURNAL_UNAVAILABLE')) || (how.lane?.issued && e.retryable)) {
      if (trail.recorded) await this.#record(trail, { type: 'failed', at: now(), attempt, error: errorInfo(e) });
      throw e;
    }
    if (!how.park) {
      // The caller gets the error. Its own bad input (a client fault) is recorded only when the message has a
      // record already (`all`): otherwise anyone could fill the journal with malformed requests.
      if (trail.recorded || e.spec.fault !== 'client') await this.#record(trail, { type: 'failed', at: now(), attempt, error: errorInfo(e) });
      throw e;
    }
    // Under the message's span: a dead-letter sink's call is its child, and the dead letter carries the trace.
    const parked = await this.#tracing.within(span, () => this.#park(trail, message, e, attempt), true);
    span?.setAttribute('hub.outcome', parked);
    return { replies: [], parked };
  }

  /**
   * Runs one durable retry claimed from the journal (the retry poller calls it): delivered, parked again with the
   * next backoff, or dead. A journal failure leaves the claim to run out, so the retry is handed out again.
   */
  async retry(claim: RetryClaim): Promise<void> {
    const journal = this.#journal;
    if (!journal) throw new Error('a flow runner without a journal has no retries');
    const record = await journal.get(claim.id);
    if (!record || FINISHED.has(record.status)) {
      // Removed, replayed or resolved by an operator meanwhile, or finished by a run whose completion was lost.
      await journal.completeRetry(claim).catch(() => {});
      return;
    }
    if (this.#stopping) return journal.releaseRetry(claim);
    // Paused: the retry waits, due again a little later, its attempt not counted.
    if (this.#pause) return journal.releaseRetry(claim, { dueAt: new Date(Date.now() + this.#pausedRetryMs).toISOString(), attempt: claim.attempt });
    const message = messageFromRecord(record, claim.attempt);
    const trail = MessageTrail.resume(journal, this.def.journal, trailSubject(message));
    this.stats.retried++;
    this.stats.inFlight++;
    this.#metrics?.durableRetries.inc();
    this.#metrics?.inFlight.inc();
    const span = this.#tracing.message(message);
    try {
      await this.#bulkhead.run(async () => {
        const run = this.#track();
        try {
          return await this.#run(message, run, trail, RETRY_RUN, span);
        } finally {
          this.#untrack(run);
        }
      });
      this.stats.completed++;
      this.meter.record(undefined);
      this.#metrics?.delivered.inc();
      await trail.event({ type: 'delivered', at: now(), attempt: claim.attempt });
      await journal.completeRetry(claim);
      this.#notify(message, 'delivered');
    } catch (err) {
      if ((err as { name?: string }).name === 'JournalError') throw err;
      const e = this.#failed(message, err);
      if (span) failSpan(span, e);
      if (NOT_PARKED.has(e.code)) {
        await trail.ensureRecorded();
        return journal.releaseRetry(claim, e.code === 'FLOW_STOPPING' ? undefined : { dueAt: new Date(Date.now() + 1000).toISOString(), attempt: claim.attempt });
      }
      trail.note({ type: 'failed', at: now(), attempt: claim.attempt, error: errorInfo(e) });
      await trail.ensureRecorded();
      if (e.retryable && claim.attempt <= this.def.durable.attempts) {
        await journal.releaseRetry(claim, { dueAt: durableDueAt(this.def.durable, claim.attempt), attempt: claim.attempt + 1, error: errorInfo(e) });
        this.stats.waiting++;
        this.#notify(message, 'waiting-for-retry');
        return;
      }
      await journal.deadLetter(message.id, { error: errorInfo(e), attempt: claim.attempt });
      await journal.completeRetry(claim);
      this.stats.dead++;
      this.#metrics?.dead.inc();
      this.#notify(message, 'dead');
      await this.#tracing.within(span, () => this.#toDeadLetterSink(message, e, claim.attempt), true);
    } finally {
      span?.end();
      // Delivered, or parked again either way: the keys it passed stay its own.
      await this.#settleKeys(message, true);
      this.#leave();
    }
  }

  #leave(): void {
    this.stats.inFlight--;
    this.#metrics?.inFlight.dec();
    if (this.stats.inFlight === 0) this.#idle?.();
  }

  #failed(message: Message, err: unknown): HubError {
    const e = toHubError(err);
    this.stats.failed++;
    this.#metrics?.failed(e.code).inc();
    this.stats.lastError = { code: e.code, message: e.message, ...(e.step ? { step: e.step } : {}), at: now(), messageId: message.id };
    const level = e.code === 'INTERNAL' ? 'error' : 'warn';
    this.#logger[level]({ messageId: message.id, correlationId: message.headers['correlation-id'], code: e.code, step: e.step, retryable: e.retryable, attempt: message.meta.attempt, ...(e.code === 'INTERNAL' ? { err: e.cause ?? e } : {}) }, `message failed: ${e.message}`);
    return e;
  }

  /** Writes an outcome the message does not depend on (it was delivered, or its caller gets the error): a journal failure is logged, not thrown. */
  #record(trail: MessageTrail, event: TimelineEvent): Promise<void> | undefined {
    let written: Promise<void> | undefined;
    try {
      written = trail.event(event);
    } catch (err) {
      written = Promise.reject(err);
    }
    return written?.catch((err: unknown) => {
      this.#logger.warn({ err, messageId: trail.id, event: event.type }, 'the journal could not record an outcome; the message itself is settled');
    });
  }

  /**
   * Parks a failed message: waiting for a durable retry when the error is retryable and retries are left, else
   * dead (plus the dead-letter sink, if the flow has one). Resolves once the journal holds it durably; rejects
   * JOURNAL_UNAVAILABLE (retryable) when it cannot, so that the source keeps the message.
   */
  async #park(trail: MessageTrail, message: Message, e: HubError, attempt: number): Promise<'waiting-for-retry' | 'dead'> {
    const journal = trail.journal;
    const error = errorInfo(e);
    const retry = e.retryable && attempt <= this.def.durable.attempts;
    try {
      trail.note({ type: 'failed', at: now(), attempt, error });
      await trail.ensureRecorded();
      if (retry) await journal.scheduleRetry(message.id, { dueAt: durableDueAt(this.def.durable, attempt), attempt: attempt + 1, error });
      else await journal.deadLetter(message.id, { error, attempt });
    } catch (err) {
      const je = journalUnavailable(err, retry ? 'park the message for a retry' : 'park the message as dead');
      this.#logger.error({ messageId: message.id, err }, je.message);
      throw je;
    }
    if (retry) {
      this.stats.waiting++;
      this.#notify(message, 'waiting-for-retry');
      return 'waiting-for-retry';
    }
    this.stats.dead++;
    this.#metrics?.dead.inc();
    this.#notify(message, 'dead');
    await this.#toDeadLetterSink(message, e, attempt);
    return 'dead';
  }

  /** Sends a dead message to the flow's dead-letter sink too, if it has one. The journal already holds it, so a failure here is logged. */
  async #toDeadLetterSink(message: Message, e: HubError, attempt: number): Promise<void> {
    const sinkName = this.def.deadLetterSink;
    if (!sinkName) return;
    const headers = {
      ...message.headers,
      'x-error-code': e.code,
      'x-error-message': e.message.slice(0, 1000),
      ...(e.step ? { 'x-error-step': e.step } : {}),
      'x-flow': this.name,
      'x-attempts': String(attempt),
    };
    const cancel = new Cancellation();
    const timer = setTimeout(() => cancel.cut(hubError('TIMEOUT', `the dead-letter sink did not confirm within ${this.def.timeoutMs} ms`)), this.def.timeoutMs);
    try {
      await this.#send(sinkName, message.with({ headers }), this.#context(message, cancel, this.#sender, ALWAYS_NEW));
    } catch (err) {
      this.#logger.error({ messageId: message.id, sink: sinkName, err: toHubError(err) }, `dead-letter sink "${sinkName}" did not take the message; it stays dead in the journal`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What cuts a message's run short, tracked from now until #untrack: its timeout (the flow's, on the one timer of
   * #running), or the end of the shutdown grace. AbortSignal.timeout plus AbortSignal.any per message would cost
   * several times more, at tens of thousands of messages a second; the Cancellation makes its signal only if a step
   * or sink asks for it. The cut's reason is the HubError the message settles with.
   */
  #track(): Cancellation {
    const run = new Cancellation();
    if (this.#shutDown) run.cut(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
    run.deadline = performance.now() + this.def.timeoutMs;
    this.#running.add(run);
    this.#timeouts ??= setTimeout(this.#expire, this.def.timeoutMs);
    return run;
  }

  #untrack(run: Cancellation): void {
    this.#running.delete(run);
    if (this.#running.size === 0 && this.#timeouts) {
      clearTimeout(this.#timeouts);
      this.#timeouts = undefined;
    }
  }

  /** Cuts the runs whose deadline passed (the first ones in #running), and sets the timer for the next deadline. */
  readonly #expire = (): void => {
    this.#timeouts = undefined;
    const now = performance.now();
    for (const run of this.#running) {
      if (run.deadline > now) {
        this.#timeouts = setTimeout(this.#expire, Math.ceil(run.deadline - now));
        return;
      }
      run.cut(hubError('TIMEOUT', `the flow did not finish within ${this.def.timeoutMs} ms`));
    }
  };

  #runSteps(input: Message, cancel: Cancellation, trail: MessageTrail | undefined, target: ReplayTarget = {}, lane?: Lane): Promise<Message[]> {
    if (target.sink !== undefined) return this.#straightToSink(target.sink, input, cancel, trail);
    const send = this.#sender;
    // A replay is an operator's decision: dedupe steps let it through.
    const dedupe = target.startAt !== undefined || input.meta.replayOf ? ALWAYS_NEW : this.#deduper;
    const ctx = this.#context(input, cancel, send, dedupe, lane);
    ctx.trail = trail;
    // Resuming at a step: the steps before it run again, but one-way sinks already have the message.
    if (target.startAt !== undefined && target.startAt > 0) {
      ctx.resume = target.startAt;
      ctx.replay = this.#context(input, cancel, this.#replaySender, dedupe, lane);
    }
    try {
      const out = this.#stepsFrom(0, [input], ctx);
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
    const steps = this.def.steps;
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
    const step = this.def.steps[i]!;
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
    const reply = await this.#send(sink, input, this.#context(input, cancel, this.#sender, ALWAYS_NEW));
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
   * Sends to a sink of the flow with the flow's retry policy; `ctx` is the message's (its sink calls' SendContext).
   * The first try goes without the retry loop: most sends succeed at once, and the loop's closures would live as
   * long as the send.
   */
  #send(sinkName: string, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    const sink = this.def.sinks.get(sinkName);
    if (!sink) return Promise.reject(hubError('INTERNAL', `flow has no sink named "${sinkName}"`));
    const retries = this.def.retry.attempts > 1;
    const breaker = this.#breakers.get(sinkName);
    // Without a breaker, the first call's own failure handler goes on to the retries: no `then` of its own for them.
    if (!breaker) return this.#call(sinkName, sink.instance, message, ctx, retries);
    return this.#sendThrough(breaker, retries, sinkName, sink.instance, message, ctx);
  }

  /** #send through the sink's circuit breaker, which sees each try on its own. */
  #sendThrough(breaker: CircuitBreaker, retries: boolean, sinkName: string, sink: Sink, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    const first = this.#callOnce(breaker, sinkName, sink, message, ctx);
    return retries ? first.then(undefined, (err: unknown) => this.#retrySend(err, sinkName, sink, message, ctx)) : first;
  }

  #retrySend(failure: unknown, sinkName: string, sink: Sink, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    const lane = ctx.lane;
    const breaker = this.#breakers.get(sinkName);
    return retryAfter(
      failure,
      this.def.retry,
      ctx,
      (attempt) => this.#callOnce(breaker, sinkName, sink, message.with({ meta: { attempt } }), ctx),
      (err, attempt, wait) => {
        this.#metrics?.sinkRetries.inc();
        ctx.logger.info({ sink: sinkName, code: err.code, attempt, waitMs: wait }, `sink "${sinkName}" failed (${err.message}); retrying`);
      },
      // Once a pipelined write is out, messages behind it may be written too: retrying it here would pass them.
      lane ? () => lane.issued : undefined,
    );
  }

  /** One try of a send, through the sink's circuit breaker when it has one. */
  #callOnce(breaker: CircuitBreaker | undefined, sinkName: string, sink: Sink, message: Message, ctx: MessageContext): Promise<Message | undefined> {
    return breaker ? breaker.call(() => this.#call(sinkName, sink, message, ctx, false)) : this.#call(sinkName, sink, message, ctx, false);
  }

  /**
   * One call of a sink (one attempt): its span, whose context the message carries to the next hop, and its metrics.
   * Rejects with a HubError; or, with `retry` (a first call that no breaker watches), goes on to the retries.
   */
  #call(sinkName: string, sink: Sink, message: Message, ctx: MessageContext, retry: boolean): Promise<Message | undefined> {
    const span = this.#tracing.sink(sinkName, message.meta.attempt ?? 1);
    const metrics = this.#metrics?.sinks.get(sinkName);
    const clock = performance.now();
    let sent: Promise<Message | undefined>;
    try {
      sent = sink.send(span ? message.with({ headers: egressHeaders(message.headers, span) }) : message, ctx);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.then(
      (reply) => {
        metrics?.ok.inc();
        span?.end();
        metrics?.duration.observe((performance.now() - clock) / 1000);
        return reply;
      },
      (err: unknown) => {
        const e = toHubError(err);
        metrics?.failed(e.code).inc();
        if (span) {
          failSpan(span, e);
          span.end();
        }
        metrics?.duration.observe((performance.now() - clock) / 1000);
        if (retry) return this.#retrySend(e, sinkName, sink, message, ctx);
        throw e;
      },
    );
  }

  /**
   * The dedupe step's check for `input` (the message as it entered the flow; its id owns the keys it takes): a key
   * another message holds in the journal, or is running with in this process, is a duplicate. Nothing durable is
   * written here: the keys are taken when the message is delivered or parked (#settleKeys), so that a message handed
   * back to its source (a crash, a shutdown, a caller's error) comes again to a free key. The message's own keys
   * (held since it was parked) let its retries through.
   */
  async #dedupe(input: Message, key: string, ttlMs: number): Promise<boolean> {
    const scoped = `${this.name}\u0000${key}`;
    const owner = input.id;
    const running = this.#runningKeys.get(scoped);
    if (running !== undefined && running !== owner) return false;
    this.#runningKeys.set(scoped, owner);
    let holder: string | undefined;
    try {
      holder = this.#journal ? await this.#journal.dedupeHolder(scoped) : this.#memoryHolder(scoped);
    } catch (err) {
      if (this.#runningKeys.get(scoped) === owner) this.#runningKeys.delete(scoped);
      throw journalUnavailable(err, 'check the dedupe key');
    }
    if (holder !== undefined && holder !== owner) {
      if (this.#runningKeys.get(scoped) === owner) this.#runningKeys.delete(scoped);
      return false;
    }
    let keys = this.#taken.get(input);
    if (!keys) this.#taken.set(input, (keys = []));
    keys.push({ scoped, ttlMs });
    return true;
  }

  #memoryHolder(scoped: string): string | undefined {
    const held = this.#seen.get(scoped);
    return held !== undefined && held.until > Date.now() ? held.owner : undefined;
  }

  /**
   * Ends the dedupe keys a message took: kept for their time to live when it was delivered or parked (a journal
   * failure here is logged: the message is settled, and at worst a later duplicate passes), given up otherwise.
   */
  async #settleKeys(input: Message, keep: boolean): Promise<void> {
    const keys = this.#taken.get(input);
    if (!keys) return;
    this.#taken.delete(input);
    for (const { scoped, ttlMs } of keys) {
      if (keep) {
        try {
          if (this.#journal) await this.#journal.dedupe(scoped, ttlMs, input.id);
          else this.#seen.set(scoped, { until: Date.now() + ttlMs, owner: input.id });
        } catch (err) {
          this.#logger.warn({ err, messageId: input.id }, 'the journal could not keep a dedupe key of a settled message; a later duplicate may pass');
        }
      }
      if (this.#runningKeys.get(scoped) === input.id) this.#runningKeys.delete(scoped);
    }
  }

  /**
   * Stops taking messages and waits up to `graceMs` for those in flight; then cuts the rest short (they settle as
   * FLOW_STOPPING, retryable: an HTTP caller gets 503, a broker redelivers, a durable retry is due again) and stops
   * the source and the sinks.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    this.#pause?.open();
    if (this.stats.inFlight > 0) {
      await Promise.race([new Promise<void>((resolve) => (this.#idle = resolve)), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
    this.#shutDown = true;
    for (const cancel of this.#running) cancel.cut(hubError('FLOW_STOPPING', 'the hub stopped before this message was finished'));
    await this.def.source.instance.stop().catch((err: unknown) => this.#logger.warn({ err }, 'source did not stop cleanly'));
    await Promise.all([...this.def.sinks].filter(([name]) => this.#started.has(name)).map(([, s]) => s.instance.stop().catch((err: unknown) => this.#logger.warn({ err }, 'sink did not stop cleanly'))));
  }
}
