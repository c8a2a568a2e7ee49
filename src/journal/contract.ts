import type { GroupStore } from '../core/contracts.js';

export type { GroupAdd, GroupMember, GroupStore, GroupSummary } from '../core/contracts.js';

/**
 * The journal contract: where the hub records what happened to each message, keeps the retries that wait, keeps the
 * dead letters, and books replays. It is one contract by role, since each caller needs only a part of it:
 * - MessageLog: the records, their timelines, queries and dead-letter groups;
 * - RetryQueue: messages parked to run again, and the claims that hand each to one process;
 * - ReplayBook: the replays operators asked for, booked once per request key;
 * - DedupeKeys: the dedupe steps' keys;
 * - AdminAudit: the admin API's audit entries;
 * - AggregateGroups: the aggregate steps' open groups and their members;
 * and `Journal`, all of them with close(), which the backends implement: embedded.ts (a local append-only file, the
 * default) and redis.ts (Redis with BullMQ, for production and several replicas). Both pass one suite
 * (contract.suite.ts).
 *
 * Each method's comment is the specification: who calls it, how often, whether calls may overlap, what is durable
 * once its promise resolves, and what its errors mean. Common to all methods:
 * - Calls may overlap (the runtime calls for many messages in flight at once, the admin API alongside), unless the
 *   method's comment says otherwise.
 * - "Durable" means: the embedded backend has written it and fdatasync'd the log; the Redis backend has had it
 *   acknowledged by Redis, so it is exactly as durable as that Redis's persistence (AOF with appendfsync everysec or
 *   always in production).
 * - A rejection is a `JournalError` (errors.ts), whose `failure` is named below and whose `code` is the table's
 *   (JOURNAL_STORE_UNAVAILABLE, JOURNAL_CLOSED, ...). Any method may reject `UNAVAILABLE` (the store cannot be reached or
 *   written: retryable, and nothing may be acknowledged to a transport on the strength of this call) and `CLOSED`
 *   (called after close()). `NOT_FOUND` (the message has no record: never recorded under the flow's policy, or
 *   removed since) and `INVALID` (a bad argument: a caller bug) only where the method says so. `LOCKED` comes only
 *   from opening the embedded journal (another process has it open).
 * - Times are ISO-8601 strings in and out; ordering uses their millisecond value.
 */

/** Per flow: which messages get a record. */
export type JournalPolicy = 'all' | 'failures' | 'none';

/**
 * A flow's journal settings, from its YAML (`journal: failures` or `journal: { record: failures, body_bytes: 65536 }`).
 * - `all`: every message is recorded at receipt, with every event.
 * - `failures` (the default): nothing is written for a message that succeeds on its first try; its record is
 *   created at its first failure, with the events held in memory until then (see MessageTrail in trail.ts).
 * - `none`: no timeline. A message that must be parked (waiting for retry, dead) is still recorded, because the
 *   journal is then the only copy of it: losing it to save a write would break "never lost".
 */
export interface FlowJournalOptions {
  record: JournalPolicy;
  /** Most body bytes stored per message; a larger body is stored truncated and marked so. */
  maxBodyBytes: number;
}

export const DEFAULT_FLOW_JOURNAL: FlowJournalOptions = { record: 'failures', maxBodyBytes: 64 * 1024 };

export type TimelineEventType = 'received' | 'step' | 'sink' | 'delivered' | 'failed' | 'waiting-for-retry' | 'dead' | 'replayed' | 'resolved' | 'archived';

/**
 * Where a message stands: the status its latest status-setting event gave it. `step` and `replayed` set none.
 * The list is the one source of the type and of what the admin API accepts and documents.
 */
export const MESSAGE_STATUSES = ['received', 'delivered', 'failed', 'waiting-for-retry', 'dead', 'resolved', 'archived'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const STATUS_OF_EVENT: Readonly<Record<TimelineEventType, MessageStatus | undefined>> = {
  received: 'received',
  step: undefined,
  sink: undefined,
  delivered: 'delivered',
  failed: 'failed',
  'waiting-for-retry': 'waiting-for-retry',
  dead: 'dead',
  replayed: undefined,
  resolved: 'resolved',
  archived: 'archived',
};

/** The error behind a failed, waiting or dead event (a HubError's code, message and step). */
export interface ErrorInfo {
  code: string;
  message: string;
  /** The step where it arose, e.g. "2:validate" or "sink:orders". */
  step?: string;
}

export interface TimelineEvent {
  type: TimelineEventType;
  /** When it happened (ISO). */
  at: string;
  /** The attempt it belongs to (1 for the first try). The record's `attempts` is the highest seen. */
  attempt?: number;
  /** For `step`: the step label; for `delivered`: the sink. */
  step?: string;
  error?: ErrorInfo;
  /** For `waiting-for-retry`: when it is due. */
  dueAt?: string;
  /** Free text: the replay id for `replayed`, who resolved it, an archive reason. */
  detail?: string;
  /**
   * For `received` under the `all` policy: the transport's facts the source gave besides the body and headers (a
   * REST request's method, path, params and query; a SOAP call's operation; a Kafka record's topic and key; an AMQP
   * message's exchange and routing key), so that the message can be given to its flow again as it came.
   */
  meta?: Record<string, unknown>;
  /** For `sink` (recorded under the `all` policy only): one try of a sink call and what the sink answered. */
  call?: SinkCallRecord;
}

/**
 * One try of a sink call as the journal keeps it under `all`: `hub messages fixture` makes a test case's mocks from
 * these. Its failure is not the message's error (a later try may succeed), so it is not the event's `error`.
 */
export interface SinkCallRecord {
  sink: string;
  /** The try's number, 1 for the first (the flow's retry policy makes the others). */
  try: number;
  /**
   * A request-reply sink's answer: its status (when it has one), headers and body, stored as the message body is.
   * `masked` is set by the admin API for a viewer, whose body and header values are withheld.
   */
  reply?: { status?: number; headers: Record<string, string>; body: string; encoding: 'utf8' | 'base64'; truncated: boolean; masked?: boolean };
  /** The try's error. */
  failure?: ErrorInfo;
}

/** A message as the runtime hands it to the journal (a snapshot: the journal keeps no reference to it). */
export interface MessageInput {
  id: string;
  correlationId?: string;
  flow: string;
  /** The source endpoint, e.g. "amqp:orders.eu". */
  source: string;
  receivedAt: string;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  /** For a replay: the original's id. */
  replayOf?: string;
}

/**
 * A body as stored. `encoding: 'utf8'` when the (stored part of the) body is valid UTF-8, else `base64` of the raw
 * bytes. `size` and `sha256` describe the whole original body, so a truncated body still says what it was.
 */
export interface StoredBody {
  encoding: 'utf8' | 'base64';
  data: string;
  size: number;
  truncated: boolean;
  sha256: string;
}

/** One message in a query page: the record without its body and timeline. */
export interface MessageSummary {
  id: string;
  correlationId?: string;
  flow: string;
  source: string;
  receivedAt: string;
  updatedAt: string;
  status: MessageStatus;
  attempts: number;
  lastError?: ErrorInfo;
  replayOf?: string;
}

export interface MessageRecord extends MessageSummary {
  headers: Record<string, string>;
  body: StoredBody;
  /** Oldest first. */
  timeline: TimelineEvent[];
  /** Ids of the replays made from this message, oldest first. */
  replayedAs: string[];
}

export interface MessageQuery {
  flow?: string;
  correlationId?: string;
  status?: MessageStatus | MessageStatus[];
  /** receivedAt >= from (ISO). */
  from?: string;
  /** receivedAt < to (ISO). */
  to?: string;
  /** The last error's code. */
  errorCode?: string;
  /** The last error's step. */
  errorStep?: string;
  /** Case-insensitive substring of the last error's message. */
  errorText?: string;
  /** Page size, 1..500 (default 50). */
  limit?: number;
  /** From a previous page's `next`. */
  cursor?: string;
}

/**
 * Newest first (by receivedAt, then id). `next` is set when there may be more: pass it as `cursor`. A page may hold
 * fewer than `limit` items and still have a `next` (each call scans a bounded number of candidates). A record
 * added after the first page was read appears on no later page of that walk when it is newer than the cursor.
 */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** A claimed due retry: the caller now owns it until it completes or releases it, or until its lease runs out. */
export interface RetryClaim {
  id: string;
  flow: string;
  /** The attempt this retry will be (2 for the first retry). */
  attempt: number;
  dueAt: string;
  /** Proves ownership to completeRetry/releaseRetry. */
  token: string;
}

export interface DeadLetterGroup {
  flow: string;
  /** The error's step, or "" when it had none. */
  step: string;
  code: string;
  /** Messages dead now in this group (a replayed or resolved one leaves it). */
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/** How many records of one flow stand in each status now (a status none stands in is left out). */
export interface FlowStatusCounts {
  flow: string;
  counts: Partial<Record<MessageStatus, number>>;
}

export interface ReplayRequest {
  /** Idempotency key from the caller (admin API: the Idempotency-Key header, else a hash of the request). */
  requestKey: string;
  originalId: string;
  /** The id the replayed message will carry. */
  newId: string;
  /** Who asked (operator name, API token's subject, "cli:user"). */
  by: string;
  /** Default: now. */
  at?: string;
  /** What: to the start or to the failed step, optionally another sink, optionally an edited body. */
  target: { to: 'start' | 'failed-step'; step?: string; sink?: string };
  /** The edited body, when the operator changed it; otherwise the original body is replayed. */
  editedBody?: Buffer;
  note?: string;
}

/** The audit entry of one replay, as recordReplay stores it. */
export interface ReplayRecord {
  requestKey: string;
  originalId: string;
  newId: string;
  flow: string;
  by: string;
  at: string;
  target: { to: 'start' | 'failed-step'; step?: string; sink?: string };
  edited: boolean;
  /** sha256 (hex) of the original body and of the body replayed. */
  bodyHashBefore: string;
  bodyHashAfter: string;
  note?: string;
}

export interface ReplayOutcome {
  /** False when this request key was already accepted: `replay` is that earlier replay, and nothing must be sent. */
  accepted: boolean;
  replay: ReplayRecord;
}

/**
 * One entry of the admin audit: who did what through the admin API (logins, replays, pauses, archives ...), refused
 * attempts included. Kept by the journal so that it outlives a restart and every replica sees the same one.
 */
export interface AuditRecord {
  /** Increasing across every process sharing the journal, given by it: the cursor of listAudit. */
  seq: number;
  at: string;
  action: string;
  outcome: string;
  /** Who: a user name, "token[:X-Hub-Actor]", "local[:X-Hub-Actor]"; "anonymous" when nobody could be told. */
  actor: string;
  role?: string;
  /** The client's address (the socket's peer, or the one a trusted proxy forwarded). */
  client: string;
  /** What it was about: a message id, a filter. */
  target?: string;
  /** The HTTP status of the answer. */
  status?: number;
  detail?: string;
}

/** Audit entries a journal keeps at least: the newest, the older ones dropped as new ones come. */
export const AUDIT_KEPT = 100_000;

// ---------------------------------------------------------------------------------------------------------------
// The roles. A caller takes the role it uses (README.md lists who takes which); `Journal` is all of them.

/**
 * The message log: one record per message (what was received, and a timeline of what happened to it since), the
 * indexes a query walks, and the dead letters (records whose status is `dead`, grouped by flow, step and error
 * code). Written by the flow runner through MessageTrail (trail.ts) and when it parks a message; read and changed
 * by the admin API; swept by the RetentionSweeper (retention.ts).
 */
export interface MessageLog {
  /**
   * Records a message: creates its record if it has none (headers, and the body stored under
   * `options.maxBodyBytes`), then appends `events` as `append` does. When the record exists already (a message
   * redelivered after a crash, a second replica), the stored message is left as it was and only the events are
   * appended, so calling it twice is harmless; `created` says which happened. Called by MessageTrail for the flow
   * runner, once per recorded message: at receipt under `all`, at the first failure under `failures` (with the
   * events held in memory until then), and from ensureRecorded with no body cap before the message is parked,
   * whatever the policy; and by the admin API, once per replay, for the new message (whole) before it is booked.
   * Calls may overlap, also for one id: one creates the record, the others append. Durable on resolve. Rejects
   * INVALID for an empty id (or one over 512 characters), an empty flow, a receivedAt or event time that is not
   * ISO, or an unknown event type.
   */
  record(message: MessageInput, events: TimelineEvent[], options: Pick<FlowJournalOptions, 'maxBodyBytes'>): Promise<{ created: boolean }>;

  /**
   * Appends events to a message's timeline and folds them, in order, into its summary: status (STATUS_OF_EVENT),
   * attempts (the highest), last error, updatedAt; a `dead` event puts the record in the dead-letter group of its
   * flow, step and error code, and any later status takes it out. Called by MessageTrail for each write of a
   * recorded message (the events noted since the last one), and by the admin API: `archived` (archive one, or a
   * group), `failed` (a booked replay that could not run). One call's events are applied together; two calls for
   * one message that overlap land in either order, so a caller that cares (the trail) waits for one before the
   * next. Calls for different messages may overlap. Durable on resolve. Rejects NOT_FOUND when the message has no
   * record, INVALID for an unknown event type or an event time that is not ISO.
   */
  append(id: string, events: TimelineEvent[]): Promise<void>;

  /**
   * One message with its body and timeline (a copy: changing it changes nothing stored), or undefined when it has
   * none (never recorded, or removed). Called by the admin API (a message's page and its body, before a replay or
   * an archive), by the flow runner for each claimed retry (the message to run again), and by MessageTrail when a
   * record cut under the body cap must be made again whole. Calls may overlap.
   */
  get(id: string): Promise<MessageRecord | undefined>;

  /**
   * Message summaries matching every given criterion, newest first, paged (see Page). Called by the admin API (the
   * message list of the console and `hub messages`; every page of a filter for a bulk replay or a group archive) and by
   * the RetentionSweeper (the pages of each status it keeps for a limited time, once a minute). No state is kept
   * between pages: a walk sees each record as it is when its page is read. Calls may overlap. Rejects INVALID for a bad
   * cursor or limit, or a from/to that is not ISO.
   */
  query(query: MessageQuery): Promise<Page<MessageSummary>>;

  /**
   * Removes a message's record, timeline and indexes, its place in a dead-letter group, and its retry if one waits
   * (a retry claimed meanwhile ends with its claimer, which finds no record). Replays that refer to it keep their
   * audit entries. Resolves false when there was no record. Called by the RetentionSweeper (with `ifStatus`), the
   * admin API (DELETE of a message; the record of a replay whose booking was refused), and MessageTrail (a record
   * cut under the body cap, removed to be made again whole). With `ifStatus`, atomically: only when the record's
   * status is one of them and no retry of it waits or runs; resolves false otherwise, so a record that changed since
   * it was read is never removed by mistake. Calls may overlap. Durable on resolve.
   */
  remove(id: string, options?: { ifStatus?: MessageStatus[] }): Promise<boolean>;

  /**
   * Parks a recorded message as dead with its reason: appends a `dead` event (a shorthand for append), which puts it
   * in its dead-letter group. Called by the flow runner for a permanent error, or when the retries are used up (in
   * process and durable), and by the admin API for a booked replay that could not run. Durable on resolve: the source
   * may then settle its transport. Rejects NOT_FOUND without a record, INVALID for an `at` that is not ISO.
   */
  deadLetter(id: string, dead: { error: ErrorInfo; attempt: number; at?: string }): Promise<void>;

  /**
   * The dead letters grouped by flow, step and error code: largest group first (then by flow, step, code), each with
   * its count and when its first and last members died. Called by the admin API (GET dead-letters: the console's
   * page, `hub dead-letters`); cheap enough to poll. Calls may overlap.
   */
  deadLetterGroups(filter?: { flow?: string }): Promise<DeadLetterGroup[]>;

  /**
   * How many records stand in each status now, per flow (flows in name order; a flow with no record is left out):
   * kept as the records change, so that it is cheap at any size (not a walk). Called by the admin API for the Flows
   * page's current figures (dead, waiting, failed now: not counters since a start), once per live tick. Calls may
   * overlap. A read: changes nothing.
   */
  statusCounts(filter?: { flow?: string }): Promise<FlowStatusCounts[]>;
}

/**
 * The retry queue: recorded messages parked to be run again at a due time, and the claims that hand each due one to
 * exactly one process among those sharing the journal. Filled by the flow runner (and the admin API's replay
 * safety net); drained by each process's RetryPoller (runtime/retry-poller.ts), whose flow runner ends each claim.
 */
export interface RetryQueue {
  /**
   * Parks a recorded message to be retried at `dueAt` (the caller computed it: exponential backoff with a cap is
   * the error policy's business) as attempt `attempt`, and appends its `waiting-for-retry` event. Called by the flow
   * runner once the in-process retries are used up on a retryable error, and by the admin API for each booked replay
   * (a safety net due after the flow's timeout, should the process die while the replay runs). Once it resolves the
   * message is durably parked: the source may settle its transport. Scheduling a message that already waits moves
   * its due time; a message whose retry is claimed is not scheduled again (its claimer ends it: completeRetry,
   * releaseRetry). Rejects NOT_FOUND without a record (record it first, whatever the policy), INVALID for a dueAt
   * that is not ISO.
   */
  scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void>;

  /**
   * Claims up to `limit` retries whose due time has come, oldest due first (within a flow: across flows a backend may
   * let them take turns). Each due retry is handed to exactly one caller across every process sharing the journal.
   * Called by each process's retry poller, every `journal.retry_poll` (1 s by default), at once while it finds full
   * batches; one poller's calls do not overlap, several processes' do. A claim lasts `leaseMs` (the backend's option,
   * 30 s by default): a claim not completed, released or extended by then (its process died) becomes claimable again,
   * so a retry can run twice (at least once), never zero times. After a crash, what a process held is due again once
   * its lease runs out (embedded: at once on reopen, since claims live in memory and only one process has the journal).
   * With `flows`, only retries of those flows are claimed, and the others are left untouched for a caller that runs
   * them: flow-mode processes sharing a journal each claim their own flow's (a claim taken and left to run out would
   * hold that retry back by a whole lease). Without it, every flow's; an empty list claims nothing. Rejects UNAVAILABLE
   * at once while the store cannot be reached (Redis: rather than wait for it), so that the poller can say so.
   */
  claimDueRetries(limit: number, options?: { flows?: readonly string[] }): Promise<RetryClaim[]>;

  /**
   * Keeps a claimed retry this caller's for another `leaseMs` from now. The retry poller calls it while the retry
   * runs (every third of the lease, without waiting for the previous call), so that a run longer than the lease (a
   * slow downstream, a wait for a slot in the flow) is not handed to another claimer meanwhile. Not durable on its
   * own (embedded: claims live in memory). Rejects NOT_FOUND when the claim is no longer held.
   */
  extendRetry(claim: RetryClaim): Promise<void>;

  /**
   * Ends a claimed retry: the caller has delivered the message or dead-lettered it (it appends that event itself),
   * or found its record gone or finished (removed, replayed, archived meanwhile). Called by the flow runner once per
   * claim it ran to an end. Durable on resolve. Rejects NOT_FOUND when the claim is no longer held: its lease ran out
   * and another process claimed it (which now owns the outcome), or (embedded) the message was removed.
   */
  completeRetry(claim: RetryClaim): Promise<void>;

  /**
   * Gives a claimed retry back: due again at `dueAt` as attempt `attempt` (a retryable failure, with the next backoff,
   * or a second later when the hub itself was the cause; the flow is paused), with a `waiting-for-retry` event appended
   * to the record while it has one; or due now when `retry` is omitted (the process is stopping before it ran). Called
   * by the flow runner, once per claim it does not end. Durable on resolve (Redis: the retry is; its event is written
   * after it, and a failure to write the event is not reported). Rejects NOT_FOUND as completeRetry does, INVALID for a
   * dueAt that is not ISO.
   */
  releaseRetry(claim: RetryClaim, retry?: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void>;
}

/**
 * The replay book: one audit entry per replay an operator asked for, booked before the replay is sent, whose request
 * key makes a replay asked twice (a retried request, a double click) run once. Kept and read by the admin API.
 */
export interface ReplayBook {
  /**
   * Books one replay before the caller sends it: atomically checks `requestKey` (a key already accepted gives
   * `accepted: false` with the earlier replay, and changes nothing), then stores the audit entry (hashes of the
   * original body and of the body replayed), links `newId` to the original (its `replayedAs`), and appends
   * `replayed` and `resolved` to the original (which takes it out of its dead-letter group). The caller sends the
   * new message (with meta.replayOf) only when `accepted`. Called by the admin API, once per message replayed (a
   * bulk replay: once per message, under the request's key and the message's id); calls may overlap, also with the
   * same key: exactly one is accepted. Durable on resolve. Rejects NOT_FOUND when the original has no record ("a
   * message that no longer exists"), INVALID for an empty request key or new id.
   */
  recordReplay(request: ReplayRequest): Promise<ReplayOutcome>;

  /**
   * The replay accepted under a request key, or undefined. Nothing in the hub calls it today (recordReplay answers
   * a repeated key itself); it is the read side of the idempotency gate, for tools and the contract suite.
   */
  getReplay(requestKey: string): Promise<ReplayRecord | undefined>;

  /**
   * The replay audit, newest first (by `at`, then request key), optionally the replays of one original; paged like
   * query. Called by the admin API (GET replays: the console's replay audit). Calls may overlap. Rejects INVALID
   * for a bad cursor or limit.
   */
  listReplays(filter?: { originalId?: string; limit?: number; cursor?: string }): Promise<Page<ReplayRecord>>;
}

/**
 * The dedupe steps' keys, kept in the journal so that they hold across restarts and replicas: each is held by an
 * owner (the message that took it) for a time to live. Used by the flow runner alone.
 */
export interface DedupeKeys {
  /**
   * Takes a key, atomically: resolves true when `key` is free (never taken, or its time to live ran out), and it is
   * now held by `owner` for `ttlMs`; true as well when the same non-empty `owner` holds it or has it reserved
   * (reserveDedupe), whose time to live then starts again from now (a retry of the message that took it must pass
   * again, or it would be dropped undelivered); false, changing nothing, when another owner (or an owner-less taker)
   * holds it or has it reserved. Called by the flow runner once a message that reserved keys is delivered or parked,
   * once per key, with the message's id as owner: its reservation becomes a kept key. Calls may overlap, across
   * replicas too: of concurrent calls with one free key and different owners exactly one gets true. Durable on
   * resolve, so a restart does not forget it. Rejects INVALID for an empty key (or one over 512 characters) or a
   * time to live that is not positive.
   */
  dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean>;

  /**
   * Who holds a dedupe key now, kept or reserved: its owner ('' for one taken without an owner), or undefined when
   * it is free (never taken, or its time to live or lease ran out). For operators and tests; calls may overlap. A
   * read: changes nothing.
   */
  dedupeHolder(key: string): Promise<string | undefined>;

  /**
   * Reserves a key for a message while it runs, atomically, across replicas: 'reserved' when `key` was free (now
   * reserved by `owner` for `leaseMs`) or is `owner`'s already (reserved or kept: a retry of that message, which
   * changes nothing); 'held' when another owner keeps it (a message that settled: this one is a duplicate); 'busy'
   * when another owner's reservation is still running (its message is in flight, here or on another replica: ask
   * again later, its outcome decides). A reservation ends when its owner keeps the key (`dedupe`), gives it up
   * (`releaseDedupe`), or its lease runs out (a replica killed mid-message). Called by the flow runner for each key
   * a dedupe step checks, as the message arrives. Calls may overlap, across replicas too: of concurrent calls with
   * one free key and different owners exactly one gets 'reserved'. Redis: durable on resolve; embedded: held in the
   * process (the only one that may open the store), so a restart forgets it. Rejects INVALID for an empty key (or
   * one over 512 characters), an empty owner, or a lease that is not positive.
   */
  reserveDedupe(key: string, owner: string, leaseMs: number): Promise<DedupeReservation>;

  /**
   * Gives up `owner`'s reservation of `key` (its message failed and went back to its source or caller), so that the
   * next message with the key passes at once; a key kept (or held by another) stays as it is. Called by the flow
   * runner when a message that reserved keys is not delivered or parked. Calls may overlap.
   */
  releaseDedupe(key: string, owner: string): Promise<void>;
}

/** What reserveDedupe found: see there. */
export type DedupeReservation = 'reserved' | 'held' | 'busy';

/** The admin audit: every login and change made through the admin API, kept and read by the admin API's AuditLog. */
export interface AdminAudit {
  /**
   * Appends one admin audit entry and resolves with it, its `seq` given (one more than the newest, across
   * processes). Called by the admin API for each login and change, not awaited by the request it audits (the
   * process's log line is the entry's record should this fail); calls may overlap. Durable on resolve; the journal
   * keeps at least the newest AUDIT_KEPT.
   */
  appendAudit(entry: Omit<AuditRecord, 'seq'>): Promise<AuditRecord>;

  /**
   * Audit entries newest first (by seq), optionally of one action; `cursor` is the previous page's `next` (a seq, as
   * a string: anything else is a caller bug that the backends do not check, and the admin API refuses). Called by
   * the admin API (GET audit), after waiting for its own pending appends. Calls may overlap. Rejects INVALID for a
   * bad limit. Redis reads at most 20,000 entries per call: when `action` is rarer than that, the page ends early
   * and without `next`.
   */
  listAudit(filter?: { action?: string; limit?: number; cursor?: string }): Promise<Page<AuditRecord>>;
}

/** A replay job as the admin API keeps it (replay-jobs.ts owns its fields): the journal stores it whole, by id. */
export interface ReplayJobRecord {
  id: string;
  startedAt: string;
  [field: string]: unknown;
}

/** One message's result in a replay job. */
export interface ReplayJobResult {
  id: string;
  at: string;
  /** delivered, waiting-for-retry, dead, duplicate, removed (gone before its turn), parked (the replay cap), failed. */
  outcome: string;
  newId?: string;
  reason?: string;
}

/** Replay jobs kept at least: the newest; older ones (and their results) go as new ones come. */
export const REPLAY_JOBS_KEPT = 100;

/**
 * The replay jobs: bulk replays that run on in the hub, kept here so that a restart resumes them (and every replica
 * sees them), with each message's result. Kept and read by the admin API's ReplayJobs alone.
 */
export interface ReplayJobStore {
  /**
   * Stores a job whole (created or changed: its state, counts, where its walk is), replacing what was stored under its
   * id. Called by ReplayJobs when a job starts, at each checkpoint (about once a second while it runs), and when it is
   * paused, resumed, cancelled or ends; one job's calls do not overlap. Durable on resolve. Keeps at least the newest
   * REPLAY_JOBS_KEPT jobs (by startedAt). Rejects INVALID for an empty id or a startedAt that is not ISO.
   */
  saveReplayJob(job: ReplayJobRecord): Promise<void>;

  /** The jobs kept, newest first (by startedAt), at most `limit` (default 100). Called by the admin API. */
  listReplayJobs(limit?: number): Promise<ReplayJobRecord[]>;

  /** One job, or undefined. */
  getReplayJob(id: string): Promise<ReplayJobRecord | undefined>;

  /** Appends per-message results of a job, in order. Called by ReplayJobs at each checkpoint. Durable on resolve. */
  appendReplayJobResults(id: string, results: ReplayJobResult[]): Promise<void>;

  /** A job's results in the order appended, from `offset` (default 0), at most `limit` (default 100), and how many there are. */
  replayJobResults(id: string, options?: { offset?: number; limit?: number }): Promise<{ items: ReplayJobResult[]; total: number }>;
}

/**
 * The aggregate steps' groups (GroupStore in core/contracts.ts, where the steps' side of it is written down): kept in
 * the journal so that a member's source settles once the member is stored, and a hub killed mid-group loses nothing.
 * Used by the flow runner's step runtime (runtime/step-runtime.ts) alone; calls may overlap, across replicas too.
 */
export interface AggregateGroups extends GroupStore {}


/**
 * The whole journal: every role, and its lifecycle. What the backends implement (embedded.ts, redis.ts) and
 * openJournal (open.ts) returns; held by its owner, the hub (hub.ts), which hands each part its role and closes it.
 */
export interface Journal extends MessageLog, RetryQueue, ReplayBook, DedupeKeys, AdminAudit, ReplayJobStore, AggregateGroups {
  /**
   * Waits for the writes under way, then releases the store (embedded: the log file and the lock; Redis: BullMQ's
   * queues and workers, waited for at most 2 s, and the connections). Claims still held are not released: they are
   * due again as after a crash. Called once, by whoever opened the journal (the hub at stop, after the flows and the
   * admin audit have finished writing); a second call does nothing. Every other method rejects CLOSED afterwards.
   */
  close(): Promise<void>;
}
