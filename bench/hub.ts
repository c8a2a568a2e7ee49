/**
 * Runs one flow in a Hub inside this process: the flow YAML goes to a fresh temp folder, Hub.build loads and starts
 * it (built-in adapters and steps), listen() opens port 0, and `stop()` shuts it down and removes the folder.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { builtinRegistry } from '../src/builtins.js';
import type { HubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { Hub } from '../src/runtime/hub.js';
import { SETTINGS, until } from './common.js';

export interface RunningHub {
  hub: Hub;
  stop(): Promise<void>;
}

/** Starts a hub with this one flow and waits until its source and sinks are ready (connected, consuming). */
export async function startHub(name: string, yaml: string): Promise<RunningHub> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-'));
  writeFileSync(join(dir, `${name}.yaml`), yaml);
  const config: HubConfig = {
    file: undefined,
    host: '127.0.0.1',
    port: 0,
    flowsDir: dir,
    schemasDir: resolve(PROJECT_ROOT, 'schemas'),
    adapters: [],
    limits: { bodyBytes: 1024 * 1024, maxDepth: 64 },
    logLevel: process.env.BENCH_HUB_LOG_LEVEL ?? 'warn',
    shutdownGraceMs: 10_000,
    journal: { redisUrl: undefined, prefix: 'hub:journal', dir: join(dir, '.journal'), retryPollMs: 1000, leaseMs: 30_000 },
  };
  const logger = pino({ level: config.logLevel, base: { bench: name } }, pino.destination(2));
  const env = { ...process.env, BENCH_AMQP_URL: SETTINGS.amqpUrl, BENCH_KAFKA_BROKERS: SETTINGS.kafkaBrokers.join(',') };
  let hub: Hub;
  try {
    hub = await Hub.build({ config, registry: builtinRegistry(), logger, env });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stop = async (): Promise<void> => {
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
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
