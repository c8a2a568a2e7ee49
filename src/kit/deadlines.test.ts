import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from './deadlines.js';

describe('Deadlines', () => {
  afterEach(() => vi.useRealTimers());

  it('goes on to the next deadline when a handler throws, and keeps one timer when a handler adds an item', () => {
    vi.useFakeTimers();
    const seen: string[] = [];
    const deadlines: Deadlines<{ deadline: number; name: string }> = new Deadlines(100, (item) => {
      seen.push(item.name);
      if (item.name === 'a') throw new Error('a handler failed');
      if (item.name === 'b') deadlines.add({ deadline: 0, name: 'c' });
    });
    deadlines.add({ deadline: 0, name: 'a' });
    vi.advanceTimersByTime(10);
    deadlines.add({ deadline: 0, name: 'b' });
    expect(() => vi.advanceTimersByTime(91)).toThrow('a handler failed');
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(seen).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(deadlines.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
