/**
 * vitest globalSetup: a real Apache Kafka broker for the whole run (scripts/kafka.sh), its address handed to tests
 * through `inject('kafkaBrokers')`. With KAFKA_BROKERS set, that cluster is used and nothing is started or stopped.
 *
 * vitest calls this once per project (the root and each of `main` and `faults`) in one process, so the broker is
 * shared through a process-wide counter: the first call starts it, the last teardown stops it. Several test runs
 * on one checkout (engineers side by side) share it too: each holds a lease file while it runs, and the last run
 * to finish stops a broker that a test run started. A broker someone started by hand is never stopped.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { processAlive } from './processes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated bootstrap addresses of the test broker, e.g. "127.0.0.1:19092"; empty when it failed to start. */
    kafkaBrokers: string;
    /** Why the broker could not be started (tests that need it fail with this); empty when it runs. */
    kafkaError: string;
    /** True when this run started the broker with scripts/kafka.sh, so fault tests may kill and restart it. */
    kafkaManaged: boolean;
  }
}

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'kafka.sh');
const RUN_DIR = join(ROOT, '.cache', 'kafka', `run-${process.env.KAFKA_PORT ?? '19092'}`);
const LEASES = join(RUN_DIR, 'leases');
/** Present while the broker was started by a test run (not by hand): the last run out stops it. */
const MARKER = join(RUN_DIR, 'started-by-tests');

/** Test runs other than this one that still use the broker. */
function otherUsers(): number[] {
  if (!existsSync(LEASES)) return [];
  return readdirSync(LEASES)
    .map(Number)
    .filter((pid) => pid !== process.pid && Number.isInteger(pid) && processAlive(pid));
}

interface Shared {
  users: number;
  ready: Promise<{ brokers: string; error: string; managed: boolean; owned: boolean }>;
}
const KEY = Symbol.for('integration-hub.test.kafka-broker');
const registry = globalThis as unknown as Record<symbol, Shared | undefined>;

async function startBroker(): Promise<{ brokers: string; error: string; managed: boolean; owned: boolean }> {
  const external = process.env.KAFKA_BROKERS;
  if (external) return { brokers: external, error: '', managed: false, owned: false };
  const port = process.env.KAFKA_PORT ?? '19092';
  const began = Date.now();
  try {
    // Wipe the data only when no other run uses the broker (the script ignores it while the broker runs anyway).
    const fresh = otherUsers().length === 0 ? '1' : '';
    mkdirSync(LEASES, { recursive: true });
    writeFileSync(join(LEASES, String(process.pid)), '');
    const { stdout } = await run('bash', [SCRIPT, 'start'], { env: { ...process.env, KAFKA_FRESH: fresh }, timeout: 600_000, maxBuffer: 16 << 20 });
    const owned = stdout.startsWith('started');
    if (owned) writeFileSync(MARKER, String(process.pid));
    process.stderr.write(`kafka: ${stdout.trim()} (${((Date.now() - began) / 1000).toFixed(1)}s)\n`);
    return { brokers: `127.0.0.1:${port}`, error: '', managed: true, owned: owned || existsSync(MARKER) };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const error = `scripts/kafka.sh start failed: ${(e.stderr || e.message).trim()}`;
    process.stderr.write(`kafka: ${error}\n`);
    return { brokers: '', error, managed: false, owned: false };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (registry[KEY] ??= { users: 0, ready: startBroker() });
  shared.users++;
  const broker = await shared.ready;
  project.provide('kafkaBrokers', broker.brokers);
  project.provide('kafkaError', broker.error);
  project.provide('kafkaManaged', broker.managed);
  return async () => {
    if (--shared.users > 0) return;
    registry[KEY] = undefined;
    rmSync(join(LEASES, String(process.pid)), { force: true });
    if (!broker.owned || otherUsers().length > 0 || !existsSync(MARKER)) return;
    rmSync(MARKER, { force: true });
    await run('bash', [SCRIPT, 'stop'], { timeout: 60_000 }).catch((err: unknown) => process.stderr.write(`kafka: stop failed: ${(err as Error).message}\n`));
  };
}
