/**
 * Runs one flow in a Hub inside this process: the flow YAML goes to a fresh temp folder, Hub.build loads and starts
 * it (built-in adapters and steps), listen() opens port 0, and `stop()` shuts it down and removes the folder. The
 * journal is the embedded one in that folder, or Redis under a fresh key prefix whose keys `stop()` deletes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { Hub } from '../src/hub.js';
import { deleteRedisJournal } from '../src/journal/redis.js';
import { SETTINGS, uniqueName, until } from './common.js';

export interface RunningHub {
  hub: Hub;
  stop(): Promise<void>;
}

export interface StartHubOptions {
  /** The journal on this Redis (a fresh prefix) rather than the embedded one. */
  redisUrl?: string;
}

/** Starts a hub with this one flow and waits until its source and sinks are ready (connected, consuming). */
export async function startHub(name: string, yaml: string, options: StartHubOptions = {}): Promise<RunningHub> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-'));
  const prefix = uniqueName('journal');
  writeFileSync(join(dir, `${name}.yaml`), yaml);
  const config = defaultHubConfig({
    port: 0,
    flowsDir: dir,
    schemasDir: resolve(PROJECT_ROOT, 'schemas'),
    logLevel: process.env.BENCH_HUB_LOG_LEVEL ?? 'warn',
    journal: { redisUrl: options.redisUrl, prefix, dir: join(dir, '.journal') },
    // A token, so the admin API (unused here) does not warn that it answers loopback clients only.
    admin: { token: randomBytes(16).toString('hex') },
  });
  const logger = pino({ level: config.logLevel, base: { bench: name } }, pino.destination(2));
  const env = { ...process.env, BENCH_AMQP_URL: SETTINGS.amqpUrl, BENCH_KAFKA_BROKERS: SETTINGS.kafkaBrokers.join(',') };
  const cleanUp = async (): Promise<void> => {
    rmSync(dir, { recursive: true, force: true });
    if (options.redisUrl) await deleteRedisJournal(options.redisUrl, prefix);
  };
  let hub: Hub;
  try {
    hub = await Hub.build({ config, registry: builtinRegistry(), logger, env });
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const stop = async (): Promise<void> => {
    try {
      await hub.stop();
    } finally {
      await cleanUp();
    }
  };
  try {
    await hub.listen();
    await until(() => hub.runners.every((r) => r.ready()), 30_000, `flow ${name} ready`);
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return { hub, stop };
}

