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

  it('cuts messages still in flight short when the grace period ends: 503 to the caller, exit 0', async () => {
    const hanging = createServer((req) => req.resume()).listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    const { port } = hanging.address() as { port: number };
    const hub = await startHub(['--config', 'test/fixtures/short-grace/hub.yaml'], { env: { SLOW_URL: `http://127.0.0.1:${port}/never` } });
    try {
      const inFlight = request(`${hub.url}/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      await sleep(300);
      const started = Date.now();
      const code = await hub.stop();
      const res = await inFlight;
      expect(res.statusCode).toBe(503);
      expect(await res.body.json()).toMatchObject({ code: 'FLOW_STOPPING' });
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await hub.stop();
      hanging.closeAllConnections();
      hanging.close();
    }
  });
});
