/**
 * Conformance under faults, one adapter's cases: the hub killed with -9 while a sink has not confirmed, the broker
 * restarted mid-stream, the broker away for 30 seconds. They run in the `faults` project (vitest.config.ts), after
 * every other test; each file holds the lock of the broker it stops (test/support/broker-lock.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Driver } from './driver.js';
import { rig, sendTokens, tokensIn, waitForTokens } from './harness.js';

async function readyStatus(url: string): Promise<number> {
  try {
    return (await fetch(`${url}/readyz`)).status;
  } catch {
    return 0;
  }
}

async function waitReady(url: string, want: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await readyStatus(url)) !== want) {
    if (Date.now() > deadline) throw new Error(`readyz did not become ${want} within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** Declares the fault cases of one driver's adapter. */
export function faultCases(driver: Driver): void {
  describe.skipIf(!driver.features.source)(`${driver.adapter} source under faults`, () => {
    it(
      driver.features.persistent
        ? 'settles only after the sink confirmed: killed with -9 before that, the message is delivered again after restart'
        : 'settles only after the sink confirmed: killed with -9 before that, the caller sees a failure, never a success',
      async () => {
        const r = await rig(driver, 'source');
        try {
          const held = r.output.hold!();
          const sending = r.input.send('crash-00000', {}, r.hub.url).then(
            (res) => res.status,
            () => 'failed' as const,
          );
          const deadline = Date.now() + 15_000;
          while (held.held() === 0 && Date.now() < deadline) await sleep(20);
          expect(held.held()).toBe(1);
          r.hub.child.kill('SIGKILL');
          await r.hub.stop();
          const outcome = await sending;
          if (driver.features.requestReply) expect(outcome === 'failed' || (typeof outcome === 'number' && outcome >= 500)).toBe(true);
          held.release();
          await r.restart();
          if (driver.features.persistent) {
            // Redelivered by the broker: the downstream sees it a second time (at least once, never lost).
            const got = tokensIn(await r.output.receive(2, 30_000), 'crash');
            expect(got.filter((t) => t === 'crash-00000').length).toBeGreaterThanOrEqual(2);
          } else {
            // The caller owns the retry, and it goes through once the hub is back.
            await sendTokens(r, 'crash', 1, 1);
            expect(tokensIn(await r.output.receive(1), 'crash')).toContain('crash-00000');
          }
        } finally {
          await r.close();
        }
      },
      150_000,
    );

    it.skipIf(!driver.features.broker)(
      'loses nothing when the broker is restarted mid-stream',
      async () => {
        const r = await rig(driver, 'source');
        try {
          const before = await sendTokens(r, 'before', 100, 1);
          await driver.features.broker!.restart();
          const after = await sendTokens(r, 'after', 100, 1);
          const got = await waitForTokens(r.output, [...before, ...after], 90_000);
          for (const t of [...before, ...after]) expect(got.has(t), t).toBe(true);
        } finally {
          await r.close();
        }
      },
      180_000,
    );

    it.skipIf(!driver.features.broker)(
      'resumes by itself when the broker comes back after 30 seconds away',
      async () => {
        const r = await rig(driver, 'source');
        const broker = driver.features.broker!;
        try {
          await broker.stop();
          try {
            await waitReady(r.hub.url, 503, 30_000);
            await sleep(30_000);
          } finally {
            await broker.start();
          }
          await waitReady(r.hub.url, 200, 90_000);
          const sent = await sendTokens(r, 'back', 20, 1);
          expect(await waitForTokens(r.output, sent, 60_000)).toEqual(new Set(sent));
        } finally {
          await r.close();
        }
      },
      240_000,
    );
  });
}
