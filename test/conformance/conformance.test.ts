/**
 * The adapter conformance suite: the same cases for every adapter's source and sink, in a real hub process over
 * the real transport. Each adapter's driver declares what it offers; a case that does not apply is skipped, by name.
 * Crash and broker-fault cases are in fault-cases.ts.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { TRACE_HEADERS } from './driver.js';
import { drivers } from './drivers/index.js';
import { rig, sendTokens, tokensIn } from './harness.js';

const TRACE_NAMES = ['traceparent', 'tracestate', 'b3', 'x-request-id'] as const;

for (const driver of drivers) {
  for (const side of ['source', 'sink'] as const) {
    describe.skipIf(!driver.features[side])(`${driver.adapter} ${side}`, () => {
      it('opens, is ready, and closes cleanly', async () => {
        const r = await rig(driver, side);
        try {
          const ready = await request(`${r.hub.url}/readyz`);
          expect(ready.statusCode).toBe(200);
          expect(await ready.body.json()).toMatchObject({ status: 'ready', flows: { conformance: 'ready' } });
        } finally {
          await r.input.close();
          await r.output.close();
          expect(await r.hub.stop()).toBe(0);
        }
      });

      it('carries the correlation id and the trace headers across', async () => {
        const r = await rig(driver, side);
        try {
          const [token] = await sendTokens(r, 'hdr', 1, 1, TRACE_HEADERS);
          const [got] = await r.output.receive(1);
          expect(got!.body).toContain(token);
          for (const name of TRACE_NAMES) expect(got!.headers[name], name).toBe(TRACE_HEADERS[name]);
          expect(got!.headers['correlation-id'] ?? got!.headers['x-correlation-id']).toBe(TRACE_HEADERS['correlation-id']);
          expect(got!.headers['x-message-id']).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
        } finally {
          await r.close();
        }
      });

      it(`delivers a batch of messages, all of them${driver.features.ordered && side === 'source' ? ', in order' : ''}`, async () => {
        const ordered = driver.features.ordered && side === 'source';
        const r = await rig(driver, side, { ordered });
        try {
          const n = driver.features.requestReply ? 200 : 500;
          const sent = await sendTokens(r, 'batch', n, ordered ? 1 : 16);
          const got = tokensIn(await r.output.receive(n, 60_000), 'batch');
          if (ordered) expect(got).toEqual(sent);
          else expect([...new Set(got)].sort()).toEqual(sent);
        } finally {
          await r.close();
        }
      });
    });
  }
}
