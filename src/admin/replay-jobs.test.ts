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
import { DeferredJournal } from '../journal/deferred.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { JournalError } from '../journal/errors.js';
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
      const started = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorCode: 'DOWNSTREAM_UNAVAILABLE' }, max: 5000, note: 'outage over', rate: 400 }, { prefer: 'respond-async' });
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
      expect(audit.at(-1)).toMatchObject({ outcome: 'ok', status: 202, actor: 'token:jobs-test', detail: `started job ${job.id} at 400 msg/s: matched ${DEAD}` });
      // Each message's result is kept with the job.
      const results = (await request('GET', `/replays/jobs/${job.id}/results?limit=1000`)).json() as { total: number; items: { outcome: string; newId?: string }[] };
      expect(results.total).toBe(DEAD);
      expect(results.items.every((r) => r.outcome === 'delivered' && r.newId)).toBe(true);
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
      const east = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorText: '(east)' }, background: true, rate: 1000 }, { 'idempotency-key': 'east-1' });
      const again = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorText: '(east)' }, background: true, rate: 1000 }, { 'idempotency-key': 'east-1' });
      const west = await request('POST', '/replays', { filter: { flow: 'admin-orders', errorText: '(west)' }, background: true, rate: 1000 }, { 'idempotency-key': 'west-1' });
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

describe('replay jobs: paced, paused, resumed, cancelled, and kept across a restart', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('admin-jobs2');
  const auditQueue = unique('admin-jobs2-audit');
  const journalDir = mkdtempSync(join(tmpdir(), 'admin-jobs2-'));
  let hub: Hub;
  let url: string;

  async function build(): Promise<Hub> {
    const h = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir: join(FIXTURES, 'flows'), schemasDir: join(FIXTURES, 'schemas'), logLevel: 'silent', shutdownGraceMs: 1000, journal: { dir: journalDir }, admin: { token: TOKEN } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
    });
    await waitFor(() => h.runners.every((r) => r.ready()), 15_000, 'the flow to be ready');
    return h;
  }
  const call = async (method: InjectOptions['method'], path: string, body?: unknown): Promise<LightMyRequestResponse> =>
    hub.app.inject({ method, url: ADMIN_PREFIX + path, headers: { authorization: `Bearer ${TOKEN}`, 'x-hub-actor': 'night-ops' }, ...(body === undefined ? {} : { payload: body as object }) });
  const job = async (id: string): Promise<ReplayJob> => (await call('GET', `/replays/jobs/${id}`)).json() as ReplayJob;

  async function seed(n: number, text: string, replayOf?: (i: number) => string): Promise<string[]> {
    const ids: string[] = [];
    const error = { code: 'DOWNSTREAM_UNAVAILABLE', message: text, step: '2:to' };
    for (let i = 1; i <= n; i++) {
      const id = newId();
      const at = new Date().toISOString();
      await hub.journal.record({ id, flow: 'admin-orders', source: `amqp:${queue}`, receivedAt: at, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ orderId: `p-${i}`, qty: 1 })), ...(replayOf ? { replayOf: replayOf(i) } : {}) }, [{ type: 'received', at, attempt: 1 }], { maxBodyBytes: 512 });
      await hub.journal.deadLetter(id, { error, attempt: 1, at });
      ids.push(id);
    }
    return ids;
  }

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    url = await downstream.start();
    downstream.failing = false;
    hub = await build();
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  it('refuses a rate of zero or below and a selection matching nothing, booking nothing', async () => {
    for (const rate of [0, -5]) {
      const r = await call('POST', '/replays', { filter: { flow: 'admin-orders' }, background: true, rate });
      expect([r.statusCode, (r.json() as { code: string }).code]).toEqual([400, 'BAD_REQUEST']);
      expect((r.json() as { detail: string }).detail).toMatch(/rate/);
    }
    const none = await call('POST', '/replays', { filter: { flow: 'admin-orders', errorText: 'nothing like this' }, background: true });
    expect([none.statusCode, (none.json() as { detail: string }).detail]).toEqual([404, 'no message matches the filter: no job was started']);
    expect(((await call('GET', '/replays/jobs')).json() as { jobs: unknown[] }).jobs).toEqual([]);
  });

  it('replays at its set rate; pause, resume and cancel are audited; a removed message is counted as removed', async () => {
    const ids = await seed(40, 'paced');
    const before = downstream.bodies('/orders').length;
    const count = (await call('POST', '/replays/count', { filter: { flow: 'admin-orders', errorText: 'paced' } })).json();
    expect(count).toEqual({ count: 40, exact: true });
    const started = Date.now();
    const r = await call('POST', '/replays', { filter: { flow: 'admin-orders', errorText: 'paced' }, background: true, rate: 10 });
    expect(r.statusCode).toBe(202);
    // Retention takes one before its turn (the job walks newest first: the fifth newest comes at about 0.4 s).
    await hub.journal.remove(ids[35]!);
    const id = (r.json() as ReplayJob).id;
    await waitFor(async () => (await job(id)).done >= 10, 10_000, 'ten done');
    // Ten a second: ten take about a second (the first goes at once).
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await call('POST', `/replays/jobs/${id}/pause`)).json()).toMatchObject({ state: 'paused', changed: true, pausedBy: 'token:night-ops' });
    await new Promise((res) => setTimeout(res, 400));
    const paused = (await job(id)).done;
    await new Promise((res) => setTimeout(res, 600));
    expect((await job(id)).done).toBe(paused);
    expect((await call('POST', `/replays/jobs/${id}/resume`)).json()).toMatchObject({ state: 'running', changed: true });
    await waitFor(async () => (await job(id)).done >= paused + 5, 10_000, 'more done after resume');
    expect((await call('POST', `/replays/jobs/${id}/cancel`)).json()).toMatchObject({ state: 'cancelled', changed: true, cancelledBy: 'token:night-ops' });
    await new Promise((res) => setTimeout(res, 500));
    const end = await job(id);
    expect(end.state).toBe('cancelled');
    expect(end.done).toBeLessThan(39);
    // What it did, it did once each; the one removed before its turn is no failure.
    expect(downstream.bodies('/orders').length - before).toBe(end.replayed);
    expect(end).toMatchObject({ removed: 1, failedCount: 0 });
    const audit = ((await call('GET', '/audit?action=job-control')).json() as { items: AuditEntry[] }).items;
    expect(audit.map((a) => a.detail?.split(':')[0])).toEqual([`cancel job ${id}`, `resume job ${id}`, `pause job ${id}`]);
    expect(audit.every((a) => a.actor === 'token:night-ops')).toBe(true);
    // The rest of the group is still dead, for another job.
    expect((await call('POST', '/replays/count', { filter: { flow: 'admin-orders', errorText: 'paced' } })).json()).toMatchObject({ count: 40 - end.done });
  }, 60_000);

  it('a job is kept in the journal: a hub restart resumes it, and it ends having sent each message once', async () => {
    await seed(30, 'restart');
    const before = downstream.bodies('/orders').length;
    const r = await call('POST', '/replays', { filter: { flow: 'admin-orders', errorText: 'restart' }, background: true, rate: 20 });
    const id = (r.json() as ReplayJob).id;
    await waitFor(async () => (await job(id)).done >= 8, 10_000, 'some done');
    await hub.stop();
    hub = await build();
    await waitFor(async () => (await job(id)).state === 'finished', 20_000, 'the resumed job to finish');
    const end = await job(id);
    expect(end).toMatchObject({ state: 'finished', matched: 30, resumed: 1 });
    expect(end.replayed + end.duplicates).toBe(30);
    const sent = downstream.bodies('/orders').slice(before) as { orderId: string }[];
    expect(sent).toHaveLength(30);
    expect(new Set(sent.map((b) => b.orderId)).size).toBe(30);
  }, 60_000);

  it('a hub whose journal opens late (Redis still away at its start) resumes the job once the journal answers', async () => {
    await seed(20, 'late-journal');
    const before = downstream.bodies('/orders').length;
    const r = await call('POST', '/replays', { filter: { flow: 'admin-orders', errorText: 'late-journal' }, background: true, rate: 20 });
    const id = (r.json() as ReplayJob).id;
    await waitFor(async () => (await job(id)).done >= 5, 10_000, 'some done');
    await hub.stop();
    // The hub's own deferred journal, its store held back until the test lets it open (as a Redis that comes back).
    let answers = false;
    const deferred = new DeferredJournal({
      where: 'the test store',
      retryMs: 100,
      open: async () => {
        if (!answers) throw new JournalError('UNAVAILABLE', 'the test store is away');
        return openEmbeddedJournal({ dir: journalDir });
      },
    });
    hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir: join(FIXTURES, 'flows'), schemasDir: join(FIXTURES, 'schemas'), logLevel: 'silent', shutdownGraceMs: 1000, journal: { dir: journalDir }, admin: { token: TOKEN } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
      journal: deferred.journal,
    });
    try {
      // Away for longer than the first try to resume: the jobs are tried again, not given up.
      await new Promise((res) => setTimeout(res, 2500));
      answers = true;
      await deferred.opened;
      await waitFor(async () => (await job(id)).state === 'finished', 20_000, 'the resumed job to finish');
      expect(await job(id)).toMatchObject({ state: 'finished', matched: 20, resumed: 1 });
      const sent = downstream.bodies('/orders').slice(before) as { orderId: string }[];
      expect(sent).toHaveLength(20);
    } finally {
      await hub.stop();
      await deferred.journal.close();
      hub = await build();
    }
  }, 60_000);

  it('parks a message replayed too often with REPLAY_LIMIT instead of replaying it again', async () => {
    // A line of five replays of one original, each dead: the sixth is not made.
    const chain: string[] = (await seed(1, 'chain-0'));
    for (let i = 1; i <= 5; i++) chain.push(...(await seed(1, i === 5 ? 'looping' : `chain-${i}`, () => chain.at(-1)!)));
    const r = await call('POST', '/replays', { filter: { flow: 'admin-orders', errorText: 'looping' }, background: true, rate: 100 });
    const id = (r.json() as ReplayJob).id;
    await waitFor(async () => (await job(id)).state === 'finished', 10_000, 'the job to finish');
    expect(await job(id)).toMatchObject({ parked: 1, replayed: 0 });
    expect(await hub.journal.get(chain.at(-1)!)).toMatchObject({ status: 'dead', lastError: { code: 'REPLAY_LIMIT' } });
  });
});
