import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../adapters/amqp/test-support.js';
import { Downstream } from './support/downstream.js';
import { runHub, startHub, type HubProcess } from './support/processes.js';

// `hub messages`, `hub dead-letters` and `hub replay` as an operator runs them, against a real hub process with an
// admin token, fed by the real RabbitMQ, in front of a downstream service that fails, then works.

const TOKEN = 'cli-admin-test-token-0123456789abcdef';

describe('hub messages / dead-letters / replay against a running hub', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('cli-admin');
  const auditQueue = unique('cli-admin-audit');
  const tmp = mkdtempSync(join(tmpdir(), 'cli-admin-'));
  let hub: HubProcess;
  const cli = (args: string[], token = TOKEN) => runHub([...args, '--url', hub.url], { env: { HUB_ADMIN_TOKEN: token } });

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await startHub(['--flows', 'test/fixtures/admin/flows'], {
      env: { AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url, HUB_SCHEMAS: 'test/fixtures/admin/schemas', HUB_ADMIN_TOKEN: TOKEN },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const publish = (order: unknown, correlationId: string): Promise<void> => broker.publish('', queue, Buffer.from(JSON.stringify(order)), { contentType: 'application/json', correlationId });

  async function deadIds(n: number): Promise<string[]> {
    let ids: string[] = [];
    await waitFor(async () => {
      const r = await cli(['messages', '--flow', 'admin-orders', '--status', 'dead', '--json']);
      ids = (JSON.parse(r.stdout) as { items: { id: string }[] }).items.map((m) => m.id);
      return ids.length === n;
    }, 20_000, `${n} dead messages`);
    return ids;
  }

  it('lists, shows and replays dead letters; refuses clearly; replays by filter', async () => {
    for (const n of [1, 2, 3]) await publish({ orderId: `c-${n}`, qty: n }, `cli-${n}`);
    const [newest, ...others] = await deadIds(3);

    const list = await cli(['messages', '--flow', 'admin-orders', '--status', 'dead']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+FLOW\s+STATUS\s+TRIES\s+RECEIVED\s+ERROR/);
    expect(list.stdout).toContain(`${newest}  admin-orders  dead`);
    expect(list.stdout).toContain('DOWNSTREAM_UNAVAILABLE at 2:to');

    const show = await cli(['messages', 'show', newest!]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('status:      dead (tries: 1)');
    expect(show.stdout).toContain('{"orderId":"c-3","qty":3}');
    expect(show.stdout).toMatch(/\sdead\s+try 1/);

    const groups = await cli(['dead-letters']);
    expect(groups.stdout).toMatch(/admin-orders\s+2:to\s+DOWNSTREAM_UNAVAILABLE\s+3/);

    // Without the token the hub says so, and the CLI says how to fix it.
    const denied = await cli(['messages'], '');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('Unauthorized (401 UNAUTHORIZED)');
    expect(denied.stderr).toContain('HUB_ADMIN_TOKEN');

    downstream.failing = false;
    const fixed = join(tmp, 'fixed.json');
    writeFileSync(fixed, JSON.stringify({ orderId: 'c-3', qty: 30 }));
    const one = await cli(['replay', newest!, '--body-file', fixed, '--note', 'qty corrected']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^replayed ${newest} as \\w{26}: delivered`));
    expect(downstream.bodies('/orders')).toEqual([{ orderId: 'c-3', qty: 30 }]);
    const again = await cli(['replay', newest!, '--body-file', fixed, '--note', 'qty corrected']);
    expect(again.stdout).toContain('was already replayed as');
    expect(downstream.bodies('/orders')).toHaveLength(1);

    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ orderId: 'c-2', qty: 'lots' }));
    const refused = await cli(['replay', others[0]!, '--body-file', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Validation failed (422 VALIDATION_FAILED)');
    expect(refused.stderr).toMatch(/\/qty: must be integer/);

    const missing = await cli(['replay', '01NOSUCHMESSAGE0000000000']);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining('no such message: 01NOSUCHMESSAGE0000000000')]);
    const usage = await cli(['replay']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--flow FLOW');
    expect((await cli(['replay', newest!, '--to', 'middle'])).code).toBe(2);

    const bulk = await cli(['replay', '--flow', 'admin-orders', '--error-code', 'DOWNSTREAM_UNAVAILABLE']);
    expect(bulk.code, bulk.stderr).toBe(0);
    expect(bulk.stdout).toContain('matched 2, replayed 2 (delivered 2, waiting for retry 0, dead 0), duplicates 0, failed 0');
    expect(downstream.bodies('/orders')).toHaveLength(3);
    const none = await cli(['replay', '--flow', 'admin-orders']);
    expect([none.code, none.stderr]).toEqual([1, expect.stringContaining('no message matches the filter')]);
    expect((await cli(['dead-letters'])).stdout).toContain('no dead letters');
  });

  it('a hub that is not there is a clear failure', async () => {
    const r = await runHub(['messages', '--url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the hub at http://127.0.0.1:9');
  });
});
