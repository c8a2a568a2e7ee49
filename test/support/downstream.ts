import { createServer, type Server } from 'node:http';

/**
 * The downstream service: records each request by path, answers 503 while `failing` (else 200, or `status` when
 * set), takes `delayMs` to answer, and counts the most requests it had at once (`maxInFlight`).
 */
export class Downstream {
  failing = true;
  status: number | undefined;
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly received: { path: string; body: string; headers: Record<string, string | string[] | undefined> }[] = [];
  readonly #server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    res.on('close', () => this.inFlight--);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (): void => {
        if (this.failing) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
          return;
        }
        this.received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
        res.writeHead(this.status ?? 200, { 'content-type': 'application/json' }).end(this.status ? '{"error":"refused"}' : '{"ok":true}');
      };
      if (this.delayMs > 0) setTimeout(answer, this.delayMs);
      else answer();
    });
  });

  /** Listens on `port` (any free one by default: a test that stops and starts it again passes the one it had). */
  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  bodies(path: string): unknown[] {
    return this.received.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as unknown);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
