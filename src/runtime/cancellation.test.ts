import { describe, expect, it } from 'vitest';
import { hubError } from '../core/errors.js';
import { Cancellation } from './cancellation.js';

describe('Cancellation', () => {
  it('race gives the run\'s outcome when nothing cuts it', async () => {
    const c = new Cancellation();
    await expect(c.race(Promise.resolve('done'))).resolves.toBe('done');
    expect(c.aborted).toBe(false);
  });

  it('a cut settles the race at once with its reason, while the run is still going', async () => {
    const c = new Cancellation();
    const never = new Promise<string>(() => {});
    const raced = c.race(never);
    const reason = hubError('TIMEOUT', 'too slow');
    c.cut(reason);
    c.cut(hubError('FLOW_STOPPING', 'later'));
    await expect(raced).rejects.toBe(reason);
    expect(c.aborted).toBe(true);
  });

  it('makes its AbortSignal only when asked, aborted with the reason whether asked before or after the cut', () => {
    const before = new Cancellation();
    const signal = before.signal;
    expect(signal.aborted).toBe(false);
    const reason = hubError('TIMEOUT', 'too slow');
    before.cut(reason);
    expect([signal.aborted, signal.reason]).toEqual([true, reason]);

    const after = new Cancellation();
    after.cut(reason);
    expect([after.signal.aborted, after.signal.reason]).toEqual([true, reason]);
  });

  it('a race begun after the cut rejects at once, and a late failure of the run is not left unhandled', async () => {
    const c = new Cancellation();
    const reason = hubError('FLOW_STOPPING', 'stopping');
    c.cut(reason);
    await expect(c.race(Promise.reject(new Error('late')))).rejects.toBe(reason);
  });
});
