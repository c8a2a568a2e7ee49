/**
 * Crash safety of the journal, on both backends (issue 4, item 6): AMQP -> REST under load, the hub killed with -9
 * twenty times while messages are in flight and waiting for durable retries, restarted each time on the same
 * journal. At the end every published message was accepted by the peer or is dead in the journal, checked by id.
 * Duplicates at the peer are allowed (at least once) and reported.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Broker, BROKER_URL } from '../adapters/amqp/test-support.js';
import type { Journal } from '../src/journal/contract.js';
import { openEmbeddedJournal } from '../src/journal/embedded.js';
import { openRedisJournal } from '../src/journal/redis.js';
import { bucket, deleteRedisPrefix, FAULTS_CONFIG, FAULTS_FLOW, journalOutcomes, logLines, Peer, publishIds } from './support/journal-faults.js';
import { kill9, ROOT, startHub, type HubProcess } from './support/processes.js';

const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';
const KILLS = 20;
/** Published all along the kills, whether the hub is up or down: a batch every 50 ms, up to a bound per kill. */
const BATCH = 5;
const PER_KILL = 60;

/**
 * What the peer answers, fixed by the id: 10% poison (400 on every try: dead at once), 50% accepted at once, the
 * rest fail their first 2, 3, 5 or 8 tries with 503 (two tries per run of the flow, so they wait for 1 to 4 durable
 * retries; 50 are allowed, so none dies from retries alone).
 */
function isPoison(id: string): boolean {
  return bucket(id) < 10;
}
function failures(id: string): number {
  const b = bucket(id);
  return b < 60 ? 0 : b < 70 ? 2 : b < 80 ? 3 : b < 90 ? 5 : 8;
}
const answer = (id: string, tryNo: number): number => (isPoison(id) ? 400 : tryNo <= failures(id) ? 503 : 200);

interface Backend {
  name: string;
  env(): NodeJS.ProcessEnv;
  open(): Promise<Journal>;
  cleanup(): Promise<void>;
}

function embedded(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'journal-crash-'));
  return {
    name: 'embedded',
    env: () => ({ HUB_JOURNAL_DIR: dir }),
    open: () => openEmbeddedJournal({ dir }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function redis(): Backend {
  const prefix = `hubtest:jcrash:${randomBytes(4).toString('hex')}`;
  return {
    name: 'redis',
    env: () => ({ REDIS_URL, HUB_JOURNAL_PREFIX: prefix }),
    open: () => openRedisJournal({ url: REDIS_URL, prefix }),
    cleanup: async () => void (await deleteRedisPrefix(REDIS_URL, prefix)),
  };
}

describe('journal crash safety: kill -9 under load', () => {
  for (const make of [embedded, redis]) {
    it(`${make.name} backend: ${KILLS} kills with messages in flight and waiting, none lost`, async () => {
      const broker = await new Broker().open();
      const backend = make();
      const run = randomBytes(3).toString('hex');
      const queue = `hubtest.jcrash.${backend.name}.${run}`;
      broker.track({ queues: [queue, `${queue}.retry`] });
      const peer = new Peer(answer, 80);
      const started = Date.now();
      const published: string[] = [];
      const atKill: { inFlight: number; waiting: number; unsettled: number; upMs: number }[] = [];
      let logs = '';
      let hub: HubProcess | undefined;
      const publish = async (n: number): Promise<void> => {
        const ids = Array.from({ length: n }, (_, i) => `${run}-${String(published.length + i).padStart(4, '0')}`);
        await publishIds(broker, queue, ids);
        published.push(...ids);
      };
      // Tried and failed (503), not accepted yet: waiting for a retry, in the journal or in flight.
      const waiting = (): number => [...peer.tries.keys()].filter((id) => !isPoison(id) && !peer.accepted.has(id)).length;
      let publishing = true;
      let publisher: Promise<void> | undefined;
      try {
        await peer.start();
        const env = { AMQP_URL: BROKER_URL, HUB_CONFIG: FAULTS_CONFIG, JOURNAL_FAULTS_QUEUE: queue, JOURNAL_FAULTS_PEER: peer.url, ...backend.env() };
        let budget = 0;
        for (let k = 0; k < KILLS; k++) {
          budget += PER_KILL;
          hub = await startHub([], { cwd: ROOT, env, readyTimeoutMs: 30_000 });
          const up = Date.now();
          publisher ??= (async () => {
            while (publishing) {
              if (published.length < budget) await publish(BATCH);
              await sleep(50);
            }
          })();
          await sleep(200 + Math.random() * 1300);
          atKill.push({ inFlight: peer.open, waiting: waiting(), unsettled: published.filter((id) => !peer.accepted.has(id) && !(isPoison(id) && peer.tries.has(id))).length, upMs: Date.now() - up });
          await kill9(hub);
          logs += hub.logs();
          hub = undefined;
        }
        publishing = false;
        await publisher;
        const killedAt = Date.now();
        hub = await startHub([], { cwd: ROOT, env, readyTimeoutMs: 30_000 });
        // Bounded: everything should be settled well within this.
        const deadline = Date.now() + 60_000;
        const settled = async (): Promise<boolean> => published.every((id) => (isPoison(id) ? peer.tries.has(id) : peer.accepted.has(id))) && (await broker.count(queue)) === 0 && (await broker.count(`${queue}.retry`)) === 0;
        while (!(await settled()) && Date.now() < deadline) await sleep(250);
        await sleep(1_500); // the last poison messages' dead letters, after the peer saw them
        await hub.stop();
        logs += hub.logs();
        hub = undefined;
        const drainMs = Date.now() - killedAt;

        const journal = await backend.open();
        let outcomes: Awaited<ReturnType<typeof journalOutcomes>>;
        try {
          outcomes = await journalOutcomes(journal, FAULTS_FLOW);
        } finally {
          await journal.close();
        }
        const dead = published.filter((id) => outcomes.get(id)?.includes('dead'));
        const missing = published.filter((id) => !peer.accepted.has(id) && !dead.includes(id));
        const poison = published.filter(isPoison);
        const retried = published.filter((id) => !isPoison(id) && failures(id) >= 2);
        const report = {
          backend: backend.name,
          messages: published.length,
          kills: atKill.length,
          accepted: peer.accepted.size,
          dead: dead.length,
          poison: poison.length,
          durablyRetried: retried.length,
          duplicates: peer.duplicates(),
          duplicatedIds: [...peer.accepted.values()].filter((c) => c > 1).length,
          journalRecords: [...outcomes.values()].flat().reduce<Record<string, number>>((n, status) => ({ ...n, [status]: (n[status] ?? 0) + 1 }), {}),
          atKill: { withRequestsOpen: atKill.filter((a) => a.inFlight > 0).length, requestsOpen: atKill.reduce((n, a) => n + a.inFlight, 0), unsettled: atKill.map((a) => a.unsettled), withWaiting: atKill.filter((a) => a.waiting > 0).length, maxWaiting: Math.max(...atKill.map((a) => a.waiting)), upMs: atKill.map((a) => a.upMs) },
          staleLockTakeovers: logLines(logs, 'taking over the lock').length,
          drainMs,
          totalMs: Date.now() - started,
        };
        console.log(`journal crash test: ${JSON.stringify(report)}`);
        // For a look at what the hubs said: JOURNAL_FAULTS_LOG_DIR=/tmp/x npx vitest run test/journal-crash.fault.test.ts
        if (process.env.JOURNAL_FAULTS_LOG_DIR) writeFileSync(join(process.env.JOURNAL_FAULTS_LOG_DIR, `journal-crash-${backend.name}.log`), logs);
        if (missing.length > 0) {
          console.log(`missing: ${JSON.stringify(missing.map((id) => ({ id, tries: peer.tries.get(id), journal: outcomes.get(id) })))}`);
        }
        expect(missing).toEqual([]);
        // Both outcomes occurred, and each as the peer decided: poison is dead, the rest delivered.
        expect(poison.length).toBeGreaterThan(0);
        expect(poison.every((id) => dead.includes(id))).toBe(true);
        expect(published.filter((id) => !isPoison(id)).every((id) => peer.accepted.has(id))).toBe(true);
        expect(retried.length).toBeGreaterThan(0);
        // The kills met messages waiting for a retry.
        expect(atKill.filter((a) => a.waiting > 0).length).toBeGreaterThan(KILLS / 2);
      } finally {
        publishing = false;
        await publisher?.catch(() => {});
        if (hub) await kill9(hub);
        await peer.close();
        await broker.close();
        await backend.cleanup();
      }
    }, 170_000);
  }
});
