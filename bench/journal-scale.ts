/**
 * `npm run bench:journal`: does the journal stay quick with a large backlog? For each backend (embedded in a temp
 * folder; Redis under a fresh key prefix, deleted after) it fills the journal through the Journal contract with
 * BENCH_JOURNAL_N messages (100,000: ~300 B JSON bodies, headers, a few timeline events each; a tenth dead, in 20
 * flow/step/code groups; the rest delivered, failed or waiting for a retry; received over the past week), then
 * times the admin API's answers (a Hub built with that journal, requests through fastify's inject(): routing, auth,
 * validation, the journal call, serialisation): the first page of the message list, searches by flow + status,
 * error text (one that matches a group, and one that matches nothing, which walks as far as a page may), correlation
 * id and time range, a page deep in, and the dead-letter groups. Each request runs once to warm up, then
 * BENCH_JOURNAL_REPEATS times (7); the table shows median and max against the target, 300 ms.
 *
 * Environment: BENCH_JOURNAL_N (100000), BENCH_JOURNAL_REPEATS (7), BENCH_JOURNAL_BACKENDS (embedded,redis),
 * REDIS_URL (redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import type { ErrorInfo, Journal, MessageInput, TimelineEvent } from '../src/journal/contract.js';
import { openEmbeddedJournal } from '../src/journal/embedded.js';
import { deleteRedisJournal, openRedisJournal } from '../src/journal/redis.js';
import { Hub } from '../src/hub.js';
import { fmt, median, uniqueName } from './common.js';

const TARGET_MS = 300;
const N = positiveInt(process.env.BENCH_JOURNAL_N, 100_000);
const REPEATS = positiveInt(process.env.BENCH_JOURNAL_REPEATS, 7);
const BACKENDS = (process.env.BENCH_JOURNAL_BACKENDS ?? 'embedded,redis').split(',').map((s) => s.trim());
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
/** Writes in flight while filling: enough for the embedded group commit and Redis's pipelining to batch. */
const FILL_CONCURRENCY = 256;
const WEEK_MS = 7 * 24 * 3600_000;
const BODY_BYTES = 300;
const MAX_BODY_BYTES = 64 * 1024;

const FLOWS = ['orders-to-erp', 'invoices-to-sap', 'shipments-to-carrier', 'customers-sync', 'payments-to-ledger'];
/** Four ways to die per flow: 20 dead-letter groups. */
const FAILURES: ErrorInfo[] = [
  { code: 'DOWNSTREAM_UNAVAILABLE', step: 'sink:erp', message: 'connect ECONNREFUSED 10.0.3.7:8443' },
  { code: 'SCHEMA_INVALID', step: '1:validate', message: 'body/lines/0/qty must be integer' },
  { code: 'TIMEOUT', step: '3:enrich', message: 'GET https://crm.internal/customers took longer than 5000 ms' },
  { code: 'DOWNSTREAM_REJECTED', step: 'sink:erp', message: 'the peer answered 422 Unprocessable Entity: duplicate document number' },
];

function positiveInt(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** A small deterministic generator, so every run fills the same journal. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Fate = 'delivered' | 'failed' | 'waiting' | 'dead';

interface Planned {
  message: MessageInput;
  events: TimelineEvent[];
  fate: Fate;
  /** For `dead`: its error; for `waiting`: when it is due. */
  error?: ErrorInfo;
  dueAt?: string;
  deadAt?: string;
}

/** Every `i`-th message of the backlog, the same on every run: a tenth dead (spread over the groups), 12% failed, 8% waiting. */
function plan(i: number, start: number): Planned {
  const r = rng(i + 1);
  const flow = FLOWS[i % FLOWS.length]!;
  const ms = start + Math.floor((i / N) * WEEK_MS) + Math.floor(r() * 60_000);
  const at = (offset: number): string => new Date(ms + offset).toISOString();
  const id = `msg-${String(i).padStart(7, '0')}-${Math.floor(r() * 1e9).toString(36)}`;
  const body = orderBody(i);
  const message: MessageInput = {
    id,
    correlationId: `corr-${Math.floor(i / 3).toString(36)}`,
    flow,
    source: `amqp:${flow}.in`,
    receivedAt: at(0),
    headers: { 'content-type': 'application/json', 'x-request-id': randomHex(r, 16), traceparent: `00-${randomHex(r, 32)}-${randomHex(r, 16)}-01`, 'x-tenant': `tenant-${i % 17}` },
    body,
  };
  const events: TimelineEvent[] = [
    { type: 'received', at: at(0), attempt: 1 },
    { type: 'step', at: at(3), attempt: 1, step: '1:validate' },
    { type: 'step', at: at(5), attempt: 1, step: '2:transform' },
  ];
  // The flow turns with i, the fate with i / flows, so every flow gets every fate.
  const k = Math.floor(i / FLOWS.length);
  const roll = k % 100;
  // Dead ones: one in ten; their failure turns with k / 10, so that each of the 20 groups gets about N / 200.
  if (roll % 10 === 7) {
    const failure = FAILURES[Math.floor(k / 10) % FAILURES.length]!;
    const error = { ...failure, message: `${failure.message} (order ORD-${String(i).padStart(8, '0')})` };
    events.push({ type: 'failed', at: at(40), attempt: 1, error }, { type: 'waiting-for-retry', at: at(41), attempt: 1, dueAt: at(60_000), error });
    return { message, events, fate: 'dead', error, deadAt: at(300_000) };
  }
  if (roll < 12) {
    const error = { ...FAILURES[i % 3]!, message: `${FAILURES[i % 3]!.message} (order ORD-${String(i).padStart(8, '0')})` };
    events.push({ type: 'failed', at: at(40), attempt: 1, error });
    return { message, events, fate: 'failed' };
  }
  if (roll < 20) {
    const error = { ...FAILURES[0]!, message: `${FAILURES[0]!.message} (order ORD-${String(i).padStart(8, '0')})` };
    events.push({ type: 'failed', at: at(40), attempt: 1, error });
    return { message, events, fate: 'waiting', error, dueAt: new Date(Date.now() + 24 * 3600_000 + i).toISOString() };
  }
  events.push({ type: 'delivered', at: at(20), attempt: 1, step: 'erp' });
  return { message, events, fate: 'delivered' };
}

function randomHex(r: () => number, n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(r() * 0x100000000).toString(16).padStart(8, '0');
  return s.slice(0, n);
}

const REGIONS = ['eu', 'us', 'apac', 'latam'];

/** A JSON order of about BODY_BYTES bytes. */
function orderBody(seq: number): Buffer {
  const order = {
    seq,
    orderId: `ORD-${String(seq).padStart(8, '0')}`,
    customerId: `C-${String(seq % 1000).padStart(4, '0')}`,
    region: REGIONS[seq % REGIONS.length],
    currency: 'EUR',
    lines: [
      { sku: 'A-100', qty: 2, price: 19.5 },
      { sku: 'B-200', qty: 1, price: 120 },
      { sku: 'C-300', qty: 5, price: 3.25 },
    ],
    note: '',
  };
  order.note = 'x'.repeat(Math.max(0, BODY_BYTES - Buffer.byteLength(JSON.stringify(order))));
  return Buffer.from(JSON.stringify(order));
}

/** Writes the backlog as the runtime would: record (with the held events), then scheduleRetry or deadLetter. */
async function fill(journal: Journal, start: number): Promise<Record<Fate, number>> {
  const counts: Record<Fate, number> = { delivered: 0, failed: 0, waiting: 0, dead: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < N; i = next++) {
      const p = plan(i, start);
      await journal.record(p.message, p.events, { maxBodyBytes: MAX_BODY_BYTES });
      if (p.fate === 'waiting') await journal.scheduleRetry(p.message.id, { dueAt: p.dueAt!, attempt: 2, error: p.error! });
      if (p.fate === 'dead') await journal.deadLetter(p.message.id, { error: p.error!, attempt: 3, at: p.deadAt! });
      counts[p.fate]++;
    }
  };
  await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
  return counts;
}

interface Operation {
  name: string;
  /** The request's path and query under /admin/api; a function when it depends on an earlier answer. */
  url: string | (() => Promise<string>);
  /** What the answer must hold, checked once: a wrong answer fast is no answer. */
  check(body: unknown): string | undefined;
}

interface Measured {
  backend: string;
  name: string;
  median: number;
  max: number;
  note: string;
}

interface PageBody {
  items: { id: string; flow: string; status: string; correlationId?: string; receivedAt: string; lastError?: ErrorInfo }[];
  next?: string;
}

async function measureBackend(backend: string, open: () => Promise<{ journal: Journal; cleanUp: () => Promise<void> }>): Promise<Measured[]> {
  const { journal, cleanUp } = await open();
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-journal-flows-'));
  let hub: Hub | undefined;
  try {
    const start = Date.now() - WEEK_MS;
    const began = performance.now();
    const counts = await fill(journal, start);
    const fillMs = performance.now() - began;
    out(`   ${backend}: filled ${fmt(N)} messages in ${fmt(fillMs / 1000, 1)} s (${fmt(N / (fillMs / 1000))}/s; ${fmt(counts.delivered)} delivered, ${fmt(counts.failed)} failed, ${fmt(counts.waiting)} waiting for a retry, ${fmt(counts.dead)} dead)`);

    const token = randomBytes(16).toString('hex');
    const config = defaultHubConfig({ port: 0, flowsDir: dir, schemasDir: resolve(PROJECT_ROOT, 'schemas'), logLevel: 'error', shutdownGraceMs: 1_000, journal: { dir: join(dir, '.journal'), retryPollMs: 60_000 }, admin: { token } });
    hub = await Hub.build({ config, registry: builtinRegistry(), logger: pino({ level: 'error' }, pino.destination(2)), journal });
    const app = hub.app;
    const get = async (url: string): Promise<unknown> => {
      const res = await app.inject({ method: 'GET', url: `/admin/api${url}`, headers: { authorization: `Bearer ${token}` } });
      if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
      return res.json();
    };

    const flow = FLOWS[0]!;
    const someCorr = `corr-${Math.floor((N / 2) / 3).toString(36)}`;
    const dayFrom = new Date(start + 3 * 24 * 3600_000).toISOString();
    const dayTo = new Date(start + 4 * 24 * 3600_000).toISOString();
    const DEEP = 20;
    let deepCursor: string | undefined;
    const page = (b: unknown): PageBody => b as PageBody;
    const operations: Operation[] = [
      { name: 'list, first page (50)', url: '/messages?limit=50', check: (b) => (page(b).items.length === 50 ? undefined : `${page(b).items.length} items`) },
      {
        name: `list, page ${DEEP + 1} (after ${DEEP} nexts)`,
        url: async () => {
          if (deepCursor === undefined) {
            let cursor: string | undefined;
            for (let i = 0; i < DEEP; i++) cursor = page(await get(`/messages?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).next;
            deepCursor = cursor!;
          }
          return `/messages?limit=50&cursor=${encodeURIComponent(deepCursor)}`;
        },
        check: (b) => (page(b).items.length === 50 && page(b).next ? undefined : `${page(b).items.length} items`),
      },
      {
        name: 'search flow + status dead',
        url: `/messages?flow=${flow}&status=dead`,
        check: (b) => (page(b).items.length === 50 && page(b).items.every((m) => m.flow === flow && m.status === 'dead') ? undefined : `${page(b).items.length} items, or not all ${flow}/dead`),
      },
      {
        name: 'search error text (a group\'s)',
        url: `/messages?errorText=${encodeURIComponent('econnREFUSED')}`,
        check: (b) => (page(b).items.length > 0 && page(b).items.every((m) => /econnrefused/i.test(m.lastError?.message ?? '')) ? undefined : `${page(b).items.length} items`),
      },
      {
        name: 'search error text (no match)',
        url: `/messages?errorText=${encodeURIComponent('no such text anywhere')}`,
        check: (b) => (page(b).items.length === 0 ? undefined : `${page(b).items.length} items`),
      },
      {
        name: 'search correlation id',
        url: `/messages?correlationId=${someCorr}`,
        check: (b) => (page(b).items.length === 3 && page(b).items.every((m) => m.correlationId === someCorr) ? undefined : `${page(b).items.length} items (3 expected)`),
      },
      {
        name: 'search time range (one day)',
        url: `/messages?from=${encodeURIComponent(dayFrom)}&to=${encodeURIComponent(dayTo)}`,
        check: (b) => (page(b).items.length === 50 && page(b).items.every((m) => m.receivedAt >= dayFrom && m.receivedAt < dayTo) ? undefined : `${page(b).items.length} items, or outside the day`),
      },
      {
        name: 'dead-letter groups',
        url: '/dead-letters',
        check: (b) => {
          const groups = (b as { groups: { count: number }[] }).groups;
          const total = groups.reduce((s, g) => s + g.count, 0);
          return groups.length === 20 && total === counts.dead ? undefined : `${groups.length} groups holding ${total}`;
        },
      },
      // The Flows page's "dead, waiting, failed now": the journal's status counts, kept as records change (not a walk).
      { name: 'flows (counts now)', url: '/flows', check: (b) => (Array.isArray((b as { flows?: unknown[] }).flows) ? undefined : 'no flows list') },
    ];

    const results: Measured[] = [];
    for (const op of operations) {
      const url = typeof op.url === 'string' ? op.url : await op.url();
      const problem = op.check(await get(url)); // the warm-up, and the answer's check
      const times: number[] = [];
      for (let r = 0; r < REPEATS; r++) {
        const t0 = performance.now();
        await get(url);
        times.push(performance.now() - t0);
      }
      const first = await get(url);
      const items = Array.isArray((first as PageBody).items) ? `${(first as PageBody).items.length} items${(first as PageBody).next ? ', next' : ''}` : Array.isArray((first as { groups?: unknown[] }).groups) ? `${(first as { groups: unknown[] }).groups.length} groups` : 'flows';
      results.push({ backend, name: op.name, median: median(times), max: Math.max(...times), note: problem ? `WRONG ANSWER: ${problem}` : items });
    }
    return results;
  } finally {
    await hub?.stop().catch(() => {});
    await journal.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    await cleanUp();
  }
}

async function main(): Promise<void> {
  const cpu = cpus();
  out('integration-hub benchmark: the journal with a large backlog, through the admin API');
  out(`machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}`);
  out(`backlog: ${fmt(N)} messages of ~${BODY_BYTES} B JSON with 4 headers and 4 to 6 events, received over 7 days in ${FLOWS.length} flows;`);
  out(`         a tenth dead in ${FLOWS.length * FAILURES.length} flow/step/code groups, 12% failed, 8% waiting for a retry, the rest delivered`);
  out(`requests: Hub.build with the journal, app.inject() with the bearer token; 1 warm-up then ${REPEATS} timed each, one at a time`);
  out();
  const all: Measured[] = [];
  let problems = 0;
  for (const backend of BACKENDS) {
    try {
      if (backend === 'embedded') {
        const dir = mkdtempSync(join(tmpdir(), 'hub-bench-journal-'));
        all.push(...(await measureBackend('embedded', async () => ({ journal: await openEmbeddedJournal({ dir }), cleanUp: async () => rmSync(dir, { recursive: true, force: true }) }))));
      } else if (backend === 'redis') {
        const prefix = uniqueName('journal-scale');
        all.push(
          ...(await measureBackend('redis', async () => {
            const journal = await openRedisJournal({ url: REDIS_URL, prefix, onWarning: (m) => out(`   redis: ${m}`) }).catch(async (err: unknown) => {
              await deleteRedisJournal(REDIS_URL, prefix).catch(() => {});
              throw err;
            });
            return { journal, cleanUp: async () => void (await deleteRedisJournal(REDIS_URL, prefix)) };
          })),
        );
      } else {
        throw new Error(`unknown backend "${backend}" (embedded, redis)`);
      }
    } catch (err) {
      problems++;
      out(`   ${backend}: FAILED: ${(err as Error).stack ?? String(err)}`);
    }
  }
  out();
  const w = Math.max(...all.map((m) => m.name.length), 9);
  out(`   ${'backend'.padEnd(8)} ${'operation'.padEnd(w)} ${'median ms'.padStart(9)} ${'max ms'.padStart(8)}  target ${TARGET_MS} ms  answer`);
  for (const m of all) {
    const pass = m.median < TARGET_MS && m.max < TARGET_MS && !m.note.startsWith('WRONG');
    if (!pass) problems++;
    out(`   ${m.backend.padEnd(8)} ${m.name.padEnd(w)} ${fmt(m.median, 1).padStart(9)} ${fmt(m.max, 1).padStart(8)}  ${(pass ? 'PASS' : 'FAIL').padEnd(13)}  ${m.note}`);
  }
  out();
  process.exit(problems > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  out(`bench: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
