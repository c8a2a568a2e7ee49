import { describe, expect, it } from 'vitest';
import { LatencySamples } from './samples.js';
import { textTable } from './table.js';

describe('LatencySamples', () => {
  it('gives nearest-rank percentiles of what it recorded', () => {
    const s = new LatencySamples();
    for (let i = 100; i >= 1; i--) s.add(i);
    expect(s.summary()).toEqual({ p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
    expect(new LatencySamples().summary()).toBeUndefined();
  });

  it('past its limit keeps a uniform reservoir: the percentiles stay close, the count and max exact', () => {
    const s = new LatencySamples(1000);
    for (let i = 0; i < 100_000; i++) s.add(i % 1000);
    const sum = s.summary()!;
    expect(s.count).toBe(100_000);
    expect(sum.max).toBe(999);
    expect(Math.abs(sum.p50 - 500)).toBeLessThan(60);
    expect(sum.p99).toBeGreaterThan(950);
  });
});

describe('textTable', () => {
  it('pads columns, right-aligns numeric ones', () => {
    expect(textTable(['flow', 'req/s'], [['a', '1.5'], ['long-name', '12.0']])).toBe(['flow       req/s', '---------  -----', 'a            1.5', 'long-name   12.0'].join('\n'));
  });
});
