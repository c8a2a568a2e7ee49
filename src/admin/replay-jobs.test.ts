import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../../adapters/amqp/test-support.js';
import { Downstream } from '../../test/support/downstream.js';
import { builtinRegistry } from '../builtins.js';
import { defaultHubConfig } from '../config/hub-config.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { newId } from '../core/id.js';
import type { MessageSummary, Page } from '../journal/contract.js';
import { docChecker } from '../../test/support/openapi.js';
import { Hub } from '../hub.js';
import { ADMIN_PREFIX } from './api/constants.js';
import type { AuditEntry } from './audit.js';
import { MAX_JOBS, ReplayJobs, type ReplayJob } from './replay-jobs.js';
import { BULK_CONCURRENCY, type BulkReplayResult, type Replayer } from './replay.js';

// A bulk replay of a few hundred dead messages as a job (POST /replays with Prefer: respond-async) on a real hub with
// a real embedded journal and the admin test flow: it answers at once, its progress is seen before it ends (GET
// /replays/jobs/{id} and the live feed), and its final counts are right.

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'admin');
const TOKEN = 'replay-jobs-test-token-0123456789abcdef';
const DEAD = 300;

describe('admin API: bulk replay as a job with progress', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('admin-jobs');
  const auditQueue = unique('admin-jobs-audit');
  const journalDir = mkdtempSync(join(tmpdir(), 'admin-jobs-'));
  let hub: Hub;

  const check = docChecker();
  /** Every answer is checked against /admin/docs (the live feed is read elsewhere). */
  async function request(method: InjectOptions['method'], path: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await hub.app.inject({ method, url: path.startsWith('/admin') ? path : ADMIN_PREFIX + path, headers: { authorization: `Bearer ${TOKEN}`, 'x-hub-actor': 'jobs-test', ...headers }, ...(body === undefined ? {} : { payload: body as object }) });
    check(String(method), path, res);
    return res;
  }

  async function seed(n: number, message: string): Promise<void> {
    const error = { code: 'DOWNSTREAM_UNAVAILABLE', message, step: '2:to' };
    for (let i = 1; i <= n; i++) {
      const id = newId();
      const at = new Date().toISOString();
      await hub.journal.record(
        { id, correlationId: `job-${i}`, flow: 'admin-orders', source: `amqp:${queue}`, receivedAt: at, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ orderId: `j-${i}`, qty: i })) },
        [{ type: 'received', at, attempt: 1 }, { type: 'failed', at, attempt: 1, error }],
        { maxBodyBytes: 512 },
      );
      await hub.journal.deadLetter(id, { error, attempt: 1, at });
    }
  }

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir: join(FIXTURES, 'flows'), schemasDir: join(FIXTURES, 'schemas'), logLevel: 'silent', shutdownGraceMs: 2000, journal: { dir: journalDir }, admin: { token: TOKEN } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
    });
    await waitFor(() => hub.runners.every((r) => r.ready()), 15_000, 'the flow to be ready');
    // Dead letters as the runner leaves them, written straight into the journal: a few hundred through the broker
    // and a failing service would only make the test slower.
    await seed(DEAD, 'the service answered 503');
    downstream.failing = false;
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  it('answers 202 with a job at once, reports progress before the end (GET and the live feed), and ends with the right counts', async () => {
    const base = (await hub.listen()).replace('localhost', '127.0.0.1');
    const controller = new AbortController();
    const res = await fetch(`${base}${ADMIN_PREFIX}/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const progress: ReplayJob[] = [];
    let buffer = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: replay-progress$/m.test(block) && data) progress.push(JSON.parse(data) as ReplayJob);
        }
      }
    })();

    try {
      const started = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorCode: 'DOWNSTREAM_UNAVAILABLE' }, max: 5000, note: 'outage over' }, { prefer: 'respond-async' });
      expect(started.statusCode, started.body).toBe(202);
      const job = started.json() as ReplayJob;
      expect(job).toMatchObject({ state: 'running', matched: DEAD, capped: false, by: 'token:jobs-test' });
      expect(job.done).toBeLessThan(DEAD);
      expect(started.headers.location).toBe(`${ADMIN_PREFIX}/replays/jobs/${job.id}`);
      expect(started.headers['preference-applied']).toBe('respond-async');

      const polled: ReplayJob[] = [];
      await waitFor(async () => {
        const r = await request('GET', String(started.headers.location));
        expect(r.statusCode, r.body).toBe(200);
        polled.push(r.json() as ReplayJob);
        return polled.at(-1)!.state !== 'running';
      }, 60_000, 'the job to finish');
      const last = polled.at(-1)!;
      expect(last).toMatchObject({ id: job.id, state: 'finished', matched: DEAD, done: DEAD, replayed: DEAD, duplicates: 0, failed: [], outcomes: { delivered: DEAD, 'waiting-for-retry': 0, dead: 0 }, finishedAt: expect.any(String) });
      // Progress was visible before the end, and never went back.
      expect(polled.some((p) => p.state === 'running' && p.done > 0 && p.done < DEAD)).toBe(true);
      const dones = polled.map((p) => p.done);
      expect(dones).toEqual([...dones].sort((a, b) => a - b));
      expect(downstream.bodies('/orders')).toHaveLength(DEAD);
      expect(((await request('GET', '/messages?status=dead&limit=10')).json() as Page<MessageSummary>).items).toEqual([]);

      // The live feed told the same story, ending with the finished job.
      await waitFor(() => progress.at(-1)?.state === 'finished', 5_000, 'the final replay-progress event');
      expect(progress.some((p) => p.id === job.id && p.state === 'running' && p.done > 0 && p.done < DEAD)).toBe(true);
      expect(progress.at(-1)).toMatchObject({ id: job.id, done: DEAD, replayed: DEAD });

      // A filter that matches nothing is a 404 before any job starts, as in the waited-for form.
      const none = await request('POST', '/replays', { filter: { flow: 'admin-orders' }, background: true });
      expect([none.statusCode, none.headers.location]).toEqual([404, undefined]);
      expect((await request('GET', '/replays/jobs/no-such-job')).statusCode).toBe(404);

      const audit = ((await request('GET', '/audit?action=bulk-replay')).json() as { items: AuditEntry[] }).items;
      expect(audit.at(-1)).toMatchObject({ outcome: 'ok', status: 202, actor: 'token:jobs-test', detail: `started job ${job.id}: matched ${DEAD}` });
    } finally {
      controller.abort();
      await reading;
    }
  }, 120_000);

  it(`two jobs at once share the hub's ${BULK_CONCURRENCY} replay slots, and the same request sent again while one runs is that job`, async () => {
    const before = downstream.received.length;
    await seed(60, 'the service answered 503 (east)');
    await seed(60, 'the service answered 503 (west)');
    downstream.delayMs = 20;
    downstream.maxInFlight = 0;
    try {
      const east = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorText: '(east)' }, background: true }, { 'idempotency-key': 'east-1' });
      const again = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorText: '(east)' }, background: true }, { 'idempotency-key': 'east-1' });
      const west = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorText: '(west)' }, background: true }, { 'idempotency-key': 'west-1' });
      expect([east.statusCode, again.statusCode, west.statusCode]).toEqual([202, 202, 202]);
      const ids = [east, again, west].map((r) => (r.json() as ReplayJob).id);
      expect(ids[1]).toBe(ids[0]);
      expect(ids[2]).not.toBe(ids[0]);
      for (const id of [ids[0], ids[2]]) {
        await waitFor(async () => ((await request('GET', `/replays/jobs/${id}`)).json() as ReplayJob).state !== 'running', 60_000, `job ${id} to finish`);
        expect((await request('GET', `/replays/jobs/${id}`)).json()).toMatchObject({ state: 'finished', matched: 60, replayed: 60, outcomes: { delivered: 60 } });
      }
      expect(downstream.received.length - before).toBe(120);
      expect(downstream.maxInFlight).toBeGreaterThan(1);
      expect(downstream.maxInFlight).toBeLessThanOrEqual(BULK_CONCURRENCY);
    } finally {
      downstream.delayMs = 0;
    }
  }, 120_000);
});

describe('ReplayJobs', () => {
  it(`keeps the newest ${MAX_JOBS} jobs, dropping finished ones first`, async () => {
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((r) => (release = r));
    const result = (matched: number): BulkReplayResult => ({ matched, capped: false, replayed: matched, duplicates: 0, outcomes: { delivered: matched, 'waiting-for-retry': 0, dead: 0 }, failed: [] });
    // A stand-in for the Replayer: the first job runs until released, the others end at once.
    let calls = 0;
    const replayer = { replaySelected: async (_r: unknown, s: { ids: string[] }) => (calls++ === 0 ? stuck.then(() => result(s.ids.length)) : result(s.ids.length)) } as unknown as Replayer;
    const jobs = new ReplayJobs(replayer, () => undefined, pino({ level: 'silent' }));
    const ids = [];
    for (let i = 0; i < MAX_JOBS + 5; i++) {
      ids.push(jobs.start({ filter: {} }, { ids: ['a', 'b'], capped: false }, `k${i}`, 'test').id);
      await new Promise((r) => setImmediate(r));
    }
    // The running one stays; the oldest finished ones went.
    expect(jobs.get(ids[0]!)).toMatchObject({ state: 'running' });
    expect(ids.slice(1, 6).map((id) => jobs.get(id))).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(ids.slice(6).every((id) => jobs.get(id)?.state === 'finished')).toBe(true);
    release();
    await stuck;
    await new Promise((r) => setImmediate(r));
    expect(jobs.get(ids[0]!)).toMatchObject({ state: 'finished', done: 2 });
  });
});
