/**
 * A password inside a URL, taken from the environment as the linter asks, never shows: not in the hub's log, not in
 * the journal's records (read through the admin API), not in a metric's labels. A real hub process with two flows:
 * an AMQP sink whose password the real RabbitMQ refuses, and a REST sink in front of a service that is down.
 * (The linter's refusal of a literal one is in src/config/load-flows.test.ts; the manifests' in src/mesh/render.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Downstream } from './support/downstream.js';
import { startHub, type HubProcess } from './support/processes.js';

const AMQP_PASSWORD = 'hunter2-amqp-not-valid';
const REST_PASSWORD = 'pa55word-rest';

describe('a password inside a URL never shows', () => {
  const downstream = new Downstream();
  let hub: HubProcess;

  beforeAll(async () => {
    const url = await downstream.start();
    // RabbitMQ refuses the AMQP sink's login, so the hub is never ready: wait for its port instead.
    hub = await startHub(['--flows', 'test/fixtures/url-secrets'], {
      env: { LEAK_AMQP_PASSWORD: AMQP_PASSWORD, LEAK_REST_URL: url.replace('http://', `http://leak-user:${REST_PASSWORD}@`) + '/rates' },
      waitReady: false,
    });
    for (let i = 0; i < 200; i++) {
      if (await fetch(`${hub.url}/healthz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the hub did not listen:\n${hub.logs()}`);
  }, 60_000);

  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
  });

  it('in the log, the journal and the metrics, after failed calls of both sinks', async () => {
    const ids: string[] = [];
    for (const path of ['/leak/amqp', '/leak/rest']) {
      const res = await fetch(`${hub.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
      expect(res.status, await res.clone().text()).toBeGreaterThanOrEqual(500);
      ids.push(res.headers.get('x-message-id')!);
    }
    const records = await Promise.all(ids.map(async (id) => (await fetch(`${hub.url}/admin/api/messages/${id}`, { headers: hub.adminHeaders() })).text()));
    for (const record of records) expect(record).toContain('"failed"');
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toContain('leak-rest');
    for (const text of [hub.logs(), ...records, metrics]) {
      expect(text).not.toContain(AMQP_PASSWORD);
      expect(text).not.toContain(REST_PASSWORD);
    }
  }, 60_000);
});
