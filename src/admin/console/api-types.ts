// Written by `npm run console-types` from the admin API's description (src/admin/api/: its components, and each
// operation's JSON answers and request body). Do not edit: src/admin/api/console-types.test.ts fails when it is stale.

/** An RFC 9457 problem: every error answer of the admin API (application/problem+json). */
export interface Problem {
  /** urn:integration-hub:error:<code> */
  type: string;
  title: string;
  status: number;
  /** What is wrong and what to do about it. */
  detail: string;
  instance?: string;
  /** The code from the hub's error table (src/core/errors.ts). */
  code: string;
  /** The message the problem is about, when it is about one. */
  messageId?: string;
  /** Each problem found in the request (schema errors of an edited body, bad parameters). */
  errors?: { path?: string; message: string }[];
}

/** Where a message stands: the status its latest status-setting event gave it. */
export type MessageStatus = 'received' | 'delivered' | 'failed' | 'waiting-for-retry' | 'dead' | 'resolved' | 'archived';

export interface ErrorInfo {
  code: string;
  message: string;
  /** Where it arose: "2:validate" (step index and kind), "sink:orders", "reply". */
  step?: string;
}

export interface MessageSummary {
  id: string;
  correlationId?: string;
  flow: string;
  /** The source endpoint, e.g. "amqp:orders.eu". */
  source: string;
  receivedAt: string;
  updatedAt: string;
  status: MessageStatus;
  attempts: number;
  lastError?: ErrorInfo;
  /** For a replay: the original message's id. */
  replayOf?: string;
}

/** The body as the journal holds it: UTF-8 text, or base64 when it is not valid UTF-8. `size` and `sha256` describe the whole body even when only its start is stored (`truncated`). GET /messages/{id}/body serves the bytes. */
export interface StoredBody {
  encoding: 'utf8' | 'base64';
  data: string;
  size: number;
  truncated: boolean;
  sha256: string;
  /** True for a viewer: `data` is withheld. */
  masked?: boolean;
}

export interface TimelineEvent {
  type: 'received' | 'step' | 'sink' | 'delivered' | 'failed' | 'waiting-for-retry' | 'dead' | 'replayed' | 'resolved' | 'archived';
  at: string;
  attempt?: number;
  step?: string;
  error?: ErrorInfo;
  dueAt?: string;
  detail?: string;
  /** For `received` under the `all` journal policy: the transport's facts (method, path, params, query; operation; topic, key; exchange, routing key). Withheld from a viewer. */
  meta?: Record<string, unknown>;
  /** For `sink` (under the `all` journal policy): one try of a sink call, and the reply (body withheld from a viewer) or the error. */
  call?: {
    sink: string;
    try: number;
    reply?: {
      status?: number;
      headers: Record<string, string>;
      body: string;
      encoding: 'utf8' | 'base64';
      truncated: boolean;
      masked?: boolean;
    };
    failure?: ErrorInfo;
  };
}

export type MessageRecord = MessageSummary & {
  headers: Record<string, string>;
  body: StoredBody;
  /** Oldest first. */
  timeline: TimelineEvent[];
  /** Ids of the replays made from this message, oldest first. */
  replayedAs: string[];
  /** Set when the message came from a caller that waits for the reply (REST, SOAP) and was answered with the error: it may have sent the request again, so a replay could do the work twice. */
  callerAnswered?: { at: string };
  /** With a last error: true when it failed for a permanent reason of its own (BAD_JSON, VALIDATION_FAILED, ...: a permanent error with the sender at fault): the same body would fail the same way, so edit it before replaying. */
  permanent?: boolean;
};

export interface MessagePage {
  items: MessageSummary[];
  /** Pass as `cursor` for the next page; absent on the last. */
  next?: string;
}

export interface DeadLetterGroup {
  flow: string;
  step: string;
  code: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface ReplayTarget {
  to: 'start' | 'failed-step';
  /** The failed step it resumed at. */
  step?: string;
  sink?: string;
}

/** The audit entry of one replay. */
export interface ReplayRecord {
  /** The idempotency key it was booked under. */
  requestKey: string;
  originalId: string;
  newId: string;
  flow: string;
  /** Who asked: the X-Hub-Actor header, else "api". */
  by: string;
  at: string;
  target: ReplayTarget;
  edited: boolean;
  /** sha256 (hex) of the original body. */
  bodyHashBefore: string;
  /** sha256 (hex) of the body replayed. */
  bodyHashAfter: string;
  note?: string;
}

export interface ReplayPage {
  items: ReplayRecord[];
  next?: string;
}

/** The dry run of a replay: whether the body would be sent, and if not why. Nothing was booked or sent. */
export interface ReplayCheck {
  /** True when the body passes: the same replay would be sent. */
  ok: boolean;
  /** The flow's input schema that was checked (its first `validate` step), when it has one in reach. */
  schema?: string;
  /** Each problem found (empty when `ok`). */
  errors: { path: string; message: string }[];
}

/** What became of the replayed message: delivered, or parked in the journal. */
export type ReplayOutcome = 'delivered' | 'waiting-for-retry' | 'dead';

export interface ReplayResult {
  replay: ReplayRecord;
  newId: string;
  /** True when this idempotency key was booked before: nothing was sent, `replay` is the earlier replay. */
  duplicate: boolean;
  outcome?: ReplayOutcome;
  error?: ErrorInfo;
}

export interface BulkReplayResult {
  /** Messages the filter matched (at most `max`). */
  matched: number;
  /** True when more messages matched than `max`: run it again for the rest. */
  capped: boolean;
  /** Replays booked and sent by this request. */
  replayed: number;
  /** Replays booked under this request's key before: not sent again. */
  duplicates: number;
  outcomes: { delivered: number; 'waiting-for-retry': number; dead: number };
  failed: { id: string; reason: string }[];
}

/** A bulk replay that runs on in the hub (POST /replays with `Prefer: respond-async` or `background: true`): its state, pace and counts so far. Kept in the journal, the newest 100: a hub restart resumes a running one. */
export type ReplayJob = BulkReplayResult & {
  id: string;
  /** `failed`: the job stopped early (`error` says why: its flow was removed, the journal failed); the counts say how far it got. */
  state: 'running' | 'paused' | 'finished' | 'cancelled' | 'failed';
  /** Who started it (it runs on when their session ends). */
  by: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Its pace: messages a second. */
  rate: number;
  /** What it replays: the filter (its `to` fixed at the start, so that messages dying later are not taken) and the target (to, sink, flow). */
  request: Record<string, unknown>;
  /** Messages dealt with so far, of `matched`. */
  done: number;
  /** Gone from the journal (retention) before their turn: not failures. */
  removed: number;
  /** Replayed too often (a line of replays that each failed): parked as dead with REPLAY_LIMIT instead. */
  parked: number;
  /** Failures in all; `failed` lists the first 100, the results have each. */
  failedCount: number;
  pausedBy?: string;
  resumedBy?: string;
  cancelledBy?: string;
  /** Times a hub restart resumed it. */
  resumed?: number;
  requestKey?: string;
  /** For pause, resume and cancel: whether it changed the job. */
  changed?: boolean;
  error?: string;
};

export interface ReplayJobResults {
  total: number;
  offset: number;
  items: {
    /** The message replayed. */
    id: string;
    at: string;
    outcome: 'delivered' | 'waiting-for-retry' | 'dead' | 'sent' | 'duplicate' | 'removed' | 'parked' | 'failed';
    /** The replay's id. */
    newId?: string;
    reason?: string;
  }[];
}

/** The caller of the admin API. */
export interface Session {
  /** The user name; "token" for the bearer token; "login-link" for a session opened with a one-time login link. */
  user: string;
  role: 'viewer' | 'operator' | 'admin';
  via: 'session' | 'token';
  /** For a session: send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE. */
  csrfToken?: string;
  /** For a session: when it ends unless used before. */
  idleExpiresAt?: string;
  /** For a session: when it ends at the latest. */
  expiresAt?: string;
}

export interface ReloadReport {
  /** New flows, started. */
  added: string[];
  /** Flows whose new version took over. */
  changed: string[];
  /** Flows whose file is gone, stopped. */
  removed: string[];
  unchanged: string[];
  /** Flows whose file has errors: the running version goes on. */
  kept: string[];
  problems: { file: string; line: number; col: number; message: string; severity?: 'error' | 'warning' }[];
  tookMs: number;
}

export interface FlowState {
  name: string;
  state: 'running' | 'paused';
  /** False when the flow was in that state already. */
  changed: boolean;
  paused?: { at: string; by: string; held: number };
}

export interface ArchiveResult {
  id: string;
  status: 'archived';
  /** When the retention sweeper may remove the record: archived at plus `journal.keep.archived`. Absent when archived records are kept until deleted. */
  removableFrom?: string;
}

export interface GroupArchiveResult {
  /** Dead messages of the group (at most `max`). */
  matched: number;
  /** True when the group holds more than `max`: run it again for the rest. */
  capped: boolean;
  archived: number;
  failed: { id: string; reason: string }[];
  /** `journal.keep.archived` in ms: archived records are removed by the retention sweeper this long after they were received. Absent: kept until deleted. */
  keepMs?: number;
}

export interface AuditEntry {
  seq: number;
  at: string;
  action: 'login' | 'logout' | 'replay' | 'bulk-replay' | 'delete' | 'pause' | 'resume' | 'archive' | 'bulk-archive' | 'job-control' | 'reload';
  outcome: 'ok' | 'failed' | 'denied' | 'rate-limited';
  /** A user name, "token[:X-Hub-Actor]", "local[:X-Hub-Actor]", or "anonymous". */
  actor: string;
  role?: string;
  /** The client's address. */
  client: string;
  /** A message id, or a bulk replay's filter. */
  target?: string;
  /** The HTTP status of the answer. */
  status?: number;
  detail?: string;
}

export interface AuditPage {
  items: AuditEntry[];
  /** Pass as `cursor` for the next page; absent on the last. */
  next?: string;
}

/** A hub compare report: the same flows run hub style (one process) and mesh style (one process per flow) under the same load and faults. */
export interface CompareReport {
  version: 1;
  /** The run: its start time, e.g. 20261202T015000Z. */
  id: string;
  startedAt: string;
  finishedAt: string;
  /** Why the run ended early (interrupted, a process failed); its figures are those measured until then. */
  incomplete?: string;
  machine: { cpus: number; cpuModel: string; loadAverage: number[]; node: string; platform: string };
  settings: {
    flowsDir: string;
    flows: {
      flow: string;
      /** Requests per second sent to it. */
      rate: number;
      method: string;
      path: string;
    }[];
    /** The flow whose downstream was made slow, then failing. */
    faulty: string;
    /** The CPU-heavy flow, under load only in the cpu-neighbour phase. */
    neighbour?: string;
    phaseSeconds: number;
    warmupSeconds: number;
    maxInFlight: number;
    timeoutMs: number;
    slowLatencyMs: number;
  };
  phases: {
    id: 'baseline' | 'slow-downstream' | 'failing-downstream' | 'cpu-neighbour';
    title: string;
    description: string;
    subject?: string;
  }[];
  styles: {
    style: 'hub' | 'mesh';
    startMs: number;
    /** How long its warm-up lasted: until its processes' CPU for the same load stopped falling, at most settings.warmupSeconds. */
    warmupSeconds: number;
    processes: { name: string; flows: string[] }[];
    phases: {
      phase: 'baseline' | 'slow-downstream' | 'failing-downstream' | 'cpu-neighbour';
      seconds: number;
      flows: {
        flow: string;
        sent: number;
        ok: number;
        errors: number;
        /** Requests not sent because as many as max_in_flight awaited an answer. */
        shed: number;
        /** Successful answers per second. */
        throughput: number;
        /** Milliseconds to the whole answer. */
        latency?: { p50: number; p95: number; p99: number; max: number; mean: number };
        errorKinds: Record<string, number>;
      }[];
      processes: {
        name: string;
        pid: number;
        flows: string[];
        cpuSeconds: number;
        cpuPercent: number;
        peakRssMb: number;
      }[];
    }[];
  }[];
  blastRadius: {
    style: 'hub' | 'mesh';
    phase: 'baseline' | 'slow-downstream' | 'failing-downstream' | 'cpu-neighbour';
    healthy: {
      flow: string;
      throughputChangePct?: number;
      p99ChangePct?: number;
      p99Ms?: number;
      baselineP99Ms?: number;
      errors: number;
    }[];
    meanThroughputChangePct?: number;
    worstP99ChangePct?: number;
    healthyErrors: number;
  }[];
  notes: string[];
}

/** One report of GET /compare/reports: its folder's name and what the run was. */
export interface CompareReportSummary {
  /** The report's folder under compare.reports: pass it to GET /compare/reports/{name}. */
  name: string;
  id: string;
  startedAt: string;
  finishedAt: string;
  /** Why the run ended early, when it did. */
  incomplete?: string;
  flows: string[];
  styles: ('hub' | 'mesh')[];
  phaseSeconds: number;
}

/** A sink's health from its real calls: `degraded` from its first call in a row that failed for a retryable reason (down, refusing connections, timing out, 5xx), with the latest error; `ok` again at the first call that succeeds (`since`: when it recovered). */
export interface SinkHealth {
  state: 'ok' | 'degraded';
  since?: string;
  error?: { code: string; message: string; at: string };
  /** Failing calls in a row. */
  failures?: number;
}

export interface FlowInfo {
  name: string;
  description?: string;
  source: { adapter: string; requestReply: boolean };
  sinks: {
    name: string;
    adapter: string;
    requestReply: boolean;
    /** What the sink says of its connection (a broker sink: connected; an HTTP sink: always). */
    connected: boolean;
    health: SinkHealth;
  }[];
  /** Step labels ("0:validate", ...): the N of a failed step "N:kind" is where a failed-step replay resumes. */
  steps: string[];
  journal: { record: 'all' | 'failures' | 'none'; bodyBytes: number };
  /** The source and every sink are connected. */
  ready: boolean;
  /** `not ready` when a connection is down; `degraded` when connected but a sink's calls fail for retryable reasons now (see `degraded` and each sink's `health`); else `ready`. */
  health: 'ready' | 'degraded' | 'not ready';
  /** The sinks that are degraded now. */
  degraded?: string[];
  /** How many of the flow's messages stand in these statuses now, from the journal (so a replay or a restart cannot make them wrong; messages the flow's journal policy does not record are not counted). */
  now?: {
    dead: number;
    /** Waiting for a durable retry. */
    waiting: number;
    /** Failed and not parked: a request-reply caller got the error. */
    failed: number;
  };
  /** Instead of `now`, when the journal could not be read. */
  nowError?: string;
  /** Paused: the flow takes no new messages (POST /flows/{name}/pause). */
  state: 'running' | 'paused';
  /** While paused: since when, by whom, and how many broker deliveries are held. */
  paused?: { at: string; by: string; held: number };
  /** Over the last minute: messages delivered per second, and the 99th percentile of the time from the runner taking a message to its delivery, over the latest (at most 1024) deliveries. */
  rate: {
    perSecond: number;
    /** Absent when nothing was delivered in the window. */
    p99Ms?: number;
    samples: number;
    windowSeconds: number;
  };
  /** Counters of this process since it started (what it handled), not what stands now: see `now`. */
  stats: {
    received: number;
    completed: number;
    failed: number;
    inFlight: number;
    waiting: number;
    dead: number;
    retried: number;
    lastError?: { code?: string; message?: string; step?: string; at?: string; messageId?: string };
  };
}

/** The JSON answer of each operation that gives one (its 2xx application/json bodies). */
export interface Answers {
  /** POST /session: Log in */
  createSession: Session;
  /** GET /session: Who am I */
  getSession: Session;
  /** POST /session/links: Make a one-time login link */
  createLoginLink: { url: string; expiresAt: string };
  /** GET /flows: The flows this hub runs */
  listFlows: { flows: FlowInfo[]; at: string };
  /** POST /flows/:name/pause: Pause a flow: it takes no new messages until resumed */
  pauseFlow: FlowState;
  /** POST /flows/:name/resume: Resume a paused flow */
  resumeFlow: FlowState;
  /** POST /flows/reload: Reload the flows from their files, without a restart */
  reloadFlows: ReloadReport;
  /** GET /messages: Search the journal */
  listMessages: MessagePage;
  /** GET /messages/:id: One message with its stored body, headers and timeline */
  getMessage: MessageRecord;
  /** POST /messages/:id/replay: Replay one message */
  replayMessage: ReplayResult;
  /** POST /messages/:id/replay/check: Check a replay's body without sending it (dry run) */
  checkReplay: ReplayCheck;
  /** POST /replays: Replay every message a filter matches */
  replayMany: BulkReplayResult | ReplayJob;
  /** GET /replays/jobs/:id: How a bulk replay job is going */
  getReplayJob: ReplayJob;
  /** GET /replays/jobs: The replay jobs, newest first */
  listReplayJobs: { jobs: ReplayJob[] };
  /** GET /replays/jobs/:id/results: A replay job's result for each message */
  getReplayJobResults: ReplayJobResults;
  /** POST /replays/jobs/:id/pause: Pause a replay job */
  pauseReplayJob: ReplayJob;
  /** POST /replays/jobs/:id/resume: Resume a replay job */
  resumeReplayJob: ReplayJob;
  /** POST /replays/jobs/:id/cancel: Cancel a replay job */
  cancelReplayJob: ReplayJob;
  /** POST /replays/count: How many messages a bulk filter matches now */
  countMessages: { count: number; exact: boolean };
  /** GET /replays: The replay audit */
  listReplays: ReplayPage;
  /** POST /messages/:id/archive: Archive a dead message */
  archiveMessage: ArchiveResult;
  /** POST /dead-letters/archive: Archive a whole dead-letter group */
  archiveDeadLetters: GroupArchiveResult;
  /** GET /dead-letters: Dead letters grouped by flow, step and error code */
  listDeadLetters: { groups: DeadLetterGroup[] };
  /** GET /compare/reports: The reports of hub compare */
  listCompareReports: { reports: CompareReportSummary[] };
  /** GET /compare/reports/:name: One report of hub compare */
  getCompareReport: CompareReport;
  /** GET /openapi.json: This document */
  getOpenApi: Record<string, unknown>;
  /** GET /audit: The admin audit log */
  listAudit: AuditPage;
}

/** The JSON request body of each operation that takes one. */
export interface Bodies {
  /** POST /session: Log in */
  createSession: { name: string; password: string };
  /** POST /messages/:id/replay: Replay one message */
  replayMessage: {
    /** Run from the flow's start, or resume at the step that failed (its lastError.step "N:kind"; from the start when the message has none). */
    to?: 'start' | 'failed-step';
    /** Skip the steps and send the message straight to this sink of the flow (not with to: failed-step). */
    sink?: string;
    /** An edited body to replay instead of the stored one (needed when the stored one is truncated). */
    body?: string;
    /** How `body` is written: text, or base64 for bytes that are not UTF-8. */
    bodyEncoding?: 'utf8' | 'base64';
    /** The content type of the replayed message (default: the original's). */
    contentType?: string;
    /** Why: kept in the audit. */
    note?: string;
  };
  /** POST /messages/:id/replay/check: Check a replay's body without sending it (dry run) */
  checkReplay: {
    /** Run from the flow's start, or resume at the step that failed (its lastError.step "N:kind"; from the start when the message has none). */
    to?: 'start' | 'failed-step';
    /** Skip the steps and send the message straight to this sink of the flow (not with to: failed-step). */
    sink?: string;
    /** An edited body to replay instead of the stored one (needed when the stored one is truncated). */
    body?: string;
    /** How `body` is written: text, or base64 for bytes that are not UTF-8. */
    bodyEncoding?: 'utf8' | 'base64';
    /** The content type of the replayed message (default: the original's). */
    contentType?: string;
    /** Why: kept in the audit. */
    note?: string;
  };
  /** POST /replays: Replay every message a filter matches */
  replayMany: {
    filter: {
      /** Only this flow. */
      flow?: string;
      /** Only these statuses (default: dead). */
      status?: string[];
      /** Received at or after this time. */
      from?: string;
      /** Received before this time. */
      to?: string;
      /** The last error's code, e.g. DOWNSTREAM_UNAVAILABLE. */
      errorCode?: string;
      /** The last error's step, e.g. "2:to". */
      errorStep?: string;
      /** A case-insensitive part of the last error's message. */
      errorText?: string;
    };
    /** Run from the flow's start, or resume at the step that failed (its lastError.step "N:kind"; from the start when the message has none). */
    to?: 'start' | 'failed-step';
    /** Send each straight to this sink (needs filter.flow). */
    sink?: string;
    /** Replay into this flow instead of each message's own (a new version deployed beside the old), from its start. */
    flow?: string;
    /** Most messages replayed by this request: by default 1000 when answered when done (at most 10000), every match for a job. */
    max?: number;
    /** Why: kept in each audit entry. */
    note?: string;
    /** Answer 202 with a job at once, as `Prefer: respond-async` does. */
    background?: boolean;
    /** A job's pace: messages a second (default 20). */
    rate?: number;
  };
  /** POST /replays/count: How many messages a bulk filter matches now */
  countMessages: {
    filter: {
      /** Only this flow. */
      flow?: string;
      /** Only these statuses (default: dead). */
      status?: string[];
      /** Received at or after this time. */
      from?: string;
      /** Received before this time. */
      to?: string;
      /** The last error's code, e.g. DOWNSTREAM_UNAVAILABLE. */
      errorCode?: string;
      /** The last error's step, e.g. "2:to". */
      errorStep?: string;
      /** A case-insensitive part of the last error's message. */
      errorText?: string;
    };
  };
  /** POST /messages/:id/archive: Archive a dead message */
  archiveMessage: {
    /** Why: kept in the message's timeline and the audit. */
    reason?: string;
  };
  /** POST /dead-letters/archive: Archive a whole dead-letter group */
  archiveDeadLetters: {
    /** The group's flow. */
    flow: string;
    /** The group's step ("" for errors without one). */
    step: string;
    /** The group's error code. */
    code: string;
    /** Why: kept in each message's timeline and the audit. */
    reason?: string;
    /** Most messages archived by this request. */
    max?: number;
  };
}
