import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A real HTTP server that records what it receives: the far end of a REST sink in tests. It can hold requests
 * unanswered (to catch the hub mid-delivery) or answer with a status of the test's choosing.
 */
export class Recorder {
  readonly received: Recorded[] = [];
  /** Status of the answers; a function decides per request. Only 2xx requests count as received. */
  status: number | ((r: Recorded) => number) = 200;
  /** The answer's body and content type (default: a small JSON document). */
  reply: (r: Recorded) => { contentType: string; body: string } = () => ({ contentType: 'application/json', body: '{"ok":true}' });
  #holding = false;
  readonly #held: (() => void)[] = [];
  readonly #waiters: { n: number; resolve: () => void }[] = [];
  #server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        const answer = (): void => {
          const status = typeof this.status === 'function' ? this.status(r) : this.status;
          if (status >= 200 && status < 300) this.#record(r);
          const { contentType, body } = status < 300 ? this.reply(r) : { contentType: 'application/json', body: '{"ok":false}' };
          res.writeHead(status, { 'content-type': contentType }).end(body);
        };
        if (this.#holding) this.#held.push(answer);
        else answer();
      });
    });
    this.#server.keepAliveTimeout = 1000;
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
    return this;
  }

  #record(r: Recorded): void {
    this.received.push(r);
    for (const w of [...this.#waiters]) {
      if (this.received.length >= w.n) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  /** Requests arriving from now on wait until `release()`. */
  hold(): void {
    this.#holding = true;
  }

  /** Number of requests waiting unanswered. */
  get held(): number {
    return this.#held.length;
  }

  release(): void {
    this.#holding = false;
    this.#held.splice(0).forEach((answer) => answer());
  }

  /** Resolves once `n` requests were answered 2xx, or rejects after `timeoutMs`. */
  async waitFor(n: number, timeoutMs = 20_000): Promise<Recorded[]> {
    if (this.received.length < n) {
      await new Promise<void>((resolve, reject) => {
        const w = { n, resolve };
        this.#waiters.push(w);
        setTimeout(() => {
          const i = this.#waiters.indexOf(w);
          if (i !== -1) {
            this.#waiters.splice(i, 1);
            reject(new Error(`recorder got ${this.received.length} of ${n} requests within ${timeoutMs} ms`));
          }
        }, timeoutMs).unref();
      });
    }
    return this.received;
  }

  async close(): Promise<void> {
    this.release();
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
