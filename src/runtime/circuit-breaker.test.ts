import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../builtins.js';
import { formatDiagnostics, loadFlows } from '../config/load-flows.js';
import { MessageSchemas } from '../config/schema-validator.js';
import { hubError, toHubError } from '../core/errors.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { FlowRunner } from './flow-runner.js';
import { createHttpServer } from '../kit/http-server.js';

const policy = { consecutiveErrors: 3, intervalMs: 10_000, ejectionMs: 1_000, maxEjectionPercent: 50 };
const down = (): Promise<never> => Promise.reject(hubError('DOWNSTREAM_UNAVAILABLE', 'HTTP 503'));
const ok = (): Promise<string> => Promise.resolve('ok');

describe('CircuitBreaker', () => {
  it('opens after the consecutive retryable failures, fails fast while open, and a probe after the ejection time closes it', async () => {
    let t = 0;
    const changes: CircuitState[] = [];
    const cb = new CircuitBreaker('erp', policy, { now: () => t, onChange: (s) => changes.push(s) });
    let calls = 0;
    const failing = (): Promise<never> => (calls++, down());
    for (let i = 0; i < 3; i++) await expect(cb.call(failing)).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    expect(cb.state).toBe('open');
    const open = await cb.call(failing).catch((e: unknown) => toHubError(e));
    expect(open).toMatchObject({ code: 'CIRCUIT_OPEN', retryable: true, details: { sink: 'erp', retryAfterMs: 1000 } });
    expect(calls).toBe(3);
    t = 999;
    await expect(cb.call(ok)).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    t = 1000;
    expect(cb.state).toBe('half-open');
    await expect(cb.call(ok)).resolves.toBe('ok');
    expect(cb.state).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'closed']);
  });

  it('a failed probe opens it again for a whole ejection time; one probe at a time', async () => {
    let t = 0;
    const cb = new CircuitBreaker('erp', policy, { now: () => t });
    for (let i = 0; i < 3; i++) await cb.call(down).catch(() => {});
    t = 1000;
    let release: () => void = () => {};
    const probe = cb.call(() => new Promise<never>((_, reject) => (release = () => reject(hubError('TIMEOUT', 'slow')))));
    await expect(cb.call(ok)).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    release();
    await expect(probe).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(cb.state).toBe('open');
    t = 1999;
    await expect(cb.call(ok)).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    t = 2000;
    await expect(cb.call(ok)).resolves.toBe('ok');
  });

  it('a success or a permanent failure (the downstream is alive) resets the count', async () => {
    const cb = new CircuitBreaker('erp', policy, { now: () => 0 });
    for (let round = 0; round < 3; round++) {
      await cb.call(down).catch(() => {});
      await cb.call(down).catch(() => {});
      if (round === 1) await cb.call(() => Promise.reject(hubError('DOWNSTREAM_REJECTED', 'HTTP 400'))).catch(() => {});
      else await cb.call(ok);
    }
    expect(cb.state).toBe('closed');
  });
});

describe('CircuitBreaker in a FlowRunner, against a real failing HTTP peer', () => {
  let peer: Server;
  let hits = 0;
  let healthy = false;
  const root = mkdtempSync(join(tmpdir(), 'hub-breaker-'));

  beforeAll(async () => {
    peer = createServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(healthy ? '{"ok":true}' : '{"down":true}');
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => peer.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
  });

  it('stops calling the peer once open (503 CIRCUIT_OPEN at once), and closes after the ejection time when the peer is back', async () => {
    const port = (peer.address() as AddressInfo).port;
    const file = join(root, 'breaker.yaml');
    writeFileSync(
      file,
      `name: breaker-flow
source:
  rest: { method: POST, path: /breaker }
steps:
  - to: peer
sinks:
  peer:
    rest: { url: "http://127.0.0.1:${port}/work", timeout: 2s }
errors:
  retry: { attempts: 2, backoff: fixed, initial: 10ms }
service:
  resilience:
    circuit_breaker: { consecutive_errors: 4, ejection_time: 400ms }
`,
    );
    const logger = pino({ level: 'silent' });
    const limits = { bodyBytes: 1 << 20, maxDepth: 64 };
    const loaded = loadFlows([file], { registry: builtinRegistry(), schemas: new MessageSchemas(root), logger, limits, mode: 'run' });
    expect(formatDiagnostics(loaded.diagnostics)).toBe('');
    const runner = new FlowRunner(loaded.flows[0]!, logger);
    const app = createHttpServer(limits, logger);
    await runner.start(app, limits);
    await app.ready();
    const post = async (): Promise<{ status: number; code: string }> => {
      const res = await app.inject({ method: 'POST', url: '/breaker', payload: { n: 1 } });
      return { status: res.statusCode, code: (res.json() as { code?: string }).code ?? '' };
    };
    try {
      // Two messages, two tries each: four consecutive 503s open the circuit.
      expect(await post()).toMatchObject({ status: 502, code: 'DOWNSTREAM_UNAVAILABLE' });
      expect(await post()).toMatchObject({ status: 502, code: 'DOWNSTREAM_UNAVAILABLE' });
      expect(hits).toBe(4);
      const started = Date.now();
      for (let i = 0; i < 5; i++) expect(await post()).toMatchObject({ status: 503, code: 'CIRCUIT_OPEN' });
      expect(Date.now() - started).toBeLessThan(300);
      expect(hits).toBe(4);
      healthy = true;
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect(await post()).toMatchObject({ status: 200 });
      expect(hits).toBe(5);
      expect(await post()).toMatchObject({ status: 200 });
      expect(hits).toBe(6);
    } finally {
      await runner.stop(100);
      await app.close();
    }
  });
});
