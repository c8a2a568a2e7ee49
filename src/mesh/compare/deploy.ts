/**
 * The two ways to run the same flows, as real processes of the built CLI: hub style, every flow in one `hub run`;
 * mesh style, one `hub run --flow NAME` per flow, each on its own port. Each process gets a free loopback port, an
 * embedded journal in a folder of its own, and the downstream URLs of the peers; it counts as started when its
 * /readyz answers 200.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../../config/paths.js';
import { downstreamVariable } from './plan.js';
import type { Managed, ProcessSet } from './processes.js';

export type Style = 'hub' | 'mesh';
export const STYLES: Style[] = ['hub', 'mesh'];

const HUB_BIN = resolve(PROJECT_ROOT, 'bin', 'hub.js');
const READY_TIMEOUT_MS = 60_000;

export interface Deployed {
  name: string;
  process: Managed;
  origin: string;
  /** The flows it runs. */
  flows: string[];
}

export interface Deployment {
  style: Style;
  processes: Deployed[];
  originOf(flow: string): string;
}

export interface DeployOptions {
  set: ProcessSet;
  flowsDir: string;
  schemasDir: string;
  /** The flows compared. */
  flows: string[];
  /** Each flow's downstream base URL. */
  downstreams: Record<string, string>;
  /** Where each process gets its journal folder (and runs, so no hub.yaml of the caller's folder applies). */
  workDir: string;
  signal?: AbortSignal;
}

/** A port nobody listens on right now (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** What a hub process of the comparison is given: its journal, the downstreams, and nothing of the caller's setup that would change it. */
function hubEnv(options: DeployOptions, journalDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HUB_JOURNAL_DIR: journalDir, HUB_SCHEMAS: options.schemasDir, HUB_LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  for (const key of ['HUB_CONFIG', 'HUB_PORT', 'HUB_HOST', 'HUB_FLOWS', 'REDIS_URL', 'HUB_JOURNAL_PREFIX', 'HUB_STATE_DIR']) delete env[key];
  for (const [flow, url] of Object.entries(options.downstreams)) env[downstreamVariable(flow)] = url;
  return env;
}

async function startOne(options: DeployOptions, name: string, flows: string[], flowArg: string | undefined): Promise<Deployed> {
  const port = await freePort();
  const journal = join(options.workDir, `journal-${name}`);
  mkdirSync(journal, { recursive: true });
  const args = ['run', '--flows', options.flowsDir, '--port', String(port), '--host', '127.0.0.1', ...(flowArg ? ['--flow', flowArg] : [])];
  const managed = options.set.start(name, HUB_BIN, args, { cwd: options.workDir, env: hubEnv(options, journal) });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (managed.exited()) throw new Error(`${name} (hub run ${args.join(' ')}) exited before it was ready:\n${managed.output().trim()}`);
    try {
      const res = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return { name, process: managed, origin, flows };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${managed.output().trim()}`);
}

export async function deploy(style: Style, options: DeployOptions): Promise<Deployment> {
  const processes =
    style === 'hub'
      ? [await startOne(options, 'hub', options.flows, undefined)]
      : await Promise.all(options.flows.map((flow) => startOne(options, flow, [flow], flow)));
  const byFlow = new Map(processes.flatMap((p) => p.flows.map((f) => [f, p.origin] as const)));
  return {
    style,
    processes,
    originOf: (flow) => {
      const origin = byFlow.get(flow);
      if (!origin) throw new Error(`no process of the ${style} style runs ${flow}`);
      return origin;
    },
  };
}
