/**
 * Every process a comparison starts, and their end. Each runs in its own process group (detached) so that it and
 * anything it starts are ended together, by PID, never by name; each has an IPC channel and the orphan guard, so it
 * ends itself should compare vanish without cleaning up. `stopAll()` sends SIGTERM to each group, waits, then
 * SIGKILL; `killAllNow()` is the synchronous last resort of an exiting compare.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const GUARD = fileURLToPath(new URL('./orphan-guard.js', import.meta.url));
/** What a process keeps of its output, for the error message when it fails to start. */
const OUTPUT_LIMIT = 16 * 1024;

export interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  /** The end of what it wrote to stdout and stderr. */
  output(): string;
  exited(): boolean;
}

export class ProcessSet {
  readonly #all: Managed[] = [];

  get pids(): number[] {
    return this.#all.map((m) => m.pid);
  }

  /** Starts `node [--import guard] script args...` in a group of its own. */
  start(name: string, script: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): Managed {
    const child = spawn(process.execPath, ['--import', GUARD, script, ...args], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('error', () => {});
    const managed: Managed = { name, pid: child.pid, child, output: () => output, exited: () => child.exitCode !== null || child.signalCode !== null };
    this.#all.push(managed);
    return managed;
  }

  /** SIGTERM to every group still running, SIGKILL to those still there after `graceMs`; resolves when all are gone. */
  stopAll(graceMs = 5000): Promise<void> {
    return this.stop(this.#all, graceMs);
  }

  /** stopAll() for some of them. */
  async stop(list: readonly Managed[], graceMs = 5000): Promise<void> {
    const running = list.filter((m) => !m.exited());
    for (const m of running) signalGroup(m.pid, 'SIGTERM');
    const gone = Promise.all(running.map((m) => (m.exited() ? undefined : once(m.child, 'exit'))));
    const late = await Promise.race([gone.then(() => false), sleep(graceMs).then(() => true)]);
    if (late) {
      for (const m of running) if (!m.exited()) signalGroup(m.pid, 'SIGKILL');
      await Promise.race([gone, sleep(2000)]);
    }
  }

  /**
   * For process 'exit': SIGKILL, synchronously, to every group whose leader has not been seen to exit (a group id
   * whose leader is gone could by now be someone else's).
   */
  killAllNow(): void {
    for (const m of this.#all) if (!m.exited()) signalGroup(m.pid, 'SIGKILL');
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}
