import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../adapters/amqp/test-support.js';
import { hashPassword } from '../src/kit/password.js';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig, type HubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { Hub } from '../src/hub.js';
import { CHROMIUM, CHROMIUM_ARGS, SHOTS } from './support/console-browser.js';
import { Downstream } from './support/downstream.js';

// The admin console in a real browser (Debian's Chromium, driven by playwright-core; scripts/chromium.sh installs it)
// against a real hub: orders from RabbitMQ to an HTTP service that is down, so they die at once; an operator finds
// the group in the dead letters, the service comes back, the group is replayed and the messages are delivered. A
// viewer is offered no replay and the API refuses one; an admin's edited body that fails the flow's schema is
// refused with the schema's errors beside the editor, and nothing is sent. Markup in a body, a header and an error
// text is shown as text and never runs. Screenshots of the main pages go to docs/screenshots/ (shown in
// docs/admin-console.md).

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'admin');
const FAST = { N: 1 << 14, r: 8, p: 1 };
const WAIT = 15_000;
/** The hub's admin token: what makes one-time login links (as `hub admin login-link` does). */
const CONSOLE_TOKEN = 'console-test-token-0123456789abcdef';
const PASSWORDS = { olga: 'olga-operator-pw', vic: 'vic-viewer-pw', alice: 'alice-admin-pw' };

/** A body that is not JSON though it says so: it dies at the validate step with the parser's error, which quotes it. */
const MARKUP_BODY = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
/** A correlation id (a header the AMQP source keeps) with markup. */
const MARKUP_HEADER = 'console-markup<script>window.__xss=3</script><b>bold?</b>';

/** A report hub compare wrote on this machine (2 shared cores), for the Comparison page. */
const COMPARE_REPORT = join(PROJECT_ROOT, 'test', 'fixtures', 'compare', 'report.json');

async function config(journalDir: string, compareReportsDir: string): Promise<HubConfig> {
  return defaultHubConfig({
    port: 0,
    compareReportsDir,
    flowsDir: join(FIXTURES, 'flows'),
    schemasDir: join(FIXTURES, 'schemas'),
    logLevel: 'silent',
    shutdownGraceMs: 2000,
    journal: { dir: journalDir },
    admin: {
      token: CONSOLE_TOKEN,
      users: await Promise.all([
        ['olga', 'operator'],
        ['vic', 'viewer'],
        ['alice', 'admin'],
      ].map(async ([name, role]) => ({ name: name!, role: role as 'viewer' | 'operator' | 'admin', passwordHash: await hashPassword(PASSWORDS[name as keyof typeof PASSWORDS], FAST) }))),
    },
  });
}

describe('admin console in Chromium', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('console');
  const auditQueue = unique('console-audit');
  const work = mkdtempSync(join(tmpdir(), 'console-browser-'));
  const consoleDir = join(work, 'console');
  let hub: Hub;
  let base: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** Dialogs any page opened and errors any page threw: markup that ran would show here. */
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  let markupId: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run bash scripts/chromium.sh (npm test runs it), or set HUB_TEST_CHROMIUM`);
    execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'build-console.mjs'), consoleDir], { stdio: 'inherit' });
    mkdirSync(SHOTS, { recursive: true });
    mkdirSync(join(work, 'compare', 'sample-run'), { recursive: true });
    copyFileSync(COMPARE_REPORT, join(work, 'compare', 'sample-run', 'report.json'));
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await Hub.build({
      config: await config(join(work, 'journal'), join(work, 'compare')),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url },
      consoleDir,
    });
    base = (await hub.listen()).replace('localhost', '127.0.0.1');
    await waitFor(() => hub.runners.every((r) => r.ready()), WAIT, 'the flow to be ready');

    // The downstream is down: four good orders die at its step (one carries markup in its fields); one that is not
    // JSON dies at validation.
    for (const n of [1, 2, 3]) await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: `c-${n}`, qty: n })), { contentType: 'application/json', correlationId: `console-${n}` });
    await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: '<img src=x onerror="window.__xss=4">', qty: 4, note: '<script>window.__xss=5</script>' })), { contentType: 'application/json', correlationId: 'console-4' });
    await broker.publish('', queue, Buffer.from(MARKUP_BODY), { contentType: 'application/json', correlationId: MARKUP_HEADER });
    await waitFor(async () => (await hub.journal.query({ flow: 'admin-orders', status: ['dead'], limit: 50 })).items.length === 5, WAIT, 'five dead messages');
    const dead = (await hub.journal.query({ flow: 'admin-orders', status: ['dead'], limit: 50 })).items;
    markupId = dead.find((m) => m.correlationId === MARKUP_HEADER)!.id;
    expect(dead.filter((m) => m.lastError?.code === 'DOWNSTREAM_UNAVAILABLE')).toHaveLength(4);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close().catch(() => {});
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    context.setDefaultTimeout(WAIT);
    context.setDefaultNavigationTimeout(WAIT);
    contexts.push(context);
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return page;
  }

  async function login(page: Page, name: keyof typeof PASSWORDS): Promise<void> {
    await page.goto(`${base}/admin`);
    await page.locator('#login-name').fill(name);
    await page.locator('#login-password').fill(PASSWORDS[name]);
    await page.locator('#login-form button[type=submit]').click();
    await expect.poll(() => page.locator('#who-name').textContent(), { timeout: WAIT }).toBe(name);
  }

  async function noMarkupRan(page: Page): Promise<void> {
    expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  }

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });

  it('serves the page and its files with their content types and the admin security headers', async () => {
    const page = await fetch(`${base}/admin`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(await page.text()).toContain('/admin/assets/app.js');
    const js = await fetch(`${base}/admin/assets/app.js`);
    expect([js.status, js.headers.get('content-type'), js.headers.get('x-content-type-options')]).toEqual([200, 'text/javascript; charset=utf-8', 'nosniff']);
    expect((await fetch(`${base}/admin/assets/console.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${base}/admin/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/admin/assets/..%2Fconsole%2Findex.html`)).status).toBe(400);
  });

  it('a one-time login link opens the console as admin, once', async () => {
    const made = await fetch(`${base}/admin/api/session/links`, { method: 'POST', headers: { authorization: `Bearer ${CONSOLE_TOKEN}` } });
    const { url } = (await made.json()) as { url: string };
    expect(url.startsWith(`${base}/admin/login?code=`)).toBe(true);
    const page = await newPage();
    await page.goto(url);
    await expect.poll(() => page.locator('#who-name').textContent(), { timeout: WAIT }).toBe('login-link');
    expect(await page.locator('#who-role').textContent()).toBe('admin');
    await expect.poll(() => page.locator('#flows').textContent(), { timeout: WAIT }).toContain('admin-orders');
    // Used up: a second browser opening it gets a 401 problem, and no session.
    const other = await newPage();
    const again = await other.goto(url);
    expect(again?.status()).toBe(401);
    await noMarkupRan(page);
  });

  it('an operator finds the dead letters of the outage, brings the service back, replays the group and sees them delivered', async () => {
    const page = await newPage();
    await page.goto(`${base}/admin`);
    await page.locator('#login-form').waitFor();
    await shot(page, 'login');
    await login(page, 'olga');
    await expect.poll(() => page.locator('#flows tbody tr').count()).toBe(1);
    await expect.poll(() => page.locator('#flows').textContent()).toContain('admin-orders');
    await shot(page, 'flows');

    await page.locator('nav a', { hasText: 'Dead letters' }).click();
    const group = page.locator('.group[data-code="DOWNSTREAM_UNAVAILABLE"]');
    await expect.poll(() => group.locator('.count').getAttribute('data-count')).toBe('4');
    await group.locator('[data-action="show-messages"]').click();
    await expect.poll(() => group.locator('tbody tr').count()).toBe(4);
    await shot(page, 'dead-letters');

    downstream.failing = false;
    await group.locator('[data-action="replay-group"]').click();
    await group.locator('[data-action="confirm-replay-group"]').click();
    await expect.poll(() => group.locator('[data-result="group"]').textContent()).toMatch(/matched 4, replayed 4: delivered 4/);
    expect(downstream.bodies('/orders')).toHaveLength(4);

    await page.goto(`${base}/admin#/messages?flow=admin-orders&status=delivered`);
    await expect.poll(() => page.locator('#messages tbody tr').count()).toBe(4);
    await page.goto(`${base}/admin#/messages?flow=admin-orders`);
    await expect.poll(() => page.locator('#messages tbody tr').count()).toBe(9);
    expect(await page.locator('#messages .status-resolved').count()).toBe(4);
    await shot(page, 'messages');
    await noMarkupRan(page);
  });

  it('markup in a body, a header and an error text is shown as text and never runs', async () => {
    const page = await newPage();
    await login(page, 'olga');
    await page.goto(`${base}/admin#/message/${markupId}`);
    await page.locator('#message-body').waitFor();
    expect(await page.locator('#message-body').textContent()).toBe(MARKUP_BODY);
    expect(await page.locator('#message-headers').textContent()).toContain(MARKUP_HEADER);
    expect(await page.locator('.facts').textContent()).toContain(MARKUP_HEADER);
    expect(await page.locator('#message-error .err-code').textContent()).toBeTruthy();
    expect(await page.locator('#message-error').textContent()).toContain('<');
    expect(await page.locator('main img, main script, main b').count()).toBe(0);
    await expect.poll(() => page.locator('#message-timeline li').count()).toBeGreaterThan(1);
    await shot(page, 'message');
    // The order whose fields hold markup, in the list and on its own page.
    await page.goto(`${base}/admin#/messages?correlationId=console-4`);
    await page.locator('#messages tbody tr').first().locator('a').first().click();
    await expect.poll(() => page.locator('#message-body').textContent()).toContain('window.__xss=5');
    expect(await page.locator('main img, main script').count()).toBe(0);
    await noMarkupRan(page);
  });

  it('a viewer is offered no replay, and the API refuses one made with its session', async () => {
    const page = await newPage();
    await login(page, 'vic');
    await page.goto(`${base}/admin#/dead-letters`);
    const group = page.locator('.group').first();
    await group.waitFor();
    await group.locator('[data-action="show-messages"]').click();
    await expect.poll(() => group.locator('tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-action="replay-group"], [data-action="replay-one"], [data-action="replay-selected"]').count()).toBe(0);
    expect(await page.locator('nav a', { hasText: 'Audit' }).count()).toBe(0);
    await page.goto(`${base}/admin#/message/${markupId}`);
    await page.locator('#message-body').waitFor();
    expect(await page.locator('#message-body').textContent()).toMatch(/shown to operators and admins only/);
    expect(await page.locator('#replay-start, #edit-form').count()).toBe(0);

    const before = await hub.journal.get(markupId);
    const status = await page.evaluate(async (id) => {
      const session = (await (await fetch('/admin/api/session')).json()) as { csrfToken: string };
      const res = await fetch(`/admin/api/messages/${id}/replay`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken }, body: '{}' });
      return res.status;
    }, markupId);
    expect(status).toBe(403);
    expect((await hub.journal.get(markupId))?.replayedAs).toEqual(before?.replayedAs);
    await noMarkupRan(page);
  });

  it('an admin\'s edited body that fails the flow\'s schema is refused with the schema\'s errors beside the editor; nothing is sent', async () => {
    const page = await newPage();
    await login(page, 'alice');
    await page.goto(`${base}/admin#/message/${markupId}`);
    await page.locator('#edit-body').waitFor();
    const sent = downstream.received.length;
    const check = page.locator('#schema-check');
    // Checked as it is typed (a dry run: nothing booked, nothing sent), before any button is pressed.
    await page.locator('#edit-body').fill('{"orderId": "c-5", "qty": 0}');
    await expect.poll(() => check.getAttribute('data-state')).toBe('failed');
    expect(await check.textContent()).toMatch(/fails the flow's schema admin-order\.v1 \(nothing is sent\).*qty/);
    await page.locator('#edit-body').fill('{"orderId": "c-5", "qty": 5}');
    await expect.poll(() => check.getAttribute('data-state')).toBe('ok');
    expect(downstream.received.length).toBe(sent);
    await page.locator('#edit-body').fill('{"orderId": "", "qty": 0}');
    await page.locator('#edit-replay').click();
    await expect.poll(() => check.textContent()).toMatch(/Not sent: the body fails the flow's schema/);
    expect(await check.locator('li').count()).toBeGreaterThanOrEqual(2);
    expect(await check.textContent()).toMatch(/qty/);
    await shot(page, 'edit-and-replay');
    expect(downstream.received.length).toBe(sent);
    expect((await hub.journal.get(markupId))?.replayedAs).toEqual([]);

    // Fixed, it goes through.
    await page.locator('#edit-body').fill('{"orderId": "c-5", "qty": 5}');
    await page.locator('#edit-note').fill('the sender sent markup');
    await page.locator('#edit-replay').click();
    await expect.poll(() => page.locator('#replay-status').textContent()).toMatch(/replayed as \w+: delivered/);
    expect(downstream.bodies('/orders')).toContainEqual({ orderId: 'c-5', qty: 5 });

    await page.locator('nav a', { hasText: 'Audit' }).click();
    await expect.poll(() => page.locator('#audit tbody tr').count()).toBeGreaterThan(3);
    expect(await page.locator('#audit').textContent()).toMatch(/bulk-replay/);
    await shot(page, 'audit');
    await noMarkupRan(page);
  });

  it('an admin pauses the flow from the flows page (an operator is offered no button) and resumes it', async () => {
    const operator = await newPage();
    await login(operator, 'olga');
    await expect.poll(() => operator.locator('#flows tbody tr').count()).toBe(1);
    expect(await operator.locator('[data-action="pause-flow"], [data-action="resume-flow"]').count()).toBe(0);

    const page = await newPage();
    await login(page, 'alice');
    const state = page.locator('#flows .flow-state');
    await expect.poll(() => state.getAttribute('data-state')).toBe('running');
    // Rate and p99 of the deliveries in the last minute (the replays the tests before made).
    expect(await page.locator('#flows [data-field="rate"]').textContent()).toMatch(/^\d+\.\d\d$/);
    expect(await page.locator('#flows [data-field="p99"]').textContent()).toMatch(/^(\d+(\.\d)? ms|—)$/);
    await page.locator('[data-action="pause-flow"]').click();
    await expect.poll(() => state.getAttribute('data-state')).toBe('paused');
    expect(await state.textContent()).toMatch(/paused.*by alice/);
    expect(hub.runners[0]!.paused).toMatchObject({ by: 'alice' });
    await shot(page, 'flows-paused');
    await page.locator('[data-action="resume-flow"]').click();
    await expect.poll(() => state.getAttribute('data-state')).toBe('running');
    expect(hub.runners[0]!.paused).toBeUndefined();
    await noMarkupRan(page);
  });

  it('an admin archives a whole dead-letter group, with a reason; the console says when retention removes them', async () => {
    for (const n of [1, 2]) await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: '', qty: 0 })), { contentType: 'application/json', correlationId: `console-invalid-${n}` });
    await waitFor(async () => (await hub.journal.deadLetterGroups({ flow: 'admin-orders' })).some((g) => g.code === 'VALIDATION_FAILED' && g.count === 2), WAIT, 'two invalid orders dead');
    const page = await newPage();
    await login(page, 'alice');
    await page.locator('nav a', { hasText: 'Dead letters' }).click();
    const group = page.locator('.group[data-code="VALIDATION_FAILED"]');
    await expect.poll(() => group.locator('.count').getAttribute('data-count')).toBe('2');
    await group.locator('[data-action="archive-group"]').click();
    await group.locator('[data-field="archive-reason"]').fill('test orders, nobody wants them');
    await group.locator('[data-action="confirm-archive-group"]').click();
    await expect.poll(() => group.locator('[data-result="archive-group"]').textContent()).toMatch(/matched 2, archived 2, failed 0; .*journal\.keep\.archived/);
    expect(await group.locator('.count').getAttribute('data-count')).toBe('0');
    await shot(page, 'dead-letters-archived');
    const archived = (await hub.journal.query({ flow: 'admin-orders', status: 'archived' })).items;
    expect(archived).toHaveLength(2);
    expect((await hub.journal.get(archived[0]!.id))?.timeline.at(-1)).toMatchObject({ type: 'archived', detail: 'archived by alice: test orders, nobody wants them' });
    expect((await hub.journal.deadLetterGroups({ flow: 'admin-orders' })).some((g) => g.code === 'VALIDATION_FAILED')).toBe(false);
    await noMarkupRan(page);
  });

  it('the flows and messages pages follow the live feed: a message that dies shows up without a reload', async () => {
    const flows = await newPage();
    await login(flows, 'vic');
    const received = flows.locator('#flows [data-field="received"]');
    await expect.poll(() => received.count()).toBe(1);
    const before = Number(await received.textContent());
    const page = await newPage();
    await login(page, 'vic');
    await page.goto(`${base}/admin#/messages?flow=admin-orders&status=dead`);
    await page.locator('#message-results').waitFor();
    await expect.poll(() => page.locator('#message-results').textContent()).toMatch(/No message matches|Id/);
    const rows = await page.locator('#messages tbody tr').count();
    await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: '', qty: 0 })), { contentType: 'application/json', correlationId: 'console-live' });
    await expect.poll(() => page.locator('#messages tbody tr').count(), { timeout: WAIT }).toBe(rows + 1);
    await expect.poll(() => received.textContent().then(Number), { timeout: WAIT }).toBe(before + 1);
    await noMarkupRan(page);
  });

  it('an admin replays a selection of a group straight to another sink of the flow (an operator is offered no such choice)', async () => {
    downstream.failing = true;
    for (const n of [1, 2, 3]) await broker.publish('', queue, Buffer.from(JSON.stringify({ orderId: `to-sink-${n}`, qty: n })), { contentType: 'application/json', correlationId: `console-to-sink-${n}` });
    await waitFor(async () => (await hub.journal.deadLetterGroups({ flow: 'admin-orders' })).some((g) => g.code === 'DOWNSTREAM_UNAVAILABLE' && g.count === 3), WAIT, 'three orders dead');
    downstream.failing = false;
    const operator = await newPage();
    await login(operator, 'olga');
    await operator.locator('nav a', { hasText: 'Dead letters' }).click();
    await operator.locator('.group[data-code="DOWNSTREAM_UNAVAILABLE"] [data-action="replay-group"]').waitFor();
    expect(await operator.locator('[data-field="replay-to"]').count()).toBe(0);

    const page = await newPage();
    await login(page, 'alice');
    await page.locator('nav a', { hasText: 'Dead letters' }).click();
    const group = page.locator('.group[data-code="DOWNSTREAM_UNAVAILABLE"]');
    await group.locator('[data-action="show-messages"]').click();
    await expect.poll(() => group.locator('tbody tr').count()).toBe(3);
    await group.locator('[data-field="replay-to"]').selectOption('archive');
    await group.locator('tbody tr input[name="select"]').nth(0).check();
    await group.locator('tbody tr input[name="select"]').nth(1).check();
    const before = { orders: downstream.bodies('/orders').length, archive: downstream.bodies('/archive').length };
    await group.locator('[data-action="replay-selected"]').click();
    await expect.poll(() => downstream.bodies('/archive').length, { timeout: WAIT }).toBe(before.archive + 2);
    expect(downstream.bodies('/orders')).toHaveLength(before.orders);
    await expect.poll(async () => (await hub.journal.deadLetterGroups({ flow: 'admin-orders' })).find((g) => g.code === 'DOWNSTREAM_UNAVAILABLE')?.count).toBe(1);
    await noMarkupRan(page);
  });

  it('the Comparison page draws the newest hub compare report: blast radius, each phase for both styles, CPU and memory', async () => {
    const report = JSON.parse(readFileSync(COMPARE_REPORT, 'utf8')) as { id: string; phases: { id: string }[]; settings: { faulty: string }; styles: { style: string; phases: { phase: string; flows: { flow: string; errors: number; shed: number; latency?: { p99: number } }[] }[] }[] };
    const page = await newPage();
    await login(page, 'vic');
    await page.locator('nav a', { hasText: 'Comparison' }).click();
    await expect.poll(() => page.locator('#compare-id').textContent()).toContain(report.id);
    expect(await page.locator('#compare-blast tbody tr').count()).toBe(report.phases.length - 1);
    expect(await page.locator('table.compare-phase').count()).toBe(report.phases.length);
    // The faulty flow's row of the failing phase: its errors and p99 as the report has them, for both styles.
    const row = page.locator('table.compare-phase[data-phase="failing-downstream"] tbody tr', { hasText: report.settings.faulty });
    for (const style of report.styles) {
      const f = style.phases.find((p) => p.phase === 'failing-downstream')!.flows.find((x) => x.flow === report.settings.faulty)!;
      expect(Number(await row.locator(`[data-field="${style.style}-errors"]`).textContent())).toBe(f.errors + f.shed);
      expect(Number(await row.locator(`[data-field="${style.style}-errors"]`).textContent())).toBeGreaterThan(0);
    }
    expect(await page.locator('svg.bars rect.bar-hub').count()).toBeGreaterThan(10);
    expect(await page.locator('svg.bars rect.bar-mesh').count()).toBeGreaterThan(10);
    expect(await page.locator('#compare-processes tbody tr').count()).toBe(report.styles.reduce((a, s) => a + s.phases.length, 0));
    await shot(page, 'compare');
    await noMarkupRan(page);
  });
});
