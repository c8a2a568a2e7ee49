import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../adapters/amqp/test-support.js';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { Hub } from '../src/hub.js';
import { BROWSER_WAIT as WAIT, buildConsole, ConsoleBrowser, consoleUsers, login, shot } from './support/console-browser.js';
import { Downstream } from './support/downstream.js';

// The operator's night (issue 16) in a real browser against a real hub: orders from RabbitMQ and over REST to an
// HTTP service that fails, then refuses connections, then comes back; the hub itself goes away and comes back. The
// Flows page tells what stands now (from the journal), each sink's real health, and when it has lost the hub.

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'night');
/** Fixed ports (this file's range), so that the hub and the downstream can come back where they were. */
const HUB_PORT = 27101;
const DOWNSTREAM_PORT = 27102;

describe('the operator\'s night in Chromium', () => {
  const broker = new Broker();
  let downstream = new Downstream();
  const queue = unique('night');
  const work = mkdtempSync(join(tmpdir(), 'console-night-'));
  const consoleDir = join(work, 'console');
  const browser = new ConsoleBrowser();
  let hub: Hub;
  let base: string;
  let downstreamUrl: string;

  async function startHub(): Promise<void> {
    hub = await Hub.build({
      config: defaultHubConfig({
        port: HUB_PORT,
        host: '127.0.0.1',
        flowsDir: join(FIXTURES, 'flows'),
        schemasDir: join(FIXTURES, 'schemas'),
        logLevel: 'silent',
        shutdownGraceMs: 1000,
        journal: { dir: join(work, 'journal') },
        admin: { token: undefined, users: await consoleUsers() },
      }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, NIGHT_QUEUE: queue, NIGHT_DOWNSTREAM: downstreamUrl },
      consoleDir,
    });
    base = (await hub.listen()).replace('localhost', '127.0.0.1');
    await waitFor(() => hub.runners.every((r) => r.ready()), WAIT, 'the flows to be ready');
  }

  const order = (n: number | string): Promise<void> => broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: `night-${n}`, qty: 1 })), { contentType: 'application/json', correlationId: `night-${n}` });
  const deadNow = async (): Promise<number> => (await hub.journal.query({ flow: 'night-orders', status: 'dead', limit: 500 })).items.length;
  const figure = (page: Page, flow: string, field: string): Promise<string | null> => page.locator(`#flows tr:has(.flow-name:text-is("${flow}")) [data-field="${field}"]`).first().textContent();

  /** An admin API call made with the page's session (its cookie and CSRF token). */
  function api(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    return page.evaluate(async ([m, p, b]) => {
      const session = (await (await fetch('/admin/api/session')).json()) as { csrfToken: string };
      const res = await fetch(`/admin/api${p}`, { method: m as string, headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken }, ...(b === undefined ? {} : { body: JSON.stringify(b) }) });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
    }, [method, path, body] as const);
  }

  beforeAll(async () => {
    buildConsole(consoleDir);
    await broker.open();
    broker.track({ queues: [queue] });
    downstreamUrl = await downstream.start(DOWNSTREAM_PORT);
    await startHub();
    await browser.launch();
  }, 120_000);

  afterAll(async () => {
    await browser.close();
    await hub?.stop();
    await downstream.close().catch(() => {});
    await broker.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('the Flows page shows dead, waiting and failed as they stand now in the journal, not counters since start', async () => {
    for (const n of [1, 2, 3]) await order(n);
    await waitFor(async () => (await deadNow()) === 3, WAIT, 'three dead orders');
    const page = await browser.newPage();
    await login(page, base, 'olga');
    await expect.poll(() => figure(page, 'night-orders', 'now-dead')).toBe('3');
    expect(await figure(page, 'night-orders', 'now-waiting')).toBe('0');
    // The service failed with 503: it answered, so its sink is degraded (retryable failures in a row) with that error.
    await expect.poll(() => page.locator('#flows [data-sink="orders"][data-health="degraded"]').count()).toBeGreaterThan(0);
    await shot(page, 'flows-now');

    // Replayed once the service is back: the figure follows the journal (the counters since start would stay at 3).
    downstream.failing = false;
    const replay = await api(page, 'POST', '/replays', { filter: { flow: 'night-orders' } });
    expect(replay.status).toBe(200);
    await expect.poll(() => figure(page, 'night-orders', 'now-dead')).toBe('0');
    expect(hub.runners.find((r) => r.name === 'night-orders')!.stats.dead).toBe(3);
    expect(browser.pageErrors).toEqual([]);
  });

  it('a sink whose downstream refuses connections is degraded, with the error and since when, and clears when it recovers', async () => {
    const page = await browser.newPage();
    await login(page, base, 'vic');
    await expect.poll(() => page.locator('#flows [data-sink="orders"][data-health="ok"]').count()).toBe(3);
    await downstream.close();
    await order('refused');
    await waitFor(async () => (await deadNow()) === 1, WAIT, 'the order dead at a refused connection');
    const sink = page.locator('#flows tr:has(.flow-name:text-is("night-orders")) [data-sink="orders"]');
    await expect.poll(() => sink.getAttribute('data-health')).toBe('degraded');
    expect(await page.locator('#flows tr:has(.flow-name:text-is("night-orders")) .flow-state').getAttribute('data-health')).toBe('degraded');
    const text = await sink.locator('[data-field="sink-degraded"]').textContent();
    expect(text).toMatch(/degraded since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(text).toMatch(/DOWNSTREAM_UNAVAILABLE/);
    // The sink is degraded at the failed call, a moment before the message is dead: a frame may show one and not yet the other.
    await expect.poll(() => figure(page, 'night-orders', 'now-dead')).toBe('1');
    await shot(page, 'flows-degraded');

    downstream = new Downstream();
    downstream.failing = false;
    await downstream.start(DOWNSTREAM_PORT);
    const operator = await browser.newPage();
    await login(operator, base, 'olga');
    expect((await api(operator, 'POST', '/replays', { filter: { flow: 'night-orders' } })).status).toBe(200);
    await expect.poll(() => sink.getAttribute('data-health')).toBe('ok');
    expect(await sink.locator('[data-field="sink-recovered"]').textContent()).toMatch(/recovered/);
    await expect.poll(() => figure(page, 'night-orders', 'now-dead')).toBe('0');
    expect(browser.pageErrors).toEqual([]);
  });

  it('with the hub gone the console says it lost the connection and greys the figures, then reconnects by itself; the journal\'s figures hold across the restart', async () => {
    downstream.failing = true;
    for (const n of [4, 5]) await order(n);
    await waitFor(async () => (await deadNow()) === 2, WAIT, 'two more dead orders');
    const page = await browser.newPage();
    await login(page, base, 'olga');
    await expect.poll(() => figure(page, 'night-orders', 'now-dead')).toBe('2');
    expect(await page.locator('#connection:visible').count()).toBe(0);

    await hub.stop();
    const banner = page.locator('#connection');
    await expect.poll(() => banner.isVisible(), { timeout: WAIT }).toBe(true);
    expect(await banner.textContent()).toMatch(/Connection to the hub lost at \d\d:\d\d:\d\d UTC.*Reconnecting/);
    expect(await page.evaluate('document.body.classList.contains("offline")')).toBe(true);
    expect(await page.evaluate('getComputedStyle(document.getElementById("main")).opacity')).toBe('0.45');
    await shot(page, 'connection-lost');

    // Back: sessions live in the hub's memory, so the console reconnects and asks for the login again; the figures
    // come from the journal, so the restarted hub still shows the two dead (counters since start would say 0).
    await startHub();
    await expect.poll(() => page.locator('#login-form').isVisible(), { timeout: WAIT }).toBe(true);
    expect(await page.evaluate('document.body.classList.contains("offline")')).toBe(false);
    await login(page, base, 'olga');
    await expect.poll(() => figure(page, 'night-orders', 'now-dead')).toBe('2');
    expect(hub.runners.find((r) => r.name === 'night-orders')!.stats.dead).toBe(0);
    expect(browser.pageErrors).toEqual([]);
  });

  it('REST and SOAP failures, bad input included, are journalled: the id in the error answer can be looked up', async () => {
    downstream.failing = false;
    const bad = await fetch(`${base}/night/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"orderId": "night-bad",' });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { code: string; messageId: string; journal: string };
    expect(problem).toMatchObject({ code: 'BAD_JSON', journal: 'kept' });
    expect(await hub.journal.get(problem.messageId)).toMatchObject({ flow: 'night-api', status: 'failed', lastError: { code: 'BAD_JSON' }, body: { data: '{"orderId": "night-bad",' } });
    const invalid = await fetch(`${base}/night/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"orderId": "", "qty": 0}' });
    expect(invalid.status).toBe(422);
    const invalidProblem = (await invalid.json()) as { messageId: string; journal: string };
    expect(invalidProblem.journal).toBe('kept');
    expect(await hub.journal.get(invalidProblem.messageId)).toMatchObject({ status: 'failed', lastError: { code: 'VALIDATION_FAILED' } });

    // SOAP: an envelope that is not XML (refused before the flow), then a call the downstream fails.
    const soap = (body: string): Promise<Response> => fetch(`${base}/night/soap`, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'PlaceOrder' }, body });
    const broken = await soap('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><PlaceOrder>');
    const brokenText = await broken.text();
    expect(brokenText).toMatch(/<hub:journal>kept<\/hub:journal>/);
    const brokenId = /<hub:messageId>([^<]+)<\/hub:messageId>/.exec(brokenText)![1]!;
    expect(await hub.journal.get(brokenId)).toMatchObject({ flow: 'night-soap', status: 'failed', source: 'soap:POST /night/soap' });
    downstream.failing = true;
    const failed = await soap('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><PlaceOrder xmlns="urn:night"><OrderId>s-1</OrderId></PlaceOrder></soap:Body></soap:Envelope>');
    const failedText = await failed.text();
    expect(failedText).toMatch(/<hub:journal>kept<\/hub:journal>/);
    const failedId = /<hub:messageId>([^<]+)<\/hub:messageId>/.exec(failedText)![1]!;
    expect(await hub.journal.get(failedId)).toMatchObject({ flow: 'night-soap', status: 'failed', lastError: { code: 'DOWNSTREAM_UNAVAILABLE' } });
  });

  it('the console marks a message whose caller already had an error and asks before replaying it; a permanent failure leads to edit-and-replay', async () => {
    downstream.failing = true;
    const res = await fetch(`${base}/night/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"orderId": "night-caller", "qty": 2}' });
    expect(res.status).toBeGreaterThanOrEqual(500);
    const { messageId, journal } = (await res.json()) as { messageId: string; journal: string };
    expect(journal).toBe('kept');
    downstream.failing = false;
    const page = await browser.newPage();
    await login(page, base, 'olga');
    await page.goto(`${base}/admin#/message/${messageId}`);
    await page.locator('#caller-answered').waitFor();
    expect(await page.locator('#caller-answered').textContent()).toMatch(/may have sent the request again/);
    await shot(page, 'message-caller-answered');
    // Declined: nothing is replayed.
    const dialogs = browser.dialogs.length;
    await page.locator('#replay-start').click();
    await expect.poll(() => browser.dialogs.length).toBe(dialogs + 1);
    expect(browser.dialogs.at(-1)).toMatch(/answered with an error .* may have sent it again/);
    expect((await hub.journal.get(messageId))!.replayedAs).toEqual([]);
    // Confirmed: replayed and delivered.
    browser.accept = true;
    try {
      await page.locator('#replay-start').click();
      await expect.poll(() => page.locator('#replay-status').textContent()).toMatch(/replayed as \w+: delivered/);
    } finally {
      browser.accept = false;
    }

    // BAD_JSON: no plain replay is offered; an admin is led to the editor.
    const bad = await fetch(`${base}/night/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"orderId": "night-permanent"' });
    const badId = ((await bad.json()) as { messageId: string }).messageId;
    await page.goto(`${base}/admin#/message/${badId}`);
    await page.locator('#permanent-note').waitFor();
    expect(await page.locator('#permanent-note').textContent()).toMatch(/BAD_JSON.*would fail the same way.*An admin can edit/);
    expect(await page.locator('#replay-start, #replay-failed-step').count()).toBe(0);
    const admin = await browser.newPage();
    await login(admin, base, 'alice');
    await admin.goto(`${base}/admin#/message/${badId}`);
    await admin.locator('#edit-form').waitFor();
    expect(await admin.locator('#permanent-note').textContent()).toMatch(/Edit the body below/);
    await admin.locator('#edit-body').fill('{"orderId": "night-permanent", "qty": 1}');
    browser.accept = true;
    try {
      await admin.locator('#edit-replay').click();
      await expect.poll(() => admin.locator('#replay-status').textContent()).toMatch(/replayed as \w+: delivered/);
    } finally {
      browser.accept = false;
    }
    expect(downstream.bodies('/orders')).toContainEqual({ orderId: 'night-permanent', qty: 1 });
    await shot(admin, 'message-permanent');
    expect(browser.pageErrors).toEqual([]);
  });

  it('an operator replays a search as a paced job: the count first, then progress, pause and resume live, and each message\'s result', async () => {
    downstream.failing = true;
    const before = await deadNow();
    for (const n of [10, 11, 12, 13, 14, 15]) await order(`job-${n}`);
    await waitFor(async () => (await deadNow()) === before + 6, WAIT, 'six more dead orders');
    downstream.failing = false;
    const page = await browser.newPage();
    await login(page, base, 'olga');
    await page.locator('nav a', { hasText: 'Replay jobs' }).click();
    await page.locator('#job-flow').selectOption('night-orders');
    await page.locator('#job-rate').fill('4');
    await page.locator('#job-count').click();
    await expect.poll(() => page.locator('#job-confirm [data-count]').getAttribute('data-count')).toBe(String(before + 6));
    expect(await page.locator('#job-start').textContent()).toBe(`Replay ${before + 6} as a job at 4 msg/s`);
    await page.locator('#job-start').click();
    const row = page.locator('#jobs tbody tr').first();
    await expect.poll(() => row.locator('[data-field="job-state"]').textContent()).toBe('running');
    await row.locator('[data-action="pause-job"]').click();
    await expect.poll(() => row.locator('[data-field="job-state"]').textContent()).toBe('paused');
    await shot(page, 'replay-job');
    await row.locator('[data-action="resume-job"]').click();
    await expect.poll(() => row.locator('[data-field="job-state"]').textContent(), { timeout: 20_000 }).toBe('finished');
    expect(await row.locator('[data-field="job-done"]').textContent()).toBe(`${before + 6} of ${before + 6}`);
    await row.locator('[data-action="job-results"]').click();
    await expect.poll(() => row.locator('[data-outcome="delivered"]').count()).toBe(before + 6);
    expect(await deadNow()).toBe(0);
    expect(browser.pageErrors).toEqual([]);
  }, 60_000);

  it('/admin/docs renders the API reference from the hub\'s own files (no CDN), the JSON beside it', async () => {
    const page = await browser.newPage();
    await login(page, base, 'vic');
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) outside.push(r.url());
    });
    await page.goto(`${base}/admin/docs`);
    await expect.poll(() => page.locator('#swagger-ui .opblock').count(), { timeout: WAIT }).toBeGreaterThan(20);
    expect(await page.locator('#swagger-ui').textContent()).toContain('/admin/api/replays/jobs/{id}/results');
    expect(outside).toEqual([]);
    await shot(page, 'api-docs');
    const json = await page.evaluate(async () => (await fetch('/admin/docs', { headers: { accept: 'application/json' } })).json() as Promise<{ openapi: string }>);
    expect(json.openapi).toMatch(/^3\.1/);
    expect(browser.pageErrors).toEqual([]);
  });
});
