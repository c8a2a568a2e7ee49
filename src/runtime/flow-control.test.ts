import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Message } from '../core/message.js';
import { FlowControl, type MessageNotice } from './flow-control.js';

const logger = pino({ level: 'silent' });
const turns = (): Promise<void> => new Promise((r) => setImmediate(r));
const msg = (replayOf?: string): Message => new Message({ id: replayOf ? 'replay-1' : 'm-1', value: {}, meta: { flow: 'control-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1, ...(replayOf ? { replayOf } : {}) } });

/** `hold()` with its state readable: settled or not. */
function held(control: FlowControl): { done: () => boolean; promise: Promise<void> } {
  let done = false;
  const promise = control.hold().then(() => void (done = true));
  return { done: () => done, promise };
}

describe('FlowControl', () => {
  it('pauses once, by whom and when; resumes once', () => {
    const control = new FlowControl('control-test', logger);
    expect([control.holding, control.paused]).toEqual([false, undefined]);
    expect(control.pause('alice')).toBe(true);
    expect(control.pause('bob')).toBe(false);
    expect(control.holding).toBe(true);
    expect(control.paused).toEqual({ at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), by: 'alice', held: 0 });
    expect(control.resume('bob')).toBe(true);
    expect(control.resume('bob')).toBe(false);
    expect([control.holding, control.paused]).toEqual([false, undefined]);
  });

  it('holds deliveries, counted, until resume; one paused again before it went on waits for the next resume', async () => {
    const control = new FlowControl('control-test', logger);
    control.pause('alice');
    const a = held(control);
    const b = held(control);
    await turns();
    expect([a.done(), b.done(), control.paused?.held]).toEqual([false, false, 2]);
    control.resume('alice');
    control.pause('alice');
    await turns();
    expect([a.done(), b.done(), control.paused?.held]).toEqual([false, false, 2]);
    control.resume('alice');
    await Promise.all([a.promise, b.promise]);
    control.pause('alice');
    expect(control.paused?.held).toBe(0);
  });

  it('stop lets every held delivery go on, holds nothing after it, and still says who paused', async () => {
    const control = new FlowControl('control-test', logger);
    control.pause('alice');
    const a = held(control);
    await turns();
    control.stop();
    await a.promise;
    expect(control.holding).toBe(false);
    await control.hold();
    expect(control.paused).toMatchObject({ by: 'alice', held: 0 });
  });

  it('tells each watcher of a status change, with the replayed original; a failing watcher neither throws nor stops the others', () => {
    const control = new FlowControl('control-test', logger);
    const seen: MessageNotice[] = [];
    control.watch(() => {
      throw new Error('broken watcher');
    });
    const unwatch = control.watch((n) => seen.push(n));
    control.notify(msg(), 'dead');
    control.notify(msg('m-0'), 'delivered');
    unwatch();
    control.notify(msg(), 'waiting-for-retry');
    expect(seen).toEqual([
      { id: 'm-1', flow: 'control-test', status: 'dead', at: expect.any(String) },
      { id: 'replay-1', flow: 'control-test', status: 'delivered', at: expect.any(String), replayOf: 'm-0' },
    ]);
  });
});
