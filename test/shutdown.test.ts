import { createServer } from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startHub } from './support/processes.js';

describe('hub run: SIGTERM', () => {
  it('stops taking work, finishes what is in flight, then exits 0', async () => {
    let received = 0;
    const slow = createServer((req, res) => {
      received++;
      req.resume();
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}'), 1500);
    }).listen(0, '127.0.0.1');
    await once(slow, 'listening');
    const { port } = slow.address() as { port: number };
    const hub = await startHub(['--flows', 'test/fixtures/slow'], { env: { SLOW_URL: `http://127.0.0.1:${port}/work` } });
    try {
      const inFlight = request(`${hub.url}/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
      while (received === 0) await sleep(20);
      const exited = hub.stop();
      await sleep(200);
      const late = await request(`${hub.url}/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":2}' }).then(
        (r) => r.statusCode,
        (e: Error & { code?: string }) => e.code ?? e.message,
      );
      expect([503, 'ECONNREFUSED', 'UND_ERR_SOCKET']).toContain(late);
      const res = await inFlight;
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ done: true });
      expect(await exited).toBe(0);
      expect(received).toBe(1);
      expect(hub.logs()).toMatch(/SIGTERM: no longer taking messages/);
    } finally {
      await hub.stop();
      slow.close();
    }
  });
});
