import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../src/mesh/compare/deploy.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = join(import.meta.dirname, '..', '..');
export const HUB_BIN = join(ROOT, 'bin', 'hub.js');

export { freePort };

/** Whether a process with this pid exists (another user's counts: signalling it is refused with EPERM, not ESRCH). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs the built CLI to completion: `hub validate ...`, `hub adapters` ... It gets a journal and a state folder of
 * its own unless `env` names them; to reach a hub of startHub as its user would, pass that hub's cliEnv().
 */
export async function runHub(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const ownJournal = options.env?.HUB_JOURNAL_DIR === undefined && options.env?.REDIS_URL === undefined ? mkdtempSync(join(tmpdir(), 'hub-journal-')) : undefined;
  const ownState = options.env?.HUB_STATE_DIR === undefined ? mkdtempSync(join(tmpdir(), 'hub-state-')) : undefined;
  const child = spawn(process.execPath, [HUB_BIN, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, HUB_ADMIN_TOKEN: '', ...(ownJournal ? { HUB_JOURNAL_DIR: ownJournal } : {}), ...(ownState ? { HUB_STATE_DIR: ownState } : {}), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.once('exit', () => {
    for (const dir of [ownJournal, ownState]) if (dir) rmSync(dir, { recursive: true, force: true });
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export interface HubProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Its state folder (HUB_STATE_DIR): a temporary one of its own unless `env` named one. */
  stateDir: string;
  /** The admin token it runs with: HUB_ADMIN_TOKEN when given, else the one it made in its state folder. */
  adminToken(): string;
  /** `authorization: Bearer <token>`, for a request to its admin API. */
  adminHeaders(): Record<string, string>;
  /** The environment under which `hub` commands (runHub) reach its admin API as the CLI of its user would: HUB_URL and HUB_STATE_DIR. */
  cliEnv(): NodeJS.ProcessEnv;
  /** Everything the hub logged so far (JSON lines). */
  logs(): string;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `hub run` as a real process on a free port and waits until /readyz answers 200. Unless `env` names a
 * journal (HUB_JOURNAL_DIR or REDIS_URL), the hub gets an embedded journal of its own in a temporary folder, and
 * unless it names HUB_STATE_DIR a state folder of its own (where it keeps the admin token it makes), both removed
 * when it stops, so that hubs started side by side do not meet.
 */
export async function startHub(args: string[] = [], options: { cwd?: string; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; waitReady?: boolean } = {}): Promise<HubProcess> {
  const port = await freePort();
  const ownJournal = options.env?.HUB_JOURNAL_DIR === undefined && options.env?.REDIS_URL === undefined ? mkdtempSync(join(tmpdir(), 'hub-journal-')) : undefined;
  const ownState = options.env?.HUB_STATE_DIR === undefined ? mkdtempSync(join(tmpdir(), 'hub-state-')) : undefined;
  const stateDir = ownState ?? resolve(options.cwd ?? ROOT, options.env!.HUB_STATE_DIR!);
  const child = spawn(process.execPath, [HUB_BIN, 'run', '--port', String(port), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, HUB_LOG_LEVEL: 'info', HUB_ADMIN_TOKEN: '', ...(ownJournal ? { HUB_JOURNAL_DIR: ownJournal } : {}), ...(ownState ? { HUB_STATE_DIR: ownState } : {}), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.once('exit', () => {
    for (const dir of [ownJournal, ownState]) if (dir) rmSync(dir, { recursive: true, force: true });
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = once(child, 'exit');
  const hub: HubProcess = {
    url,
    port,
    child,
    stateDir,
    adminToken: () => options.env?.HUB_ADMIN_TOKEN || readFileSync(join(stateDir, 'admin-token'), 'utf8').trim(),
    adminHeaders: () => ({ authorization: `Bearer ${hub.adminToken()}` }),
    cliEnv: () => ({ HUB_URL: url, HUB_STATE_DIR: stateDir }),
    logs: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
  if (options.waitReady === false) return hub;
  try {
    await untilReady(hub, options.readyTimeoutMs ?? 20_000);
  } catch (err) {
    await hub.stop();
    throw err;
  }
  return hub;
}

/** Waits until the hub's /readyz answers 200 (polled every 50 ms); rejects with its log if it exits or the time runs out. */
export async function untilReady(hub: HubProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hub.child.exitCode !== null) throw new Error(`hub exited with ${hub.child.exitCode} before it was ready:\n${hub.logs()}`);
    try {
      const res = await fetch(`${hub.url}/readyz`);
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`hub not ready within ${timeoutMs} ms:\n${hub.logs()}`);
}

/** kill -9, then waits for the exit. */
export async function kill9(hub: HubProcess): Promise<void> {
  hub.child.kill('SIGKILL');
  await hub.stop();
}
