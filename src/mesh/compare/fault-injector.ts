/**
 * A fault injector: a small HTTP proxy in front of one flow's downstream, on loopback. Healthy, it passes requests
 * through; told to, it adds latency before passing them on (a slow downstream) or answers 503 itself (a failing
 * one). One per flow, so compare can fault the downstream of ONE flow while the flows beside it, calling the very
 * same simulators, keep theirs healthy.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

export interface Fault {
  /** Added before the request is passed on (or refused). */
  latencyMs: number;
  /** Answer 503 instead of passing the request on. */
  fail: boolean;
}

export const HEALTHY: Fault = { latencyMs: 0, fail: false };

/** Where requests go by path: the first route whose prefix the path starts with. */
export interface Route {
  prefix: string;
  origin: string;
}

/** Headers that describe one connection, not the message: never passed through a proxy (RFC 9110, 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'content-length']);

export class FaultInjector {
  fault: Fault = HEALTHY;
  /** Requests refused or delayed so far, for the report's sanity checks. */
  readonly counts = { passed: 0, failed: 0, delayed: 0 };
  readonly #server: Server;
  readonly #pools: { prefix: string; pool: Pool }[];

  constructor(routes: Route[]) {
    this.#pools = routes.map((r) => ({ prefix: r.prefix, pool: new Pool(r.origin, { connections: 256 }) }));
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolveListen, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolveListen());
    });
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const { latencyMs, fail } = this.fault;
      if (latencyMs > 0) {
        this.counts.delayed++;
        await sleep(latencyMs);
      }
      if (fail) {
        this.counts.failed++;
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('hub compare: injected failure');
        return;
      }
      const path = req.url ?? '/';
      const target = this.#pools.find((p) => path.startsWith(p.prefix)) ?? this.#pools[this.#pools.length - 1];
      if (!target) {
        res.writeHead(502).end('no route');
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const up = await target.pool.request({ method: (req.method ?? 'GET') as 'GET', path, headers, body: chunks.length ? Buffer.concat(chunks) : null });
      const body = Buffer.from(await up.body.arrayBuffer());
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      this.counts.passed++;
      res.writeHead(up.statusCode, out).end(body);
    } catch (err) {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`hub compare: the simulator did not answer: ${(err as Error).message}`);
      else res.destroy();
    }
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
    await Promise.all(this.#pools.map((p) => p.pool.close()));
  }
}
