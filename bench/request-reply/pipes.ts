/**
 * The processes of the request-reply scenarios: the REST backend and each pipe under test (hand-written, the hub,
 * Node-RED), each a child process of its own so that its CPU time and memory can be read from /proc alone. A pipe
 * is ready when its route answers; stop() ends it (SIGTERM, then SIGKILL) and removes what it wrote.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { PROJECT_ROOT } from '../../src/config/paths.js';
import { readProc, type ProcSnapshot } from '../../src/mesh/compare/proc-stats.js';
import { sleep } from '../common.js';
import type { Target } from './load.js';

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  read(): ProcSnapshot;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Removed when the process is stopped. */
  scratch?: string;
  /** A request that must be answered with `ready.status` before the process counts as started. */
  ready: Target;
  timeoutMs?: number;
}

/** Starts `node args(port)...` (PORT set too) on a free port, and waits until `ready` is answered as expected. */
export async function startProcess(name: string, args: (port: number) => string[], options: StartOptions): Promise<Proc> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, args(port), {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { ...process.env, ...options.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', (err) => {
    output += `\n${err.message}`;
    exited = true;
  });
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    if (options.scratch) rmSync(options.scratch, { recursive: true, force: true });
  };
  const url = options.ready.url.replace('{port}', String(port));
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${name} exited before it was ready:\n${output}`);
    }
    try {
      const res = await request(url, { method: options.ready.method, headers: options.ready.headers, body: options.ready.bodies[0] });
      const body = await res.body.text();
      if (res.statusCode === options.ready.status) break;
      if (Date.now() > deadline) throw new Error(`answered ${res.statusCode}: ${body.slice(0, 300)}`);
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${name} was not ready in time (${(err as Error).message}):\n${output}`);
      }
    }
    await sleep(200);
  }
  const pid = child.pid!;
  return {
    name,
    pid,
    port,
    read: () => readProc(pid) ?? { cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0 },
    stop,
  };
}

/** A folder of one flow file for the hub to run, with the hub's embedded journal beside it. */
export function flowFolder(name: string, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-rr-'));
  writeFileSync(join(dir, `${name}.yaml`), yaml);
  return dir;
}

/** Runs `hub run` on one flow, its journal (the embedded one, the default) in the flow's folder. */
export async function startHubProcess(name: string, yaml: string, ready: Target, env: Record<string, string>): Promise<Proc> {
  const dir = flowFolder(name, yaml);
  return startProcess(name, (port) => [join(PROJECT_ROOT, 'bin', 'hub.js'), 'run', '--flows', dir, '--port', String(port), '--host', '127.0.0.1'], {
    env: { ...env, HUB_JOURNAL_DIR: join(dir, '.journal') },
    scratch: dir,
    ready,
  });
}

