/**
 * The Redis journal's retry queue: BullMQ delayed jobs in one queue per flow under the journal's prefix, split by
 * role as BullMQ intends: a Queue produces them, a Worker (fetching by hand, without a processor) claims them and
 * notices stalls. A queue per flow, because BullMQ hands out a queue's next job whatever it is: flow services
 * sharing the journal each claim from their own flow's queue, and never hold back another flow's retry (a claim
 * taken and dropped lasts a lease). One job per waiting message: job id `r-<id>`, data {id, flow, attempt, dueAt};
 * a claim is the job's lock (its token), the lease the lock's duration.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RetryClaim } from '../contract.js';
import { JournalError } from '../errors.js';
import { toMs } from '../shared.js';

export interface RetryData {
  id: string;
  flow: string;
  attempt: number;
  dueAt: string;
}

/** The retry queue of one flow (BullMQ queue names may not contain ":"). */
function queueName(flow: string): string {
  return `retries.${flow.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

/** BullMQ job ids may not contain ":" nor be integers. */
function jobIdOf(id: string): string {
  return `r-${id.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

/** Where retries waited before they had a queue per flow; moveLegacy() moves any it finds to their flow's queue. */
const LEGACY_QUEUE = 'retries';
/** Longest close() waits for BullMQ's queues and workers to close. */
const CLOSE_WAIT_MS = 2_000;

export interface RetryQueuesOptions {
  prefix: string;
  /** How long a claim lasts (ms): the workers' lockDuration. */
  leaseMs: number;
  /** Told about retries whose claimer stalled. */
  warn: (message: string) => void;
  /** Whether a message still has its record: a retry that comes due without one is completed and skipped. */
  hasRecord: (id: string) => Promise<boolean>;
}

export class RetryQueues {
  readonly #producer: Redis;
  readonly #workerConnection: Redis;
  readonly #p: string;
  readonly #options: RetryQueuesOptions;
  /** Each flow's retry queue (producing shares the producer connection), made when first needed. */
  readonly #queues = new Map<string, Queue<RetryData>>();
  /**
   * Each flow's claimer, made at the first claim of a flow that has retries: each holds a connection of its own
   * for BullMQ, and finds the stalled claims of its flow (a replica that died holding them), so only processes
   * that run the flow recover its retries, and flows without durable retries cost nothing.
   */
  readonly #workers = new Map<string, Worker<RetryData>>();
  /** Where claims of several flows start, so that one busy flow does not keep the others waiting. */
  #nextFlow = 0;

  constructor(producer: Redis, workerConnection: Redis, options: RetryQueuesOptions) {
    this.#producer = producer;
    this.#workerConnection = workerConnection;
    this.#p = options.prefix;
    this.#options = options;
  }

  /** The key of a message's retry job, which exists while the retry waits or is claimed. */
  jobKey(flow: string, id: string): string {
    return `${this.#p}:${queueName(flow)}:${jobIdOf(id)}`;
  }

  /** Adds the retry of `data.id`, due at `dueMs`, in place of any that waits. */
  async schedule(data: RetryData, dueMs: number): Promise<void> {
    const jobId = jobIdOf(data.id);
    const queue = this.#queue(data.flow);
    await this.#retryFlows([data.flow]);
    await queue.remove(jobId);
    await queue.add('retry', data, { jobId, delay: Math.max(0, dueMs - Date.now()) });
  }

  /** Oldest due first within each flow; several flows take turns, one job each, so that each gets its share. */
  async claim(limit: number, flows: readonly string[] | undefined): Promise<RetryClaim[]> {
    // The worker's connection waits out a Redis restart (maxRetriesPerRequest null): a claim sent while Redis is
    // away would hang until it is back, and the retry poller would never hear that the journal is unavailable.
    const down = [this.#producer, this.#workerConnection].find((c) => c.status !== 'ready');
    if (down) throw new JournalError('UNAVAILABLE', `the journal could not claim retries in Redis: not connected (${down.status})`);
    if (flows?.length === 0) return [];
    const known = await this.#producer.smembers(`${this.#p}:retry-flows`);
    const wanted = flows ? new Set(flows) : undefined;
    const chosen = known.filter((f) => !wanted || wanted.has(f)).sort();
    const claims: RetryClaim[] = [];
    const start = this.#nextFlow++;
    let open = chosen.map((_, i) => chosen[(start + i) % chosen.length]!);
    while (claims.length < limit && open.length > 0) {
      const still: string[] = [];
      for (const flow of open) {
        if (claims.length >= limit) break;
        const token = randomUUID();
        const job = (await this.#worker(flow).getNextJob(token, { block: false })) as Job<RetryData> | undefined;
        if (!job) continue;
        still.push(flow);
        if (!(await this.#options.hasRecord(job.data.id))) {
          await job.moveToCompleted(null, token, false).catch(() => {}); // removed while it waited
          continue;
        }
        claims.push({ id: job.data.id, flow: job.data.flow, attempt: job.data.attempt, dueAt: job.data.dueAt, token });
      }
      open = still;
    }
    return claims;
  }

  async extend(claim: RetryClaim): Promise<void> {
    const job = await this.#claimed(claim);
    await job.extendLock(claim.token, this.#options.leaseMs).catch((err: unknown) => {
      throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held: ${(err as Error).message}`);
    });
  }

  /** Ends a claim: the job is removed (removeOnComplete), so that the message can be scheduled again. */
  async complete(claim: RetryClaim): Promise<void> {
    const job = await this.#claimed(claim);
    await job.moveToCompleted(null, claim.token, false).catch((err: unknown) => {
      throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held: ${(err as Error).message}`);
    });
  }

  /** Gives a claim back: due at `retry.dueAt` as `retry.attempt`, or due now. */
  async release(claim: RetryClaim, retry: { dueAt: string; attempt: number } | undefined): Promise<void> {
    const job = await this.#claimed(claim);
    const due = retry ? toMs(retry.dueAt, 'dueAt') : Date.now();
    if (retry) await job.updateData({ ...job.data, attempt: retry.attempt, dueAt: retry.dueAt });
    await job.moveToDelayed(due, claim.token).catch((err: unknown) => {
      throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held: ${(err as Error).message}`);
    });
  }

  /**
   * Removes the retry of a message that is being removed, if one waits; never rejects. A claimed one stays with its
   * claimer, and one left here (Redis away) is skipped when it comes due: neither finds a record.
   */
  async removeWaiting(flow: string, id: string): Promise<void> {
    await this.#queue(flow).remove(jobIdOf(id)).catch(() => 0);
  }

  /**
   * Moves the retries still waiting in the single queue of earlier versions to their flow's queue, same job id and
   * due time (adding is idempotent by job id, so two processes opening at once move each once). One claimed by a
   * process of an earlier version is left to it.
   */
  async moveLegacy(): Promise<void> {
    const legacy = new Queue<RetryData>(LEGACY_QUEUE, { connection: this.#producer, prefix: this.#p });
    legacy.on('error', () => {});
    try {
      if ((await legacy.count()) === 0) return;
      for (const job of await legacy.getJobs(['delayed', 'wait', 'prioritized'])) {
        if (!job?.id) continue;
        const due = Date.parse(job.data.dueAt);
        await this.#retryFlows([job.data.flow]);
        await this.#queue(job.data.flow).add('retry', job.data, { jobId: job.id, delay: Math.max(0, (Number.isNaN(due) ? Date.now() : due) - Date.now()) });
        await job.remove();
      }
    } finally {
      await legacy.close(); // the shared connection stays open
    }
  }

  /**
   * Closes the queues and workers, waiting at most CLOSE_WAIT_MS; the connections stay open (their owner drops them).
   * A BullMQ close() waits for its connection's 'end', which never comes when that connection is between two
   * reconnect attempts (Redis away, or just back), so a hub stopped then would never exit: the wait is bounded.
   * Nothing is lost by not waiting: every journal write has resolved or failed already.
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const closing = [...this.#workers.values(), ...this.#queues.values()].map((c) => c.close());
    await Promise.race([Promise.allSettled(closing), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  #queue(flow: string): Queue<RetryData> {
    const name = queueName(flow);
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue<RetryData>(name, { connection: this.#producer, prefix: this.#p, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
      // Without a listener BullMQ prints each connection error to stderr while Redis is away; each call reports its own.
      queue.on('error', () => {});
      this.#queues.set(name, queue);
    }
    return queue;
  }

  #worker(flow: string): Worker<RetryData> {
    let worker = this.#workers.get(flow);
    if (!worker) {
      const leaseMs = this.#options.leaseMs;
      worker = new Worker<RetryData>(queueName(flow), null, {
        connection: this.#workerConnection,
        prefix: this.#p,
        autorun: false,
        lockDuration: leaseMs,
        // Stalls are found within two intervals of the lease running out.
        stalledInterval: Math.max(250, Math.min(leaseMs / 2, 30_000)),
        // A retry whose claimer died goes back to wait however often that happens: failing it would lose the message.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      worker.on('error', () => {});
      worker.on('stalled', (jobId: string) => this.#options.warn(`retry ${jobId} of flow "${flow}": the replica that claimed it stopped before finishing; it is due again`));
      void worker.startStalledCheckTimer();
      this.#workers.set(flow, worker);
    }
    return worker;
  }

  async #claimed(claim: RetryClaim): Promise<Job<RetryData>> {
    const job = await this.#queue(claim.flow).getJob(jobIdOf(claim.id));
    const lock = await this.#producer.get(`${this.jobKey(claim.flow, claim.id)}:lock`);
    if (!job || lock !== claim.token) throw new JournalError('NOT_FOUND', `the retry claim on "${claim.id}" is no longer held`);
    return job;
  }

  /** Remembers which flows have retry queues, so that a claim for every flow knows where to look. */
  async #retryFlows(flows: string[]): Promise<void> {
    await this.#producer.sadd(`${this.#p}:retry-flows`, ...flows);
  }
}
