import amqp, { type ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { BROKER_URL, unique } from './test-support.js';
import { batchWrites } from './write-batching.js';

interface Counted {
  writes: number;
  writevs: number;
}

/** Counts the socket's write and writev calls from here on. */
function countWrites(model: ChannelModel): Counted {
  const stream = (model as unknown as { connection: { stream: { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } } }).connection.stream;
  const counted = { writes: 0, writevs: 0 };
  const write = stream._write.bind(stream);
  const writev = stream._writev.bind(stream);
  stream._write = (...a) => (counted.writes++, write(...a));
  stream._writev = (...a) => (counted.writevs++, writev(...a));
  return counted;
}

/** Publishes `n` messages in one turn of the event loop on a confirm channel and waits for the confirms. */
async function publishBurst(model: ChannelModel, n: number): Promise<Counted & { received: number }> {
  const ch = await model.createConfirmChannel();
  const queue = unique('write-batching');
  await ch.assertQueue(queue, { durable: false, autoDelete: false });
  const counted = countWrites(model);
  for (let i = 0; i < n; i++) ch.publish('', queue, Buffer.from(JSON.stringify({ i })), { headers: { 'x-i': i } });
  await ch.waitForConfirms();
  const { messageCount } = await ch.checkQueue(queue);
  await ch.deleteQueue(queue);
  await ch.close();
  return { ...counted, received: messageCount };
}

const models: ChannelModel[] = [];
afterEach(async () => {
  await Promise.all(models.splice(0).map((m) => m.close().catch(() => {})));
});

async function connect(): Promise<ChannelModel> {
  const model = await amqp.connect(BROKER_URL);
  models.push(model);
  return model;
}

describe('AMQP write batching', () => {
  it('sends the frames of a burst of publishes in a few writes, not one write per publish, all of them arriving', async () => {
    const plain = await publishBurst(await connect(), 500);
    const batchedModel = await connect();
    expect(batchWrites(batchedModel)).toBe(true);
    const batched = await publishBurst(batchedModel, 500);
    // amqplib alone: a write per publish (plus the confirms' bookkeeping frames).
    expect(plain.writes + plain.writevs).toBeGreaterThanOrEqual(500);
    expect(batched.writes + batched.writevs).toBeLessThan(50);
    expect([plain.received, batched.received]).toEqual([500, 500]);
  });

  it('leaves a connection whose internals are not amqplib\'s as they are', () => {
    expect(batchWrites({} as ChannelModel)).toBe(false);
    expect(batchWrites({ connection: { stream: {}, muxer: { _readIncoming: () => {} } } } as unknown as ChannelModel)).toBe(false);
  });
});
