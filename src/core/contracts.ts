/**
 * The public contracts an adapter or step author writes against. Each comment is the specification: who calls the
 * method, how often, whether calls may overlap, and what its errors mean.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ConfigIssue, HubError } from './errors.js';
import type { Message } from './message.js';

/** A JSON Schema (2020-12) object. */
export type JsonSchema = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------
// Sources

/** What a flow gives back to a source for one delivered message, once the flow has settled it. */
export interface FlowResult {
  /**
   * The messages the flow produced for the caller (request-reply sources answer with them): usually one; none when
   * a filter dropped the message; several after a split. Built from the flow's `reply` block when it has one.
   */
  replies: Message[];
  /**
   * Set when the flow could not deliver the message but parked it durably in the journal instead (sources that do
   * not wait for a reply): `waiting-for-retry` (the journal runs it again later) or `dead` (kept for an operator).
   * Either way the source settles its transport as delivered: the journal now holds the message.
   */
  parked?: 'waiting-for-retry' | 'dead';
}

/** Handed to a source when it starts. */
export interface SourceContext {
  /** The flow this source feeds. */
  readonly flow: string;
  readonly logger: Logger;
  /**
   * The HTTP server the source may add routes to (the hub's in hub mode, the flow's own in flow mode). Routes must
   * be added during `start()`: the server listens only after every source has started.
   */
  readonly http: FastifyInstance;
  /** Limits from the hub configuration. */
  readonly limits: HubLimits;
  /**
   * Hands one inbound message to the flow and resolves once the flow has settled it: every sink it reached
   * confirmed it (or it was parked durably). Rejects with a `HubError` saying why the flow could not take it:
   * `retryable` (overloaded, stopping, a downstream is failing) or `permanent` (the message is wrong). The source
   * settles its transport (HTTP response, AMQP ack, Kafka commit) only after this settles. Calls may overlap; the
   * flow applies its own concurrency limit and may make a call wait.
   */
  deliver(message: Message, options?: DeliverOptions): Promise<FlowResult>;
  /**
   * Tells the flow of a request the source refused before it could deliver it (bad input: a body that does not
   * parse, an unsupported media type, a bad envelope, one too large), so that the flow journals it under its journal
   * policy, as a message whose caller was answered with `error`. Sets `error.journal` ('kept' or 'not kept': the
   * policy is `none`, the flow keeps only so many refused requests a minute, or the journal failed), which the error
   * answer then reports beside the message id. Called by a request-reply source (REST, SOAP) once per refused request,
   * before it answers; calls may overlap. Never rejects. Optional: a context without it keeps nothing.
   */
  refused?(input: RefusedInput, error: HubError): Promise<void>;
}

/** A request a source refused before it became a message of the flow (SourceContext.refused). */
export interface RefusedInput {
  /** The id the error answer names. */
  id: string;
  /** The source endpoint, e.g. "rest:POST /orders". */
  source: string;
  headers: Readonly<Record<string, string>>;
  /** The bytes as received, when the source has them (none for a body refused while it was read). */
  body?: Buffer;
}

/**
 * What a source that keeps order may ask of one delivery (ordered pipelining): to learn when the message's order
 * is fixed, so that it can hand the next message of the same partition or queue over before this one is confirmed.
 */
export interface DeliverOptions {
  /**
   * Called at most once, before `deliver` settles, when the message's one sink write has been issued to its
   * transport (see SendContext.issued): a message handed over after this is written after it. The flow calls it
   * only when it can vouch for that: its steps send each message to exactly one one-way sink, as their last step
   * (`to`), and change nothing outside the message before (transform, validate, set_headers, filter, xml_to_json,
   * json_to_xml). Otherwise it never calls it, and the source waits for `deliver` to settle, as without it.
   * A delivery whose write was issued and then failed retryably is not retried in the flow nor parked in the
   * journal: `deliver` rejects with the error, so that the source delivers it, and everything it handed over
   * after it, again in order.
   */
  onIssued?: () => void;
}

/**
 * An inbound endpoint. Created once per flow at load time from its validated config.
 * `start` is called once, before the HTTP server listens; `stop` once, at shutdown, after which the source must not
 * call `deliver` again and must have settled (answered, acked, nacked) every delivery it started.
 * A broker that is not reachable at start must not make `start` reject: the source logs one clear line, keeps
 * `ready()` false, and connects by itself (bounded backoff) when the broker appears; the same after a connection
 * is lost. Settling: a delivery is acknowledged to its transport only after `deliver` resolved; when `deliver`
 * rejects with a permanent error the transport's dead-letter path takes it (never redelivered forever), with a
 * retryable one it is redelivered later (never dropped).
 */
export interface Source {
  start(ctx: SourceContext): Promise<void>;
  stop(): Promise<void>;
  /** True when connected and taking messages; `/readyz` reports it. Called often; must be cheap. */
  ready(): boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Sinks

export interface SendContext {
  readonly flow: string;
  readonly logger: Logger;
  /**
   * Aborted when the flow's timeout for this message runs out (reason: a RetryableError TIMEOUT) or the hub's
   * shutdown grace ends (reason: a RetryableError FLOW_STOPPING). A send cut short rejects with that reason. Made on
   * first use (Node takes microseconds to make a signal): a sink that only needs to know whether the flow gave up
   * reads `aborted`, and takes the signal where it waits on something that can be cut short.
   */
  readonly signal: AbortSignal;
  /** True once `signal` is aborted (or would be, had it been made); costs nothing to read. */
  readonly aborted: boolean;
  /**
   * `signal` without the signal, for a sink that waits on I/O for every message: until `unfollow(target)`, the
   * flow's cut calls `target.abort(reason)` once (at once when already cut), with the reason the signal would carry.
   * A target follows at most one context at a time; follow and unfollow are each called once per wait, in that order.
   * Optional: a context without them (a test's) is followed through `signal`.
   */
  follow?(target: Abortable): void;
  unfollow?(target: Abortable): void;
  /**
   * Set when the flow pipelines ordered deliveries (see DeliverOptions.onIssued). A sink that can say when its
   * write is on its way calls it once, synchronously after handing the write to its transport and before awaiting
   * the confirm, so that writes of sends that each waited for the previous one's `issued` reach the peer in call
   * order (one AMQP channel, one Kafka producer batch). A sink that never calls it is correct, just not pipelined.
   */
  readonly issued?: () => void;
}

/** What SendContext.follow cuts short: an attempt of a sink's, say. */
export interface Abortable {
  abort(reason: unknown): void;
}

/**
 * An outbound endpoint. Created once per flow at load time. `send` may be called concurrently (up to the flow's
 * concurrency limit).
 */
export interface Sink {
  /**
   * Called once before the first `send`. Opens connections. A peer that is not reachable yet must not make it
   * reject: connect (and later reconnect) in the background with bounded backoff and say so through `ready()`;
   * `send` meanwhile waits (bounded by its signal) or fails with a RetryableError. Reject only for a config problem.
   */
  start(): Promise<void>;
  /** Called once at shutdown, after the last `send` settled. */
  stop(): Promise<void>;
  ready(): boolean;
  /**
   * Sends one message. Resolves when the peer confirmed it (a 2xx, a SOAP response, a publisher confirm, acks=all).
   * A request-reply sink resolves with the reply as a new message (headers: the peer's content type and the
   * correlation headers of the request); a one-way sink resolves with `undefined`.
   * Rejects with a `RetryableError` when trying again may work (timeouts, 5xx, 429, connection refused, SOAP Server
   * faults) and a `PermanentError` when it will not (4xx, SOAP Client faults, a message the sink cannot encode).
   */
  send(message: Message, ctx: SendContext): Promise<Message | undefined>;
}

// ---------------------------------------------------------------------------------------------------------------
// Adapters

/** One HTTP (or other exclusive) address a source claims. Two sources claiming the same key is a config error. */
export interface Claim {
  /** Unique key, e.g. "http POST /api/orders" or "soap /erp/orders PlaceOrder". */
  key: string;
  /** Where in the source's config the claim is made, for the linter's line and column. */
  path: (string | number)[];
  /** Keys that conflict with this one besides itself (e.g. a REST route on a SOAP path). */
  conflicts?: string[];
}

/** Given to adapter factories at load time. */
export interface AdapterContext {
  readonly flow: string;
  /** The flow file's folder: relative paths in the config (a WSDL, a certificate) resolve against it. */
  readonly baseDir: string;
  /** The project's schemas folder. */
  readonly schemasDir: string;
  readonly logger: Logger;
  readonly limits: HubLimits;
  /**
   * The hub-wide settings of sources that take calls over HTTP (hub.yaml's `http_sources`: a default `auth` and
   * `rate_limit` block, where rate counters are shared), in the terms of src/kit/gateway (GatewayDefaults), which
   * reads it; absent when the hub sets none.
   */
  readonly http?: Readonly<Record<string, unknown>>;
  /** Records a config problem at a path inside this adapter's config; the flow then does not start. */
  report(issue: ConfigIssue): void;
}

export interface SourceFactory<C = any> {
  /** JSON Schema of the source config; it becomes part of schemas/flow.schema.json. Reject unknown keys. */
  schema: JsonSchema;
  /** Called once per flow at load (and by `hub validate`). Must not open connections. */
  create(config: C, ctx: AdapterContext): Source;
  /** The exclusive addresses this config takes, so two flows claiming one HTTP path are reported. */
  claims?(config: C): Claim[];
  /** True if the source waits for the flow's reply (HTTP, SOAP); such flows may have a `reply` block. */
  requestReply?: boolean;
}

export interface SinkFactory<C = any> {
  schema: JsonSchema;
  create(config: C, ctx: AdapterContext): Sink;
  /** True if `send` resolves with a reply message (HTTP, SOAP). `enrich` needs such a sink. */
  requestReply?: boolean;
}

/** The one registration that declares an adapter: `adapters/NAME/index.ts` default-exports it. */
export interface AdapterRegistration {
  /** Lower-case, used as the key in flow YAML (`source: { soap: {...} }`). */
  name: string;
  description: string;
  /**
   * What the network sees of this adapter's traffic: `http` (each call a request a mesh sidecar can route, retry,
   * time out and eject on; an HTTP sink names its peer in its config's `url`) or `tcp` (the default: the sidecar
   * sees only connections, as to a broker). Decides which hops `service.resilience` may hand to the mesh.
   */
  transport?: 'http' | 'tcp';
  source?: SourceFactory;
  sink?: SinkFactory;
}

// ---------------------------------------------------------------------------------------------------------------
// Steps

/** Given to a running step with each message. */
export interface StepContext {
  readonly flow: string;
  readonly logger: Logger;
  /** As SendContext.signal: the flow's timeout for this message, or the hub stopping; made on first use. */
  readonly signal: AbortSignal;
  /** True once `signal` is aborted (or would be, had it been made); costs nothing to read. */
  readonly aborted: boolean;
  /**
   * Sends a message to one of the flow's named sinks (with the flow's retry policy) and returns its reply, if it
   * is a request-reply sink. Rejects with the sink's HubError once retries are used up.
   */
  send(sink: string, message: Message): Promise<Message | undefined>;
  /**
   * The idempotent-consumer check, kept in the journal (so it holds across restarts and replicas): resolves true if
   * `key` was not seen in this flow within `ttlMs` (it is remembered from now on), false if it was. Of concurrent
   * calls with one key exactly one gets true. Rejects with a retryable HubError when the journal is unavailable.
   */
  dedupe(key: string, ttlMs: number): Promise<boolean>;
}

/**
 * One step of mediation: takes a message and returns the messages that go on to the next step: none to drop it,
 * one to pass it on (changed or not), several to split it. Called concurrently for different messages; must not
 * keep per-message state between calls. Throws a HubError (permanent or retryable) when the message cannot pass.
 */
export type Step = ((message: Message, ctx: StepContext) => Promise<Message[]> | Message[]) & { lifecycle?: StepLifecycle };

/** Given to a step factory at load time. */
export interface StepBuildContext {
  readonly flow: string;
  /** The hub's limits on parsed documents (depth, size); pass them to parseXml/parseJson. */
  readonly limits: HubLimits;
  readonly baseDir: string;
  readonly schemasDir: string;
  readonly logger: Logger;
  /** The flow's sinks: name to whether it is request-reply. */
  readonly sinks: ReadonlyMap<string, { requestReply: boolean }>;
  /** Records a config problem at a path inside this step's config (e.g. ['jsonata']); the flow then does not start. */
  report(issue: ConfigIssue): void;
  /** Compiles a message schema from schemas/ by name (e.g. "order.v1"), cached per hub; reports if it is missing. */
  loadSchema(name: string, path: (string | number)[]): ((value: unknown) => { valid: boolean; errors: SchemaError[] }) | undefined;
}

export interface SchemaError {
  /** JSON pointer into the message body. */
  path: string;
  message: string;
}

/** The one registration that declares a step kind: `src/steps/NAME/index.ts` default-exports it. */
export interface StepRegistration<C = any> {
  /** snake_case, used as the key in flow YAML (`- transform: {...}`). */
  name: string;
  description: string;
  schema: JsonSchema;
  /**
   * Called once per flow at load (and by `hub validate`): compile expressions, load schemas, check sink names,
   * reporting every problem through `ctx.report`. The returned step runs for each message.
   */
  create(config: C, ctx: StepBuildContext): Step;
}

/**
 * What a step that keeps state or work beyond one message (aggregate, recipient_list, throttle) gets from the
 * runtime: the runner calls `start` once, after its sinks started and before its source starts, and `stop` once at
 * shutdown, after the source stopped and the messages in flight settled (or were cut short).
 */
export interface StepLifecycle {
  start(runtime: StepRuntime): Promise<void> | void;
  stop(): Promise<void> | void;
}

/**
 * The header a message emitted by a step (StepRuntime.emit) carries: the label of that step, where the message's
 * run (and its durable retry, and a replay of it from the start) begins, so that the step finishes it there.
 */
export const EMITTED_BY_HEADER = 'x-hub-emitted-by';

/** Handed to a step's `start` (StepLifecycle). */
export interface StepRuntime {
  readonly flow: string;
  /** The step's label in its flow ("2:aggregate"); with `flow`, the scope of whatever it keeps. */
  readonly step: string;
  readonly logger: Logger;
  /** Aggregate groups, in the journal (or memory, for a runner without one). */
  readonly groups: GroupStore;
  /**
   * Durable flags that outlive a message's run (recipient_list: the recipients that confirmed a message, so that a
   * durable retry of it does not call them again): `mark` keeps `key` for `ttlMs`, `marked` says whether it is kept.
   * In the journal, scoped by flow. Both reject with a retryable JOURNAL_UNAVAILABLE when the journal cannot answer.
   */
  mark(key: string, ttlMs: number): Promise<void>;
  marked(key: string): Promise<boolean>;
  /**
   * Runs `message` as a message of its own from this step on, as a broker source's message (a failure is parked in
   * the journal: waiting for a durable retry, or dead). It carries EMITTED_BY_HEADER with this step's label, by which
   * the step knows it for its own (an aggregate finishes its group there) and its durable retry starts here too.
   * Resolves once it is delivered or parked; rejects with a HubError when it is neither (the flow is stopping, the
   * journal is away), and then the caller keeps it and tries again later.
   */
  emit(message: Message): Promise<void>;
  /** The Redis the hub's journal uses (REDIS_URL), for state that replicas share (throttle); undefined without. */
  readonly redisUrl: string | undefined;
}

/**
 * Where aggregate groups are kept: the journal (its AggregateGroups role), so that a member's source can settle once
 * the member is stored and a hub killed mid-group loses nothing; in memory for a runner without a journal (tests).
 * Groups live in a `scope` (the runtime gives each step its own: flow and step); in a scope each correlation key has
 * at most one open group. Calls may overlap, across replicas sharing the journal too. Errors: the journal's
 * (JournalError: INVALID for bad arguments, UNAVAILABLE when the store cannot be reached, CLOSED).
 */
export interface GroupStore {
  /**
   * Adds a member to the open group of `key`, atomically: opens one with id `newGroupId` when the key has none
   * (unless `refuseClosed` and the key's last group was sealed within its closed time: `closed`; or `maxOpen` groups
   * are open in the scope already: `full`). A member whose id the open group holds is not added again
   * (`duplicate`). Called by the aggregate step for each member, before its source settles. Durable on resolve.
   * Rejects INVALID for an empty scope, key or member id (or one over 512 characters).
   */
  addToGroup(scope: string, key: string, member: GroupMember, options: { newGroupId: string; maxOpen?: number; refuseClosed?: boolean }): Promise<GroupAdd>;

  /**
   * Seals a group: it takes no more members (the key's next member opens a new group), and the key counts as
   * closed for `closedTtlMs` (see addToGroup's `refuseClosed`). Resolves with the group and its members in the
   * order they joined; sealing a sealed group changes nothing and resolves with it again (a caller that died before
   * it settled the group's result seals it again after a restart). Undefined when the group is gone (removed).
   * Of callers sealing one group at once, each gets it: the caller decides who emits (the runtime: the one whose
   * seal changed it, `first`). Durable on resolve.
   */
  sealGroup(scope: string, groupId: string, seal: { reason: string; closedTtlMs?: number }): Promise<{ group: GroupSummary; members: GroupMember[]; first: boolean } | undefined>;

  /** Removes a group and its members, once its result is settled (delivered, or dead). False when it was gone. Durable on resolve. */
  removeGroup(scope: string, groupId: string): Promise<boolean>;

  /** Every group of the scope, open and sealed, oldest first. Called by the runtime's timer (completion by time) and at start (sealed groups left by a crash). */
  listGroups(scope: string): Promise<GroupSummary[]>;
}

/** One member of an aggregate group, as stored: the message's id, when it joined, its headers and its body. */
export interface GroupMember {
  id: string;
  /** ISO time it joined. */
  at: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** An aggregate group's state: open (taking members) or sealed (complete, its result not yet settled). */
export interface GroupSummary {
  /** The group's id, given by the caller when the group opened: the id of the message the group becomes. */
  id: string;
  /** The correlation key its members share. */
  key: string;
  /** ISO times of the first and the last member. */
  openedAt: string;
  lastAt: string;
  size: number;
  /** Set once sealed: when, and why (the caller's word: count, predicate, timeout, idle, size ...). */
  sealed?: { at: string; reason: string };
}

/**
 * What became of a member handed to addToGroup: `added` to its key's open group (opened for it when none was open),
 * or `duplicate` (a member with its id is in that group already; nothing changed), each with the group as it is now;
 * or refused, changing nothing: `closed` (the key's last group was sealed within its closed time, and the caller
 * asked for late members to be refused), `full` (opening a group would pass `maxOpen`).
 */
export type GroupAdd = { outcome: 'added' | 'duplicate'; group: GroupSummary } | { outcome: 'closed' | 'full' };

// ---------------------------------------------------------------------------------------------------------------

export interface HubLimits {
  /** Largest request body accepted, in bytes. */
  bodyBytes: number;
  /** Deepest nesting of JSON or XML accepted. */
  maxDepth: number;
}
