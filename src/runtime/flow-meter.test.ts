import { describe, expect, it } from 'vitest';
import { FlowMeter, METER_SAMPLES } from './flow-meter.js';

describe('FlowMeter', () => {
  it('gives the rate over the last 60 s (since start when younger) and forgets older seconds', () => {
    const t0 = 1_700_000_000_000;
    const meter = new FlowMeter(t0);
    for (let i = 0; i < 100; i++) meter.record(5, t0 + 1_000 + i * 10);
    expect(meter.snapshot(t0 + 10_000)).toMatchObject({ perSecond: 10, samples: 100, p99Ms: 5, windowSeconds: 60 });
    expect(meter.snapshot(t0 + 60_000).perSecond).toBeCloseTo(100 / 60, 2);
    expect(meter.snapshot(t0 + 62_000)).toEqual({ perSecond: 0, samples: 0, windowSeconds: 60 });
    // A slot reused a minute later starts from zero.
    meter.record(undefined, t0 + 61_500);
    expect(meter.snapshot(t0 + 62_000)).toEqual({ perSecond: 0.02, samples: 0, windowSeconds: 60 });
  });

  it('takes the p99 from the latest samples, bounded', () => {
    const t0 = 1_700_000_000_000;
    const meter = new FlowMeter(t0 - 60_000);
    for (let i = 1; i <= 1000; i++) meter.record(i, t0 + i);
    expect(meter.snapshot(t0 + 2_000)).toMatchObject({ p99Ms: 990, samples: 1000 });
    for (let i = 0; i < METER_SAMPLES; i++) meter.record(1, t0 + 1_500);
    expect(meter.snapshot(t0 + 2_000)).toMatchObject({ p99Ms: 1, samples: METER_SAMPLES });
  });
});
