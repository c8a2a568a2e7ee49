import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { BROKER_URL, startBroker, stopBroker } from '../../../adapters/amqp/test-support.js';
import type { Driver, Endpoint, Received } from '../driver.js';

/** Publishes with confirms, reconnecting (bounded) while the broker is away or restarting. */
class Publisher {
  #conn: ChannelModel | undefined;
  #channel: ConfirmChannel | undefined;

  async #open(): Promise<ConfirmChannel> {
    if (this.#channel) return this.#channel;
    this.#conn = await amqp.connect(BROKER_URL);
    this.#conn.on('error', () => {});
    this.#conn.on('close', () => {
      this.#conn = undefined;
      this.#channel = undefined;
    });
    this.#channel = await this.#conn.createConfirmChannel();
    this.#channel.on('error', () => {});
    return this.#channel;
  }

  async publish(queue: string, body: string, headers: Record<string, string>): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const ch = await this.#open();
        ch.sendToQueue(queue, Buffer.from(JSON.stringify({ payload: body })), { persistent: true, contentType: 'application/json', headers });
        await ch.waitForConfirms();
        return;
      } catch (err) {
        this.#channel = undefined;
        await this.#conn?.close().catch(() => {});
        this.#conn = undefined;
        if (Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  }

  async close(): Promise<void> {
    await this.#conn?.close().catch(() => {});
  }
}

/** AMQP (RabbitMQ): the source consumes a queue the test publishes to; the sink publishes to an exchange the test consumes from. */
export const amqpDriver: Driver = {
  adapter: 'amqp',
  // The broker's URL holds its password: a flow takes it by reference (the linter refuses it written out).
  env: () => ({ AMQP_URL: BROKER_URL }),
  features: {
    source: true,
    sink: true,
    ordered: true,
    persistent: true,
    consumerGroups: true,
    requestReply: false,
    broker: {
      restart: async () => {
        await stopBroker();
        await startBroker();
      },
      stop: stopBroker,
      start: startBroker,
    },
  },
  async open(): Promise<Endpoint> {
    const id = randomUUID().slice(0, 8);
    const inQueue = `conformance.in.${id}`;
    const outExchange = `conformance.out.${id}`;
    const outQueue = `conformance.out.${id}`;
    const publisher = new Publisher();
    const received: Received[] = [];
    const admin = await amqp.connect(BROKER_URL);
    admin.on('error', () => {});
    const ch = await admin.createChannel();
    ch.on('error', () => {});
    await ch.assertExchange(outExchange, 'topic', { durable: true });
    await ch.assertQueue(outQueue, { durable: true });
    await ch.bindQueue(outQueue, outExchange, 'out');
    await ch.consume(outQueue, (m) => {
      if (!m) return;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.properties.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
      // What AMQP carries in properties of its own, as a consumer reads it (the hub's AMQP source does the same).
      if (typeof m.properties.messageId === 'string') headers['x-message-id'] ??= m.properties.messageId;
      if (typeof m.properties.correlationId === 'string') headers['correlation-id'] ??= m.properties.correlationId;
      if (typeof m.properties.contentType === 'string') headers['content-type'] ??= m.properties.contentType;
      received.push({ body: m.content.toString('utf8'), headers });
      ch.ack(m);
    });
    return {
      sourceConfig: { url: '${env:AMQP_URL}', queue: inQueue, prefetch: 64, dead_letter: { exchange: `conformance.dead.${id}` }, retry: { delay: '500ms' } },
      sinkConfig: { url: '${env:AMQP_URL}', exchange: outExchange, routing_key: 'out' },
      send: async (body, headers) => {
        await publisher.publish(inQueue, body, headers);
        return {};
      },
      async receive(n, timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        while (received.length < n) {
          if (Date.now() > deadline) throw new Error(`got ${received.length} of ${n} AMQP messages within ${timeoutMs} ms`);
          await sleep(25);
        }
        return received;
      },
      async close() {
        await publisher.close();
        for (const q of [inQueue, `${inQueue}.dead`, `${inQueue}.retry`, outQueue]) await ch.deleteQueue(q).catch(() => {});
        for (const x of [outExchange, `conformance.dead.${id}`]) await ch.deleteExchange(x).catch(() => {});
        await admin.close().catch(() => {});
      },
    };
  },
};
