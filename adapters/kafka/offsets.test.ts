import { describe, expect, it } from 'vitest';
import { PartitionOffsets } from './offsets.js';

describe('kafka adapter: which offset may be committed', () => {
  it('stops at the lowest offset in flight and moves on once it settles', () => {
    const p = new PartitionOffsets();
    expect(p.pending()).toBeUndefined();
    for (const o of [5n, 6n, 7n]) p.begin(o);
    p.settle(6n);
    p.settle(7n);
    expect(p.pending()).toBe(5n);
    p.committed(5n);
    expect(p.pending()).toBeUndefined();
    p.settle(5n);
    expect(p.pending()).toBe(8n);
  });

  it('goes back to a released offset (it is delivered again)', () => {
    const p = new PartitionOffsets();
    p.begin(0n);
    p.settle(0n);
    p.begin(1n);
    p.release(1n);
    expect(p.committable()).toBe(1n);
    expect(p.inFlight).toBe(0);
  });
});
