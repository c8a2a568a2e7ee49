import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHub, type HubProcess } from '../support/processes.js';
import type { Driver, Endpoint } from './driver.js';
import { restDriver } from './drivers/rest.js';

/** One flow `source → to: out` written to its own folder, for one hub process. */
export function writeFlow(source: [string, Record<string, unknown>], sink: [string, Record<string, unknown>], options: { concurrency?: number } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-conformance-'));
  const flow = {
    name: 'conformance',
    source: { [source[0]]: source[1] },
    steps: [{ to: 'out' }],
    sinks: { out: { [sink[0]]: sink[1] } },
    errors: { retry: { attempts: 5, backoff: 'exponential', initial: '100ms', max: '1s' } },
    timeout: '20s',
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
  };
  // JSON is YAML: the hub reads it like any flow file.
  writeFileSync(join(dir, 'conformance.yaml'), JSON.stringify(flow, null, 2));
  return dir;
}

export interface Rig {
  hub: HubProcess;
  /** Where messages go in (the adapter under test, or REST when testing a sink). */
  input: Endpoint;
  /** Where they come out (REST when testing a source, or the adapter under test). */
  output: Endpoint;
  /** Starts a new hub process on the same flow (after a crash), keeping input and output. */
  restart(): Promise<HubProcess>;
  close(): Promise<void>;
}

/**
 * A hub running one flow that puts the driver's adapter on the side under test, with REST (a plain HTTP route and
 * a recording HTTP server) on the other side. `ordered` runs the flow one message at a time, so that the order the
 * source hands messages over in is the order they come out.
 */
export async function rig(driver: Driver, side: 'source' | 'sink', options: { ordered?: boolean } = {}): Promise<Rig> {
  const input = side === 'source' ? await driver.open() : await restDriver.open();
  const output = side === 'sink' ? await driver.open() : await restDriver.open();
  const dir = writeFlow([side === 'source' ? driver.adapter : 'rest', input.sourceConfig], [side === 'sink' ? driver.adapter : 'rest', output.sinkConfig], options.ordered ? { concurrency: 1 } : {});
  const env = driver.env?.() ?? {};
  const r: Rig = {
    hub: await startHub(['--flows', dir], { env }),
    input,
    output,
    async restart() {
      // After a kill -9 a consumer group waits for the dead member's session to time out before it rebalances.
      r.hub = await startHub(['--flows', dir], { env, readyTimeoutMs: 90_000 });
      return r.hub;
    },
    async close() {
      await r.hub.stop();
      await input.close();
      await output.close();
    },
  };
  return r;
}

/** Sends `n` tokens, `parallel` at a time (1 keeps order), and returns them. */
export async function sendTokens(r: Rig, prefix: string, n: number, parallel: number, headers: Record<string, string> = {}): Promise<string[]> {
  const tokens = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < tokens.length) {
        const token = tokens[next++]!;
        const { status } = await r.input.send(token, headers, r.hub.url);
        if (status !== undefined && (status < 200 || status > 299)) throw new Error(`sending ${token} got HTTP ${status}`);
      }
    }),
  );
  return tokens;
}

/**
 * Waits until every expected token has come out (duplicates allowed: delivery is at least once), or the time is
 * up; returns the tokens seen.
 */
export async function waitForTokens(output: Endpoint, expected: string[], timeoutMs: number): Promise<Set<string>> {
  const prefixes = [...new Set(expected.map((t) => t.replace(/-\d{5}$/, '')))];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const received = await output.receive(0, 1);
    const got = new Set(prefixes.flatMap((p) => tokensIn(received, p)));
    if (expected.every((t) => got.has(t)) || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The tokens found in what the output received, in arrival order. */
export function tokensIn(received: { body: string }[], prefix: string): string[] {
  const re = new RegExp(`${prefix}-\\d{5}`, 'g');
  return received.flatMap((r) => r.body.match(re) ?? []);
}
