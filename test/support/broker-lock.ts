/**
 * The `faults` project runs two files at a time, so that a RabbitMQ fault test and a Kafka fault test go side by
 * side (each mostly waits for its broker). A file that stops or restarts a shared broker holds that broker's lock
 * for its whole run, so that two files never stop the same broker at once. The lock is a folder made atomically,
 * owned by the process that made it; a folder whose owner is gone (a run that was killed) is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';
import { processAlive, ROOT } from './processes.js';

export type SharedBroker = 'rabbitmq' | 'kafka';

async function acquire(broker: SharedBroker): Promise<() => void> {
  const dir = join(ROOT, '.cache', 'test-locks', broker);
  mkdirSync(join(dir, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      // made a moment ago, its pid not written yet
    }
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) rmSync(dir, { recursive: true, force: true });
    else await sleep(250);
  }
}

/** Holds `broker` from before the file's first hook to after its last (call it before registering other hooks). */
export function holdBroker(broker: SharedBroker): void {
  let release: (() => void) | undefined;
  // A file may wait for another's whole run (a few minutes at most).
  beforeAll(async () => {
    release = await acquire(broker);
  }, 15 * 60_000);
  afterAll(() => release?.());
}
