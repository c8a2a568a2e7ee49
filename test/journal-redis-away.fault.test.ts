/**
 * The Redis journal away for 30 seconds (issue 4, items 6 and 7): a hub on a Redis of the test's own (AOF, fsync
 * always, so stopping it keeps its data; the shared Redis keeps nothing on disk and others use it), AMQP -> REST.
 * While Redis is away, messages that succeed still flow, and those that fail and would need parking are not acked
 * at all: they stay with RabbitMQ (held unacknowledged for the retry delay, then requeued) and come back. When Redis is back, without a hub
 * restart, the retries that waited in the journal resume, and every message ends delivered or dead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { Broker, BROKER_URL } from '../adapters/amqp/test-support.js';
import { openRedisJournal } from '../src/journal/redis.js';
import { FAULTS_CONFIG, FAULTS_FLOW, journalOutcomes, logLines, Peer, publishIds } from './support/journal-faults.js';
import { OwnRedis } from './support/own-redis.js';
import { freePort, ROOT, startHub, type HubProcess } from './support/processes.js';

const AWAY_MS = 30_000;

describe('journal on Redis: Redis away for 30 seconds', () => {
  it('keeps failing messages with RabbitMQ while Redis is away, lets successes through, and resumes waiting retries without a hub restart', async () => {
    const run = randomBytes(3).toString('hex');
    const queue = `hubtest.jredis.${run}`;
    const broker = await new Broker().open();
    broker.track({ queues: [queue, `${queue}.retry`] });
    const port = await freePort();
    const redisDir = mkdtempSync(join(tmpdir(), 'journal-redis-away-'));
    // allkeys-lru without a maxmemory never evicts, but it is not noeviction: the hub must warn about it at start.
    const redis = new OwnRedis(port, redisDir, ['--maxmemory-policy', 'allkeys-lru']);
    // w-: waiting for a durable retry when Redis goes; f-: fail while it is away; s-: succeed while it is away;
    // p-: poison (400), published while it is away. Everything but poison is accepted once `released`.
    let released = false;
    const peer = new Peer((id) => (id.startsWith('p-') ? 400 : id.startsWith('s-') || released ? 200 : 503));
    const ids = (kind: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${kind}-${run}-${String(i).padStart(3, '0')}`);
    const w = ids('w', 20);
    const f = ids('f', 10);
    const s = ids('s', 10);
    const p = ids('p', 5);
    let hub: HubProcess | undefined;
    const started = Date.now();
    try {
      await peer.start();
      await redis.start();
      const env = { AMQP_URL: BROKER_URL, HUB_CONFIG: FAULTS_CONFIG, JOURNAL_FAULTS_QUEUE: queue, JOURNAL_FAULTS_PEER: peer.url, REDIS_URL: redis.url, HUB_JOURNAL_PREFIX: `hubtest:jredis:${run}` };
      hub = await startHub([], { cwd: ROOT, env, readyTimeoutMs: 30_000 });
      const pid = hub.child.pid;
      // Item 7: the eviction policy warning reaches the hub's log at start.
      expect(logLines(hub.logs(), 'journal: ').map((l) => l.msg).join('\n')).toMatch(/maxmemory-policy is "allkeys-lru", not noeviction/);

      // Messages waiting for durable retries in the journal: each has run at least twice (two tries a run).
      await publishIds(broker, queue, w);
      const until = async (what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> => {
        const deadline = Date.now() + ms;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}\n${hub?.logs().split('\n').slice(-30).join('\n')}`);
          await sleep(100);
        }
      };
      await until('every w- message has had a durable retry', () => w.every((id) => (peer.tries.get(id) ?? 0) >= 4), 20_000);

      // Redis away.
      await redis.stop();
      const away = Date.now();
      const waitingTries = w.reduce((n, id) => n + (peer.tries.get(id) ?? 0), 0);
      await publishIds(broker, queue, [...f, ...s, ...p]);
      await until('the s- messages got through without Redis', () => s.every((id) => peer.accepted.has(id)), 15_000);
      const successesAfterMs = Date.now() - away;
      await sleep(Math.max(0, AWAY_MS - (Date.now() - away)));
      // Not dropped, not acknowledged: each failing message came back from RabbitMQ again and again, lately too, and
      // none was acked into the retry queue.
      const failing = [...f, ...p];
      const runsOf = (id: string): number => (id.startsWith('p-') ? (peer.tries.get(id) ?? 0) : Math.floor((peer.tries.get(id) ?? 0) / 2));
      const awayReport = {
        runsWhileAway: Object.fromEntries(failing.map((id) => [id, runsOf(id)])),
        lastTrySecondsAgo: Math.max(...failing.map((id) => (Date.now() - (peer.lastTry.get(id) ?? 0)) / 1000)),
        waitingTriesWhileAway: w.reduce((n, id) => n + (peer.tries.get(id) ?? 0), 0) - waitingTries,
        queued: { ready: await broker.count(queue), retry: await broker.count(`${queue}.retry`) },
      };
      expect(failing.every((id) => runsOf(id) >= 5), JSON.stringify(awayReport)).toBe(true);
      expect(awayReport.lastTrySecondsAgo).toBeLessThan(10);
      expect(awayReport.queued.retry).toBe(0);
      expect(failing.some((id) => peer.accepted.has(id))).toBe(false);
      expect(hub.child.exitCode).toBeNull();
      const logsAway = hub.logs();
      expect(logLines(logsAway, 'the journal could not park the message').length).toBeGreaterThan(0);
      expect(logLines(logsAway, 'the journal is unavailable: durable retries wait until it is back')).toHaveLength(1);

      // Redis back on the same port and data; the peer takes everything now.
      await redis.start();
      const back = Date.now();
      released = true;
      await until('every message but the poison ones was accepted', async () => [...w, ...f, ...s].every((id) => peer.accepted.has(id)) && p.every((id) => (peer.lastTry.get(id) ?? 0) > back) && (await broker.count(queue)) === 0 && (await broker.count(`${queue}.retry`)) === 0, 45_000);
      const recoveredAfterMs = Date.now() - back;
      await sleep(1_500); // the poison messages' dead letters, after the peer saw them
      expect(hub.child.pid).toBe(pid);
      expect(hub.child.exitCode).toBeNull();
      const logs = hub.logs();
      // For a look at what the hub said: JOURNAL_FAULTS_LOG_DIR=/tmp/x npx vitest run test/journal-redis-away.fault.test.ts
      if (process.env.JOURNAL_FAULTS_LOG_DIR) writeFileSync(join(process.env.JOURNAL_FAULTS_LOG_DIR, 'journal-redis-away.log'), logs);
      expect(logLines(logs, 'the journal is back: durable retries resume')).toHaveLength(1);
      const stopping = Date.now();
      expect(await hub.stop()).toBe(0);
      const stopMs = Date.now() - stopping;
      hub = undefined;

      const journal = await openRedisJournal({ url: redis.url, prefix: `hubtest:jredis:${run}` });
      let outcomes: Awaited<ReturnType<typeof journalOutcomes>>;
      try {
        outcomes = await journalOutcomes(journal, FAULTS_FLOW);
      } finally {
        await journal.close();
      }
      const all = [...w, ...f, ...s, ...p];
      const dead = all.filter((id) => outcomes.get(id)?.includes('dead'));
      const missing = all.filter((id) => !peer.accepted.has(id) && !dead.includes(id));
      const report = {
        messages: all.length,
        accepted: peer.accepted.size,
        dead: dead.length,
        duplicates: peer.duplicates(),
        ...awayReport,
        successesAfterMs,
        recoveredAfterMs,
        stopMs,
        waitingDeliveredFromJournal: w.filter((id) => outcomes.get(id)?.includes('delivered')).length,
        totalMs: Date.now() - started,
      };
      console.log(`journal redis-away test: ${JSON.stringify(report)}`);
      expect(missing).toEqual([]);
      expect(dead.sort()).toEqual([...p].sort());
      // The waiting ones were delivered by durable retries taken from the journal after Redis came back.
      expect(w.every((id) => outcomes.get(id)?.includes('delivered'))).toBe(true);
    } finally {
      if (hub) {
        hub.child.kill('SIGKILL');
        await hub.stop();
      }
      await peer.close();
      await broker.close();
      await redis.stop();
      rmSync(redisDir, { recursive: true, force: true });
    }
  }, 150_000);
});
