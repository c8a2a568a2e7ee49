import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/**
 * A redis-server of a test's own on a loopback port (never the shared one: a test may stop this one), keeping its
 * data in `dir` (AOF, fsync on every write) so that a stop and start keeps it. `args`: more redis-server options.
 */
export class OwnRedis {
  #child: ChildProcess | undefined;
  #out = '';

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly args: string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--dir', this.dir, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout!.on('data', (d: Buffer) => (this.#out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.#out += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!(await this.#ping())) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${this.#out}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer within 15 s:\n${this.#out}`);
      await sleep(100);
    }
  }

  async #ping(): Promise<boolean> {
    const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  }

  /** SIGTERM to this server's own pid; it writes nothing more (the AOF already has every write) and exits. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}
