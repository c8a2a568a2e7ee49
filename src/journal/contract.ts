/**
 * The journal contract: where the hub records what happened to each message, keeps the retries that wait, keeps the
 * dead letters, and books replays. Two backends implement it (embedded.ts: a local append-only file, the default;
 * redis.ts: Redis with BullMQ, for production and several replicas) and both pass one suite (contract.suite.ts).
 *
 * Each method's comment is the specification: who calls it, how often, whether calls may overlap, what is durable
 * once its promise resolves, and what its errors mean. Common to all methods:
 * - Calls may overlap freely (the runtime calls from many messages in flight at once, the admin API alongside).
 * - "Durable" means: the embedded backend has fsync'd it; the Redis backend has had it acknowledged by Redis, so
 *   it is exactly as durable as that Redis's persistence (AOF with appendfsync everysec or always in production).
 * - A rejection is a `JournalError` (errors.ts): `NOT_FOUND` (the message has no record: never recorded under the
 *   flow's policy, or removed since), `INVALID` (a caller bug: bad argument), `UNAVAILABLE` (the store cannot be
 *   reached or written: retryable, and nothing may be acknowledged to a transport on the strength of this call),
 *   `LOCKED` (embedded: another process holds the journal), `CLOSED` (called after close()).
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

export type TimelineEventType = 'received' | 'step' | 'delivered' | 'failed' | 'waiting-for-retry' | 'dead' | 'replayed' | 'resolved' | 'archived';

/**
 * Where a message stands: the status its latest status-setting event gave it. `step` and `replayed` set none.
 * The list is the one source of the type and of what the admin API accepts and documents.
 */
export const MESSAGE_STATUSES = ['received', 'delivered', 'failed', 'waiting-for-retry', 'dead', 'resolved', 'archived'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const STATUS_OF_EVENT: Readonly<Record<TimelineEventType, MessageStatus | undefined>> = {
  received: 'received',
  step: undefined,
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

/** The audit entry of one replay. */
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

/** Audit entries a journal keeps: the newest, the older ones dropped as new ones come. */
export const AUDIT_KEPT = 100_000;

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

export interface Journal {
  /**
   * Records a message: creates its record if it has none (body stored under `options.maxBodyBytes`), then appends
   * `events`. When the record exists already (a retry, a second replica), the stored message is left as it was and
   * only the events are appended, so calling it twice is harmless. Called by the runtime's journal middleware: at
   * receipt under `all`; at the first failure under `failures` (with the events held in memory until then) or when
   * a message must be parked. Durable on resolve. Rejects INVALID for an empty id or flow.
   */
  record(message: MessageInput, events: TimelineEvent[], options: Pick<FlowJournalOptions, 'maxBodyBytes'>): Promise<{ created: boolean }>;

  /**
   * Appends events to a message's timeline, updating its status (STATUS_OF_EVENT), attempts and last error, and its
   * dead-letter group (a `dead` event puts it in its flow/step/code group; any later status takes it out). Called
   * by the runtime for each step/outcome of a recorded message, and by the admin API (resolve, archive). Calls for
   * one message should not overlap (its events would interleave); calls for different messages may. Durable on
   * resolve. Rejects NOT_FOUND when the message has no record.
   */
  append(id: string, events: TimelineEvent[]): Promise<void>;

  /** One message with its body and timeline, or undefined when it has none (never recorded, or removed). Admin API, CLI. */
  get(id: string): Promise<MessageRecord | undefined>;

  /** Messages matching every given criterion, newest first, paged (see Page). Admin API, CLI, replay-by-filter. Rejects INVALID for a bad cursor or limit. */
  query(query: MessageQuery): Promise<Page<MessageSummary>>;

  /**
   * Removes a message's record, timeline and indexes, and any retry waiting for it (retention, or an operator).
   * Resolves false when there was none. Replays that refer to it keep their audit entries. Durable on resolve.
   * With `ifStatus` (retention), atomically: only when the record's status is one of them and no retry of it waits
   * or runs; resolves false otherwise, so a record that changed since it was read is never removed by mistake.
   */
  remove(id: string, options?: { ifStatus?: MessageStatus[] }): Promise<boolean>;

  /**
   * Parks a recorded message to be retried at `dueAt` (the caller computed it: exponential backoff with a cap is
   * the error policy's business), and appends its `waiting-for-retry` event. Called by the runtime once in-process
   * retries are used up on a retryable error. Once it resolves the message is durably parked: the source may
   * settle its transport. Scheduling a message that already waits moves its due time. Rejects NOT_FOUND without a
   * record (record it first, whatever the policy).
   */
  scheduleRetry(id: string, retry: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void>;

  /**
   * Claims up to `limit` retries whose due time has come, oldest due first (within a flow: across flows a backend
   * may let them take turns). Each due retry is handed to exactly one
   * caller across every process sharing the journal. Called by each replica's retry poller, every second or so;
   * calls may overlap. A claim lasts `leaseMs` (the backend's option, 30 s by default): a claim neither completed
   * nor released by then (its replica died) becomes claimable again, so a retry can run twice (at least once),
   * never zero times. After a crash, what a replica held is due again once its lease runs out (embedded: at
   * once on reopen, since only one process has the journal).
   * With `flows`, only retries of those flows are claimed, and the others are left untouched for a caller that runs
   * them: flow-mode processes sharing a journal each claim their own flow's (a claim taken and left to run out
   * would hold that retry back by a whole lease). Without it, every flow's; an empty list claims nothing.
   */
  claimDueRetries(limit: number, options?: { flows?: readonly string[] }): Promise<RetryClaim[]>;

  /**
   * Ends a claimed retry: the caller has delivered the message or dead-lettered it (it appends that event itself).
   * Durable on resolve. Rejects NOT_FOUND when the claim is no longer held (its lease ran out and another replica
   * claimed it): the other replica now owns the outcome.
   */
  completeRetry(claim: RetryClaim): Promise<void>;

  /**
   * Keeps a claimed retry this caller's for another `leaseMs` from now. The retry poller calls it while the retry
   * runs (every third of the lease), so that a run longer than the lease (a slow downstream, a wait for a slot in the
   * flow) is not handed to another claimer meanwhile. Rejects NOT_FOUND when the claim is no longer held.
   */
  extendRetry(claim: RetryClaim): Promise<void>;

  /**
   * Gives a claimed retry back: due again at `dueAt` (another failure, with the next backoff: pass `attempt` and
   * `error` and a `waiting-for-retry` event is appended), or due now when omitted (the replica is stopping before it
   * ran). Durable on resolve. Rejects NOT_FOUND as completeRetry does.
   */
  releaseRetry(claim: RetryClaim, retry?: { dueAt: string; attempt: number; error?: ErrorInfo }): Promise<void>;

  /**
   * Parks a recorded message as dead with its reason: appends a `dead` event (a shorthand for append). Called by the
   * runtime for a permanent error, or when retries are used up. Durable on resolve; the source may then settle.
   * Rejects NOT_FOUND without a record.
   */
  deadLetter(id: string, dead: { error: ErrorInfo; attempt: number; at?: string }): Promise<void>;

  /** Dead letters grouped by flow, step and error code, largest group first. Admin console; cheap enough to poll. */
  deadLetterGroups(filter?: { flow?: string }): Promise<DeadLetterGroup[]>;

  /**
   * Books one replay before the caller sends it: atomically checks `requestKey` (a key already accepted gives
   * `accepted: false` with the earlier replay, and changes nothing), then stores the audit entry (hashes of the
   * original body and of the body replayed), links `newId` to the original, and appends `replayed` and `resolved`
   * to the original. The caller sends the new message (with meta.replayOf) only when `accepted`. Called by the
   * admin API and CLI, once per message replayed; calls may overlap, also with the same key. Durable on resolve.
   * Rejects NOT_FOUND when the original has no record ("a message that no longer exists").
   */
  recordReplay(request: ReplayRequest): Promise<ReplayOutcome>;

  /** The replay accepted under a request key, if any. */
  getReplay(requestKey: string): Promise<ReplayRecord | undefined>;

  /** The replay audit, newest first, optionally for one original; paged like query. */
  listReplays(filter?: { originalId?: string; limit?: number; cursor?: string }): Promise<Page<ReplayRecord>>;

  /**
   * The dedupe step's idempotent-consumer check: atomically, true if `key` was not seen within its time to live (it
   * is now remembered for `ttlMs`, held by `owner`), false if it was, unless it is held by the same `owner` (the
   * message that first took it, run again by a retry: it must pass again, or it would be dropped undelivered); then
   * its time to live starts again from now. That is how the runtime turns a short reservation into the full time to
   * live once the message is delivered or parked, and gives the key up (1 ms) when the message goes back to its
   * source. Calls may overlap, across replicas too: of concurrent calls with one key and different owners exactly
   * one gets true. Durable on resolve, so a restart does not forget it.
   */
  dedupe(key: string, ttlMs: number, owner?: string): Promise<boolean>;

  /**
   * Who holds a dedupe key now: its owner ('' for one taken without an owner), or undefined when it is free (never
   * taken, or its time to live ran out). The runtime checks keys with it while a message runs and takes them
   * (`dedupe`) only once the message is delivered or parked, so that a message handed back to its source (a crash,
   * a shutdown, a caller that gets an error) holds no key when it comes again.
   */
  dedupeHolder(key: string): Promise<string | undefined>;

  /** Flushes and releases the store (the lock file, connections). Called once at shutdown; later calls reject CLOSED. */
  /**
   * Appends one admin audit entry and resolves with it, its `seq` given (one more than the newest, across replicas).
   * Called by the admin API for each login and change, not awaited by the request it audits. Durable on resolve;
   * the journal keeps the newest AUDIT_KEPT.
   */
  appendAudit(entry: Omit<AuditRecord, 'seq'>): Promise<AuditRecord>;

  /** Audit entries newest first, optionally of one action; `cursor` is the previous page's `next` (a seq). */
  listAudit(filter?: { action?: string; limit?: number; cursor?: string }): Promise<Page<AuditRecord>>;

  close(): Promise<void>;
}
