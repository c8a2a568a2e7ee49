import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { OrderedWindow } from './window.js';

const record = (offset: number): KafkaMessage => ({ offset: String(offset) }) as KafkaMessage;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Whether `p` has resolved by the next turn of the event loop. */
async function resolved(p: Promise<void> | undefined): Promise<boolean> {
  if (!p) return true;
  let done = false;
  void p.then(() => (done = true));
  await turn();
  return done;
}

describe('OrderedWindow', () => {
  it('waits for the newest record to be issued or settled; a late settle of an issued record does not end the next wait', async () => {
    const w = new OrderedWindow();
    const a = w.add(record(0));
    const waitA = w.untilIssued(a);
    expect(await resolved(waitA)).toBe(false);
    w.issued();
    expect(await resolved(waitA)).toBe(true);
    const b = w.add(record(1));
    const waitB = w.untilIssued(b);
    w.settle(a, 'done');
    expect(await resolved(waitB)).toBe(false);
    w.settle(b, 'done');
    expect(await resolved(waitB)).toBe(true);
    // Issued before the wait was asked for: no wait at all.
    const c = w.add(record(2));
    w.issued();
    expect(w.untilIssued(c)).toBeUndefined();
  });

  it('waits for every record to settle; a record that did not settle as done breaks the window and is the first one to fetch again', async () => {
    const w = new OrderedWindow();
    const places = [0, 1, 2].map((o) => w.add(record(o)));
    const all = w.untilSettled();
    w.settle(places[2]!, 'done');
    w.settle(places[1]!, 'retry');
    expect([w.broken, await resolved(all)]).toEqual([true, false]);
    w.settle(places[0]!, 'done');
    expect(await resolved(all)).toBe(true);
    expect(w.firstUnsettled()).toBe(1);
    expect(w.untilSettled()).toBeUndefined();
  });

  it('stop ends the current wait and makes later ones end at once, except the grace wait for the rest to settle', async () => {
    const w = new OrderedWindow();
    const a = w.add(record(0));
    const waitA = w.untilIssued(a);
    w.stop();
    expect(await resolved(waitA)).toBe(true);
    expect(w.untilSettled()).toBeUndefined();
    const grace = w.untilSettled(true);
    expect(await resolved(grace)).toBe(false);
    w.settle(a, 'done');
    expect(await resolved(grace)).toBe(true);
    expect(w.firstUnsettled()).toBe(-1);
  });
});
