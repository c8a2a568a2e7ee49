import { describe, expect, it } from 'vitest';
import { ChannelAcks, type AckMessage } from './acks.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A channel that checks acks the way RabbitMQ does: a tag acked that is not unacked is a channel error, a
 * multiple ack acks every unacked tag up to its own. It also fails an ack of a delivery the flow has not settled.
 */
class FakeChannel {
  readonly unacked = new Set<number>();
  readonly settled = new Set<number>();
  readonly frames: { tag: number; multiple: boolean }[] = [];
  readonly acked: number[] = [];
  readonly violations: string[] = [];
  closed = false;

  deliver(tag: number): AckMessage {
    this.unacked.add(tag);
    return { fields: { deliveryTag: tag } };
  }

  ack(msg: AckMessage, multiple = false): void {
    if (this.closed) throw new Error('Channel closed');
    const tag = msg.fields.deliveryTag;
    this.frames.push({ tag, multiple });
    if (!this.unacked.has(tag)) this.violations.push(`unknown delivery tag ${tag}`);
    const covered = multiple ? [...this.unacked].filter((t) => t <= tag) : [tag];
    for (const t of covered) {
      if (!this.settled.has(t)) this.violations.push(`tag ${t} acked before it settled`);
      this.unacked.delete(t);
      this.acked.push(t);
    }
  }

  /** The source's own frame for a delivery that settled by failure (ack after a dead-letter publish, or nack). */
  own(msg: AckMessage): void {
    this.settled.add(msg.fields.deliveryTag);
    this.ack(msg, false);
  }
}

function setup(n: number, options: { threshold?: number; holdMs?: number } = {}): { ch: FakeChannel; acks: ChannelAcks; msgs: AckMessage[]; settle: (i: number) => void } {
  const ch = new FakeChannel();
  const acks = new ChannelAcks(ch, { threshold: options.threshold ?? 1000, holdMs: options.holdMs ?? 30 });
  const msgs = Array.from({ length: n }, (_, i) => ch.deliver(i + 1));
  for (const m of msgs) acks.track(m);
  const settle = (i: number): void => {
    ch.settled.add(msgs[i]!.fields.deliveryTag);
    acks.settled(msgs[i]!);
  };
  return { ch, acks, msgs, settle };
}

describe('amqp source: coalesced acks', () => {
  it('acks many deliveries settled out of order, each exactly once, none before it settled, in few frames', async () => {
    const { ch, settle } = setup(200, { threshold: 1000 });
    const order = Array.from({ length: 200 }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    // Settled in random order, a few per tick.
    for (let k = 0; k < order.length; k++) {
      settle(order[k]!);
      if (k % 7 === 6) await tick();
    }
    await sleep(60);
    expect(ch.violations).toEqual([]);
    expect([...ch.acked].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(ch.unacked.size).toBe(0);
    expect(ch.frames.length).toBeLessThan(200);
  });

  it('acks a contiguous run with one multiple ack per tick', async () => {
    const { ch, settle } = setup(60);
    for (let i = 0; i < 50; i++) settle(i);
    expect(ch.frames).toEqual([]); // not within the tick that settled them: more may settle
    await tick();
    expect(ch.frames).toEqual([{ tag: 50, multiple: true }]);
    expect(ch.violations).toEqual([]);
  });

  it('acks at once when every open delivery has settled: nothing is left to wait for', () => {
    const { ch, settle } = setup(5);
    for (let i = 0; i < 4; i++) settle(i);
    expect(ch.frames).toEqual([]);
    settle(4);
    expect(ch.frames).toEqual([{ tag: 5, multiple: true }]);
    const one = setup(1);
    one.settle(0);
    expect(one.ch.frames).toEqual([{ tag: 1, multiple: false }]);
  });

  it('never acks past a delivery still in the flow; the ones settled behind it are acked alone after holdMs', async () => {
    const { ch, acks, settle } = setup(10, { holdMs: 30 });
    for (let i = 1; i < 10; i++) settle(i); // tag 1 stays in the flow
    await tick();
    expect(ch.frames).toEqual([]); // held, hoping tag 1 settles
    await sleep(60);
    expect(ch.frames).toEqual(Array.from({ length: 9 }, (_, i) => ({ tag: i + 2, multiple: false })));
    expect([...ch.unacked]).toEqual([1]);
    expect(acks.open).toBe(1);
    settle(0);
    await tick();
    expect(ch.frames.at(-1)).toEqual({ tag: 1, multiple: false });
    expect(ch.violations).toEqual([]);
    expect(ch.unacked.size).toBe(0);
  });

  it('joins the held ones to the run when the blocking delivery settles within holdMs', async () => {
    const { ch, settle } = setup(10, { holdMs: 1000 });
    for (let i = 1; i < 10; i++) settle(i);
    await tick();
    expect(ch.frames).toEqual([]);
    settle(0);
    await tick();
    expect(ch.frames).toEqual([{ tag: 10, multiple: true }]);
    expect(ch.violations).toEqual([]);
  });

  it('acks the held ones alone at once when threshold of them are due', async () => {
    const { ch, settle } = setup(10, { threshold: 4, holdMs: 10_000 });
    settle(1);
    settle(2);
    settle(3);
    expect(ch.frames).toEqual([]);
    settle(4); // four due, none contiguous from tag 1: acked alone now
    expect(ch.frames).toEqual([2, 3, 4, 5].map((tag) => ({ tag, multiple: false })));
    settle(0);
    settle(5);
    settle(6);
    settle(7); // 1, 6, 7, 8 due: the run 1 (2..5 are gone) .. 8 in one frame
    expect(ch.frames.slice(4)).toEqual([{ tag: 8, multiple: true }]);
    expect(ch.violations).toEqual([]);
  });

  it('a delivery settled by failure blocks the run until its own frame went out, then no longer', async () => {
    const { ch, acks, msgs, settle } = setup(5, { holdMs: 10_000 });
    for (let i = 1; i < 5; i++) settle(i);
    await tick();
    expect(ch.frames).toEqual([]); // tag 1 is being dead-lettered: no multiple ack may cover it yet
    ch.own(msgs[0]!); // its ack after the dead-letter publish
    acks.release(msgs[0]!);
    await tick();
    expect(ch.frames).toEqual([
      { tag: 1, multiple: false },
      { tag: 5, multiple: true },
    ]);
    expect(ch.violations).toEqual([]);
    expect(ch.unacked.size).toBe(0);
  });

  it('flush(true) sends everything settled, the held ones too; unsettled ones stay unacked', () => {
    const { ch, acks, settle } = setup(6, { holdMs: 10_000 });
    settle(0);
    settle(1);
    settle(3);
    settle(5);
    acks.flush(true);
    expect(ch.frames).toEqual([
      { tag: 2, multiple: true },
      { tag: 4, multiple: false },
      { tag: 6, multiple: false },
    ]);
    expect([...ch.unacked].sort()).toEqual([3, 5]);
    expect(ch.violations).toEqual([]);
  });

  it('a channel that died before the flush: nothing thrown, nothing acked afterwards', async () => {
    const ch = new FakeChannel();
    const acks = new ChannelAcks(ch, { threshold: 3, holdMs: 10 });
    const msgs = [1, 2, 3, 4, 5].map((t) => ch.deliver(t));
    for (const m of msgs) acks.track(m);
    ch.settled.add(1);
    acks.settled(msgs[0]!);
    ch.closed = true;
    await tick(); // the flush meets a closed channel
    expect(acks.dead).toBe(true);
    expect(() => {
      for (const m of msgs) acks.settled(m);
      acks.release(msgs[1]!);
      acks.flush(true);
    }).not.toThrow();
    await sleep(30);
    expect(ch.frames).toEqual([]);
    expect(acks.open).toBe(0);
  });

  it('calls onDead once when an ack finds the channel closed', () => {
    const ch = new FakeChannel();
    const dead: unknown[] = [];
    const acks = new ChannelAcks(ch, { threshold: 1, holdMs: 10, onDead: (err) => dead.push(err) });
    const msgs = [1, 2].map((t) => ch.deliver(t));
    for (const m of msgs) acks.track(m);
    ch.closed = true;
    acks.settled(msgs[0]!);
    acks.settled(msgs[1]!);
    expect(dead).toHaveLength(1);
  });
});
