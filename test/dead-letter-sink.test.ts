import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsumeMessage } from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../adapters/amqp/test-support.js';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { Hub } from '../src/hub.js';
import { Downstream } from './support/downstream.js';

// errors.dead_letter.sink with a real AMQP queue behind it: a message the REST service rejects (400, permanent) is
// dead in the journal AND published to the dead-letter queue with its reason in x-error-* headers; one that merely
// fails (503) until its retries are used up goes the same way, with its attempts.

describe('a flow\'s dead-letter sink on a real RabbitMQ queue', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('dls-in');
  const deadQueue = unique('dls-dead');
  const work = mkdtempSync(join(tmpdir(), 'dead-letter-sink-'));
  let hub: Hub;

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, deadQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(deadQueue, { durable: true });
    await ch.close();
    const url = await downstream.start();
    const flows = join(work, 'flows');
    mkdirSync(flows);
    writeFileSync(
      join(flows, 'orders-with-dead-letters.yaml'),
      `name: orders-with-dead-letters
source:
  amqp: { url: "\${env:AMQP_URL}", queue: "${queue}" }
steps:
  - to: orders
sinks:
  orders:
    rest: { url: "${url}/orders", timeout: 2s }
  dead-orders:
    amqp: { url: "\${env:AMQP_URL}", exchange: "", routing_key: "${deadQueue}" }
errors:
  retry: { attempts: 2, backoff: fixed, initial: 10ms }
  durable: { attempts: 0 }
  dead_letter: { sink: dead-orders }
journal: failures
`,
    );
    hub = await Hub.build({ config: defaultHubConfig({ port: 0, flowsDir: flows, logLevel: 'silent', journal: { dir: join(work, 'journal') } }), registry: builtinRegistry(), logger: pino({ level: 'silent' }), env: { ...process.env, AMQP_URL: BROKER_URL } });
    await waitFor(() => hub.runners.every((r) => r.ready()), 15_000, 'the flow to be ready');
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('publishes each dead message to the dead-letter queue with its reason, and keeps it dead in the journal', async () => {
    const got: ConsumeMessage[] = [];
    const ch = await broker.channel();
    await ch.consume(deadQueue, (m) => m && (got.push(m), ch.ack(m)));

    // Rejected: permanent, dead at once after one call.
    downstream.failing = false;
    downstream.status = 400;
    await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: 'rejected' })), { contentType: 'application/json', correlationId: 'dls-rejected' });
    await waitFor(() => got.length === 1, 15_000, 'the rejected order on the dead-letter queue');
    // Failing: retryable, dead once its two tries are used up (durable attempts 0).
    downstream.status = undefined;
    downstream.failing = true;
    await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: 'failing' })), { contentType: 'application/json', correlationId: 'dls-failing' });
    await waitFor(() => got.length === 2, 15_000, 'the failing order on the dead-letter queue');
    await ch.close();

    const [rejected, failing] = got;
    expect(JSON.parse(rejected!.content.toString())).toEqual({ orderId: 'rejected' });
    expect(rejected!.properties.headers).toMatchObject({ 'x-error-code': 'DOWNSTREAM_REJECTED', 'x-error-step': '0:to', 'x-flow': 'orders-with-dead-letters', 'x-attempts': '1' });
    expect(rejected!.properties.correlationId).toBe('dls-rejected');
    expect(String(rejected!.properties.headers!['x-error-message'])).toContain('400');
    expect(JSON.parse(failing!.content.toString())).toEqual({ orderId: 'failing' });
    expect(failing!.properties.headers).toMatchObject({ 'x-error-code': 'DOWNSTREAM_UNAVAILABLE', 'x-flow': 'orders-with-dead-letters' });
    expect(failing!.properties.correlationId).toBe('dls-failing');

    const dead = (await hub.journal.query({ flow: 'orders-with-dead-letters', status: 'dead' })).items;
    expect(dead.map((m) => m.correlationId).sort()).toEqual(['dls-failing', 'dls-rejected']);
    expect(downstream.received.filter((r) => r.path === '/orders')).toHaveLength(1);
  });
});
