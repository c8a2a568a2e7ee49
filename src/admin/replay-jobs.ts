/**
 * Replay jobs: bulk replays that answer at once (POST /admin/api/replays with `Prefer: respond-async` or
 * `background: true`) and run on in the hub, of any size. Each job is kept in the journal (ReplayJobStore), so a
 * restart resumes it where its last checkpoint left it; it is paced (`rate` messages a second, DEFAULT_RATE unless
 * given), can be paused, resumed and cancelled, and keeps a result per message (GET /replays/jobs/{id}/results). The
 * live feed announces its counts as it goes (`event: replay-progress`).
 *
 * A job walks what its filter matches now (dead by default), up to when it started, page by page with the journal's
 * cursor (positional: a replay resolving its original does not shift it), and saves the cursor of the page under way
 * at each checkpoint. After a crash it walks that page again: a message replayed meanwhile is resolved (no longer
 * matches) or booked already (the key below), so each is sent once. The per-message key is made of the message, its
 * state (updatedAt) and the target: two operators replaying one group at once book each message once.
 *
 * A message whose line of replays (replay of a replay ...) reaches REPLAY_CAP is not replayed again: it is parked as
 * dead with the code REPLAY_LIMIT, in its own dead-letter group, instead of looping.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { hubError, toHubError } from '../core/errors.js';
import type { MessageLog, MessageSummary, ReplayJobResult, ReplayJobStore } from '../journal/contract.js';
import { bulkOptions, fromJournalError, type BulkReplayRequest, type BulkReplayResult, type Replayer } from './replay.js';

/** Jobs kept in memory for their request keys; the journal keeps REPLAY_JOBS_KEPT. */
export const MAX_JOBS = 100;
/** Least time between two progress notices of one job (the last one is always sent). */
export const PROGRESS_INTERVAL_MS = 250;
/** Messages a second a job replays unless it says. */
export const DEFAULT_RATE = 20;
/** A message replayed this many times over (each replay failed and was replayed again) is parked instead. */
export const REPLAY_CAP = 5;
/** How often a running job saves where it is. */
const CHECKPOINT_MS = 1000;
/** Failures listed on the job itself (all of them are in its results). */
const FAILED_LISTED = 100;

export type JobState = 'running' | 'paused' | 'finished' | 'cancelled' | 'failed';

export interface ReplayJob extends BulkReplayResult {
  id: string;
  /** `failed`: the job stopped early (`error` says why); `cancelled`: by `cancelledBy`. The counts say how far it got. */
  state: JobState;
  by: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Messages a second. */
  rate: number;
  /** What it replays: the filter (its `to` fixed at the start) and the target. */
  request: BulkReplayRequest;
  /** Messages dealt with so far, of `matched`. */
  done: number;
  /** Gone from the journal (retention) before their turn: not failures. */
  removed: number;
  /** Parked with REPLAY_LIMIT instead of replayed again. */
  parked: number;
  /** The first FAILED_LISTED failures (`failed` in the results has them all); `failedCount` counts them all. */
  failedCount: number;
  pausedBy?: string;
  resumedBy?: string;
  cancelledBy?: string;
  /** Times a hub restart resumed it. */
  resumed?: number;
  error?: string;
  /** The journal cursor of the page under way (internal: where a restart resumes). */
  cursor?: string;
  requestKey: string;
}

type JournalPart = Pick<MessageLog, 'query' | 'get' | 'append'> & ReplayJobStore;

interface Live {
  job: ReplayJob;
  results: ReplayJobResult[];
  wake?: () => void;
  /** The walk, ended (with the job saved) or stopped. */
  walking?: Promise<void>;
  lastNotice: number;
  lastSave: number;
}

export class ReplayJobs {
  readonly #live = new Map<string, Live>();
  /** The job each request key started, so that the same request sent twice (a double click, a retried POST) is one job. */
  readonly #byKey = new Map<string, string>();
  /** The hub is stopping: jobs stop where they are and stay running in the journal, to resume. */
  #stopping = false;

  constructor(
    readonly replayer: Replayer,
    readonly journal: JournalPart,
    /** Called with a job's counts as it goes (at most every PROGRESS_INTERVAL_MS) and when it changes state. */
    readonly notify: (job: ReplayJob) => void,
    readonly logger: Logger,
  ) {}

  async get(id: string): Promise<ReplayJob | undefined> {
    const live = this.#live.get(id);
    if (live) return view(live.job);
    const stored = await this.#call(this.journal.getReplayJob(id));
    return stored && view(stored as unknown as ReplayJob);
  }

  async list(limit = 50): Promise<ReplayJob[]> {
    const stored = (await this.#call(this.journal.listReplayJobs(limit))) as unknown as ReplayJob[];
    return stored.map((j) => view(this.#live.get(j.id)?.job ?? j));
  }

  results(id: string, offset: number, limit: number): Promise<{ items: ReplayJobResult[]; total: number }> {
    return this.#call(this.journal.replayJobResults(id, { offset, limit }));
  }

  /**
   * Starts a job over what `request` matches (`matched`: counted first); resolves once it is stored, with its first
   * counts, not when it ends. The same request key while its job still runs gets that job back.
   */
  async start(request: BulkReplayRequest, matched: number, requestKey: string, by: string, rate = DEFAULT_RATE): Promise<ReplayJob> {
    const running = this.#live.get(this.#byKey.get(requestKey) ?? '');
    if (running && (running.job.state === 'running' || running.job.state === 'paused')) return view(running.job);
    const now = new Date().toISOString();
    const job: ReplayJob = {
      id: randomUUID(),
      state: 'running',
      by,
      startedAt: now,
      updatedAt: now,
      rate,
      // Up to now: messages that die after the start are not this job's.
      request: { ...request, filter: { ...request.filter, to: request.filter.to ?? now } },
      matched,
      capped: request.max !== undefined && matched > request.max,
      done: 0,
      replayed: 0,
      duplicates: 0,
      removed: 0,
      parked: 0,
      outcomes: { delivered: 0, 'waiting-for-retry': 0, dead: 0 },
      failed: [],
      failedCount: 0,
      requestKey,
    };
    await this.#call(this.journal.saveReplayJob(job as unknown as ReplayJob & { [k: string]: unknown }));
    this.#byKey.set(requestKey, job.id);
    if (this.#byKey.size > MAX_JOBS) this.#byKey.delete(this.#byKey.keys().next().value!);
    this.#run(job);
    return view(job);
  }

  /** Pauses, resumes or cancels a job; answers the job as it is then. Throws NOT_FOUND / CONFLICT. */
  async control(id: string, action: 'pause' | 'resume' | 'cancel', actor: string): Promise<{ job: ReplayJob; changed: boolean }> {
    const live = this.#live.get(id);
    if (!live) {
      const stored = await this.get(id);
      if (!stored) throw hubError('NOT_FOUND', `no replay job ${id} (the journal keeps the newest ${MAX_JOBS})`);
      return { job: stored, changed: false };
    }
    const job = live.job;
    let changed = false;
    if (action === 'pause' && job.state === 'running') {
      Object.assign(job, { state: 'paused', pausedBy: actor });
      changed = true;
    } else if (action === 'resume' && job.state === 'paused') {
      Object.assign(job, { state: 'running', resumedBy: actor });
      changed = true;
    } else if (action === 'cancel' && (job.state === 'running' || job.state === 'paused')) {
      Object.assign(job, { state: 'cancelled', cancelledBy: actor });
      changed = true;
    }
    if (changed) {
      live.wake?.();
      await this.#save(live, true);
    }
    return { job: view(job), changed };
  }

  /** Resumes the jobs a stopped hub left running or paused (called once the flows have started). */
  async resumeAll(): Promise<void> {
    const stored = (await this.journal.listReplayJobs()) as unknown as ReplayJob[];
    for (const job of stored) {
      if ((job.state !== 'running' && job.state !== 'paused') || this.#live.has(job.id)) continue;
      job.resumed = (job.resumed ?? 0) + 1;
      this.#byKey.set(job.requestKey, job.id);
      this.logger.info({ job: job.id, done: job.done, matched: job.matched }, 'a replay job the hub was running before it stopped goes on');
      this.#run(job);
    }
  }

  /**
   * resumeAll once the journal can be read: a hub whose Redis is still away when it starts (its journal deferred,
   * rejecting UNAVAILABLE) tries again every `retryMs` until Redis answers or the hub stops.
   */
  async resumeWhenReadable(retryMs = 2000): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.resumeAll();
      } catch (err) {
        if (this.#stopping || fromJournalError(err).code !== 'JOURNAL_UNAVAILABLE') throw err;
        if (attempt === 1) this.logger.info({ err }, 'the replay jobs left running are resumed once the journal answers');
        await sleep(retryMs);
        if (this.#stopping) return;
      }
    }
  }

  /** Stops running jobs where they are (the hub is stopping): they stay `running` in the journal, to resume. */
  async stop(): Promise<void> {
    const lives = [...this.#live.values()];
    this.#stopping = true;
    for (const l of lives) l.wake?.();
    // The replays under way end first (a few seconds at most: the flow's timeout), so that the counts saved hold them.
    // The cap's timer keeps no process alive, and none is set with no job running.
    if (lives.length > 0) {
      let cap: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(lives.map((l) => l.walking)), new Promise<void>((resolve) => (cap = setTimeout(resolve, 5000).unref()))]);
      clearTimeout(cap);
    }
    await Promise.all(lives.map((l) => this.#save(l, false).catch(() => undefined)));
  }

  #run(job: ReplayJob): void {
    const live: Live = { job, results: [], lastNotice: 0, lastSave: Date.now() };
    this.#live.set(job.id, live);
    live.walking = this.#walk(live).then(
      () => this.#end(live),
      (err: unknown) => {
        const e = fromJournalError(err);
        this.logger.error({ err, job: job.id }, 'a replay job stopped early');
        if (job.state === 'running' || job.state === 'paused') Object.assign(job, { state: 'failed', error: `${e.code}: ${e.message}` });
        return this.#end(live);
      },
    );
  }

  async #end(live: Live): Promise<void> {
    const job = live.job;
    if (this.#stopping && (job.state === 'running' || job.state === 'paused')) return;
    if (job.state === 'running') job.state = 'finished';
    job.finishedAt = new Date().toISOString();
    await this.#save(live, true).catch((err: unknown) => this.logger.error({ err, job: job.id }, 'a replay job\'s end could not be saved'));
    this.#live.delete(job.id);
  }

  async #walk(live: Live): Promise<void> {
    const job = live.job;
    const { request } = job;
    const flow = request.flow ?? request.filter.flow;
    const gap = 1000 / job.rate;
    let due = Date.now();
    const inflight = new Set<Promise<void>>();
    let cursor = job.cursor;
    for (;;) {
      const page = await this.journal.query({ ...request.filter, status: request.filter.status?.length ? request.filter.status : ['dead'], limit: 100, ...(cursor ? { cursor } : {}) });
      for (const item of page.items) {
        if (request.max !== undefined && job.done + inflight.size >= request.max) break;
        if (!(await this.#gate(live))) return void (await Promise.all(inflight));
        if (flow !== undefined && !this.replayer.runs(flow)) {
          await Promise.all(inflight);
          Object.assign(job, { state: 'failed', error: `flow "${flow}" no longer runs in this hub (removed or renamed); the job stopped with ${job.done} of ${job.matched} done` });
          return;
        }
        // Paced: one message every 1/rate s, at most the bulk slots in flight.
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        due = Math.max(due + gap, Date.now() - gap);
        while (inflight.size >= 8) await Promise.race(inflight);
        const p: Promise<void> = this.#one(live, item).finally(() => inflight.delete(p));
        inflight.add(p);
        if (Date.now() - live.lastSave >= CHECKPOINT_MS) void this.#save(live, false);
      }
      await Promise.all(inflight);
      // The page is done: a restart goes on from the next.
      cursor = page.next;
      job.cursor = cursor;
      if (!cursor || (request.max !== undefined && job.done >= request.max)) return;
    }
  }

  /** Waits while the job is paused; false when it was cancelled or the hub is stopping. */
  async #gate(live: Live): Promise<boolean> {
    while (live.job.state === 'paused' && !this.#stopping) await new Promise<void>((resolve) => (live.wake = resolve));
    return live.job.state === 'running' && !this.#stopping;
  }

  async #one(live: Live, item: MessageSummary): Promise<void> {
    const job = live.job;
    const at = new Date().toISOString();
    let result: ReplayJobResult;
    try {
      const depth = await this.#depth(item);
      if (depth >= REPLAY_CAP) {
        const error = { code: 'REPLAY_LIMIT', message: `replayed ${depth} times over, each replay failed again: parked instead of replayed again by job ${job.id}`, ...(item.lastError?.step ? { step: item.lastError.step } : {}) };
        await this.journal.append(item.id, [{ type: 'dead', at, error, detail: `replay job ${job.id}` }]);
        job.parked++;
        result = { id: item.id, at, outcome: 'parked', reason: `REPLAY_LIMIT: ${error.message}` };
      } else {
        const key = `bulk:${item.id}@${item.updatedAt}:${hash(JSON.stringify([job.request.to, job.request.sink, job.request.flow]))}`;
        const r = await this.replayer.slot(() => this.replayer.replayOne(item.id, bulkOptions(job.request), key, job.by));
        if (r.duplicate) {
          job.duplicates++;
          result = { id: item.id, at, outcome: 'duplicate', newId: r.newId };
        } else {
          job.replayed++;
          if (r.outcome) job.outcomes[r.outcome]++;
          result = { id: item.id, at, outcome: r.outcome ?? 'sent', newId: r.newId, ...(r.error ? { reason: `${r.error.code}: ${r.error.message}` } : {}) };
        }
      }
    } catch (err) {
      const e = toHubError(err);
      if (e.code === 'NOT_FOUND') {
        job.removed++;
        result = { id: item.id, at, outcome: 'removed', reason: 'removed from the journal (retention) before its turn' };
      } else {
        job.failedCount++;
        if (job.failed.length < FAILED_LISTED) job.failed.push({ id: item.id, reason: `${e.code}: ${e.message}` });
        result = { id: item.id, at, outcome: 'failed', reason: `${e.code}: ${e.message}` };
      }
    }
    job.done++;
    live.results.push(result);
    const now = Date.now();
    if (now - live.lastNotice >= PROGRESS_INTERVAL_MS) {
      live.lastNotice = now;
      job.updatedAt = new Date(now).toISOString();
      this.notify(view(job));
    }
  }

  /** How many replays deep a message is: replay of a replay ... of an original. */
  async #depth(item: MessageSummary): Promise<number> {
    let depth = 0;
    let of = item.replayOf;
    while (of !== undefined && depth < REPLAY_CAP) {
      depth++;
      of = (await this.journal.get(of))?.replayOf;
    }
    return depth;
  }

  /** Saves the job and its new results; `notify` tells the live feed too. One save at a time per job. */
  async #save(live: Live, notify: boolean): Promise<void> {
    live.lastSave = Date.now();
    const results = live.results.splice(0);
    live.job.updatedAt = new Date().toISOString();
    await this.journal.appendReplayJobResults(live.job.id, results);
    await this.journal.saveReplayJob(live.job as unknown as ReplayJob & { [k: string]: unknown });
    if (notify) this.notify(view(live.job));
  }

  async #call<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      throw fromJournalError(err);
    }
  }
}

function view(job: ReplayJob): ReplayJob {
  const { cursor: _cursor, ...rest } = job;
  return { ...rest, outcomes: { ...job.outcomes }, failed: [...job.failed], request: structuredClone(job.request) } as ReplayJob;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
