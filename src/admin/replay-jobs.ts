/**
 * Bulk replays that answer at once (POST /admin/api/replays with `Prefer: respond-async` or `background: true`) and
 * run on in the hub, throttled as the synchronous form is: each is a job whose counts so far GET
 * /admin/api/replays/jobs/{id} answers and the live feed announces (`event: replay-progress`). Jobs live in the hub's
 * memory, the newest MAX_JOBS of them: a restart forgets them (the replays they made stay in the journal's audit).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { toHubError } from '../core/errors.js';
import type { BulkReplayRequest, BulkReplayResult, BulkSelection, Replayer } from './replay.js';

/** Jobs kept, finished or not: the oldest finished one goes first when a new one starts. */
export const MAX_JOBS = 100;
/** Least time between two progress notices of one job (the last one is always sent). */
export const PROGRESS_INTERVAL_MS = 250;

export interface ReplayJob extends BulkReplayResult {
  id: string;
  /** `failed`: the job stopped early (`error` says why); the counts say how far it got. */
  state: 'running' | 'finished' | 'failed';
  by: string;
  startedAt: string;
  finishedAt?: string;
  /** Messages dealt with so far (replayed, duplicates and failed), of `matched`. */
  done: number;
  error?: string;
}

export class ReplayJobs {
  readonly #jobs = new Map<string, ReplayJob>();
  /** The job each request key started, so that the same request sent twice (a double click, a retried POST) is one job. */
  readonly #byKey = new Map<string, string>();

  constructor(
    readonly replayer: Replayer,
    /** Called with a job's counts as it goes (at most every PROGRESS_INTERVAL_MS) and when it ends. */
    readonly notify: (job: ReplayJob) => void,
    readonly logger: Logger,
  ) {}

  get(id: string): ReplayJob | undefined {
    const job = this.#jobs.get(id);
    return job && copy(job);
  }

  /**
   * Starts replaying the selection; resolves at once with the job (its first counts), not when it ends. The same
   * request key while its job still runs (a double click, a retried POST) gets that job back, and nothing more
   * starts; once it ended, a new job goes over what matches now (the per-message keys skip what it replayed).
   */
  start(request: BulkReplayRequest, selection: BulkSelection, requestKey: string, by: string): ReplayJob {
    const running = this.#jobs.get(this.#byKey.get(requestKey) ?? '');
    if (running?.state === 'running') return copy(running);
    this.#evict();
    const job: ReplayJob = {
      id: randomUUID(),
      state: 'running',
      by,
      startedAt: new Date().toISOString(),
      matched: selection.ids.length,
      capped: selection.capped,
      done: 0,
      replayed: 0,
      duplicates: 0,
      outcomes: { delivered: 0, 'waiting-for-retry': 0, dead: 0 },
      failed: [],
    };
    this.#jobs.set(job.id, job);
    this.#byKey.set(requestKey, job.id);
    let last = 0;
    const progress = (soFar: BulkReplayResult, done: number): void => {
      // `failed` is only appended to: shared, not copied on each message (get() and notices copy it).
      Object.assign(job, { replayed: soFar.replayed, duplicates: soFar.duplicates, outcomes: { ...soFar.outcomes }, failed: soFar.failed, done });
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS && done < job.matched) {
        last = now;
        this.notify(copy(job));
      }
    };
    void this.replayer.replaySelected(request, selection, requestKey, by, progress).then(
      (result) => this.#end(job, { ...result, done: result.matched, state: 'finished' }),
      (err: unknown) => {
        const e = toHubError(err);
        this.logger.error({ err, job: job.id }, 'a bulk replay job stopped early');
        this.#end(job, { state: 'failed', error: `${e.code}: ${e.message}` });
      },
    );
    return copy(job);
  }

  #end(job: ReplayJob, update: Partial<ReplayJob>): void {
    Object.assign(job, update, { finishedAt: new Date().toISOString() });
    this.notify(copy(job));
  }

  /** Makes room for one more: the oldest finished job goes, else (all running) the oldest. */
  #evict(): void {
    while (this.#jobs.size >= MAX_JOBS) {
      const oldest = [...this.#jobs.values()].find((j) => j.state !== 'running') ?? this.#jobs.values().next().value!;
      this.#jobs.delete(oldest.id);
      for (const [key, id] of this.#byKey) if (id === oldest.id) this.#byKey.delete(key);
    }
  }
}

function copy(job: ReplayJob): ReplayJob {
  return { ...job, outcomes: { ...job.outcomes }, failed: [...job.failed] };
}
