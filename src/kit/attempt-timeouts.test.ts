import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SendContext } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import { Cancellation } from '../runtime/cancellation.js';
import { AttemptTimedOut, AttemptTimeouts } from './attempt-timeouts.js';
import { transportError } from './http-client.js';

describe('AttemptTimeouts', () => {
  afterEach(() => vi.useRealTimers());

  it('aborts each attempt still running at its own deadline, on one timer, and never one that ended', () => {
    vi.useFakeTimers();
    const timeouts = new AttemptTimeouts(100);
    const first = timeouts.begin();
    const aborted: unknown[] = [];
    first.addEventListener('abort', () => aborted.push(first.reason));
    vi.advanceTimersByTime(40);
    const second = timeouts.begin();
    const quick = timeouts.begin();
    timeouts.end(quick);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(61);
    expect(first.aborted).toBe(true);
    expect(aborted).toEqual([expect.any(AttemptTimedOut)]);
    expect(second.aborted).toBe(false);
    vi.advanceTimersByTime(40);
    expect(second.aborted).toBe(true);
    expect(quick.aborted).toBe(false);
    expect(timeouts.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears its timer when the last attempt ends', () => {
    vi.useFakeTimers();
    const timeouts = new AttemptTimeouts(1000);
    const a = timeouts.begin();
    timeouts.end(a);
    expect(vi.getTimerCount()).toBe(0);
    expect(a.aborted).toBe(false);
  });

  /** A send context as a test makes one: a signal, no follow. */
  const signalOnly = (signal: AbortSignal): SendContext => ({ flow: 'f', logger: pino({ level: 'silent' }), signal, aborted: signal.aborted });
  /** The runtime's: follow through the message's Cancellation, no signal made. */
  const following = (cancel: Cancellation): SendContext => ({
    flow: 'f',
    logger: pino({ level: 'silent' }),
    get signal(): AbortSignal {
      throw new Error('follow should not make the signal');
    },
    aborted: false,
    follow: (t) => cancel.follow(t),
    unfollow: (t) => cancel.unfollow(t),
  });

  it("follows the flow's cut while the attempt runs, with the flow's reason, and lets go of it after", () => {
    const timeouts = new AttemptTimeouts(10_000);
    const flow = new AbortController();
    const a = timeouts.begin(signalOnly(flow.signal));
    flow.abort(new Error('the flow gave up'));
    expect(a.aborted).toBe(true);
    expect((a.reason as Error).message).toBe('the flow gave up');
    const later = new AbortController();
    const b = timeouts.begin(signalOnly(later.signal));
    timeouts.end(b);
    later.abort(new Error('too late'));
    expect(b.aborted).toBe(false);
    const already = new AbortController();
    already.abort(new Error('before'));
    expect(timeouts.begin(signalOnly(already.signal)).aborted).toBe(true);

    const cancel = new Cancellation();
    const c = timeouts.begin(following(cancel));
    const d = timeouts.begin(following(cancel));
    timeouts.end(d);
    const cut = hubError('TIMEOUT', 'the flow did not finish');
    cancel.cut(cut);
    expect(c.reason).toBe(cut);
    expect(d.aborted).toBe(false);
    expect(timeouts.begin(following(cancel)).reason).toBe(cut);
  });

  it('makes a timed-out attempt a retryable TIMEOUT that names the call and the timeout', () => {
    const err = transportError(new AttemptTimedOut(250), { url: 'http://u:p@erp/x?k=1', what: 'POST http://erp/x', timeoutMs: 250, flowSignal: new AbortController().signal });
    expect(err).toMatchObject({ code: 'TIMEOUT', retryable: true, message: 'POST http://erp/x did not answer within 250 ms', details: { url: 'http://erp/x', timeoutMs: 250 } });
  });
});
