/**
 * The throttle step on its own: a rate of 0 or below refused at load, messages held back (not dropped) to the rate,
 * RATE_LIMITED with Retry-After seconds once max_queue wait, a rate per key, and two instances sharing one rate
 * through a real Redis (two replicas of a flow). End to end (HTTP 429, a Kafka partition held) in test/patterns.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Step, StepRuntime } from '../../core/contracts.js';
import { HubError } from '../../core/errors.js';
import { buildContext, jsonMessage as testMessage, runContext } from '../testing.js';
import throttle, { type ThrottleConfig } from './index.js';

const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

function runtime(flow: string, redisUrl?: string): StepRuntime {
  return { flow, step: '0:throttle', logger: pino({ level: 'silent' }), groups: undefined as never, mark: async () => {}, marked: async () => false, emit: async () => {}, redisUrl };
}

describe('throttle step', () => {
  const started: Step[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) await s.lifecycle?.stop();
  });

  async function make(config: ThrottleConfig, flow = `t-${randomBytes(3).toString('hex')}`, redisUrl?: string): Promise<Step> {
    const ctx = buildContext();
    const step = throttle.create(config, ctx);
    expect(ctx.issues).toEqual([]);
    await step.lifecycle!.start(runtime(flow, redisUrl));
    started.push(step);
    return step;
  }

  it('refuses a rate of 0 or below at load', () => {
    for (const rate of [0, -1]) {
      const ctx = buildContext();
      throttle.create({ rate }, ctx);
      expect(ctx.issues).toEqual([expect.objectContaining({ path: ['rate'], message: expect.stringContaining('must be a number above 0') })]);
    }
  });

  it('holds messages back to the rate rather than dropping them, per key, and refuses past max_queue', async () => {
    const step = await make({ rate: 3, per: '1s', key: 'c', max_queue: 4 });
    const began = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 9 }, (_, i) => Promise.resolve(step(testMessage({ c: 'A', i }), runContext()))));
    const passed = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as HubError);
    expect(passed).toHaveLength(7);
    expect(refused.map((e) => [e.code, e.retryable])).toEqual([['RATE_LIMITED', true], ['RATE_LIMITED', true]]);
    expect((refused[0]!.details as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // Three now, three in the next window, one in the one after.
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_900);
    const other = Date.now();
    await step(testMessage({ c: 'B' }), runContext());
    expect(Date.now() - other).toBeLessThan(200);
  });

  it('shares one rate between replicas through Redis', async () => {
    const flow = `t-shared-${randomBytes(3).toString('hex')}`;
    const [a, b] = [await make({ rate: 4, per: '1s' }, flow, REDIS_URL), await make({ rate: 4, per: '1s' }, flow, REDIS_URL)];
    const began = Date.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 12 }, (_, i) => Promise.resolve((i % 2 ? a : b)(testMessage({ i }), runContext())).then(() => times.push(Date.now() - began))));
    // Twelve at four a second, counted across both: at least two windows later.
    expect(Math.max(...times)).toBeGreaterThanOrEqual(1_900);
    const perWindow = new Map<number, number>();
    for (const t of times) perWindow.set(Math.floor(t / 1000), (perWindow.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(8);
  });
});
