import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../adapters/amqp/test-support.js';
import { builtinRegistry } from '../src/builtins.js';
import { defaultHubConfig } from '../src/config/hub-config.js';
import { PROJECT_ROOT } from '../src/config/paths.js';
import { Hub } from '../src/hub.js';
import { hashPassword } from '../src/kit/password.js';
import { Downstream } from './support/downstream.js';

// The console's trace view in a real browser (Chromium through playwright-core) against a real hub: an admin starts
// a trace of a flow, real HTTP orders go through it, and each shows step by step with its route, sink call and
// reply, then the trace ends at its limit; a viewer's trace shows the path and timings with every body masked. A
// body with markup is shown as text and never runs.

const CHROMIUM = process.env.HUB_TEST_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PORT = 22131;
const WAIT = 15_000;
const PASSWORDS = { alice: 'alice-admin-pw', vic: 'vic-viewer-pw' };
const FLOW = `name: traced-orders
source:
  rest: { method: POST, path: /h15/view }
steps:
  - transform: { jsonata: '{ "id": id, "total": qty * price, "note": note }' }
  - route:
      - when: 'total > 100'
        to: big
      - otherwise: small
sinks:
  big: { rest: { url: "\${env:SERVICE_URL}/big", timeout: 2s } }
  small: { rest: { url: "\${env:SERVICE_URL}/small", timeout: 2s } }
`;

describe('the console\'s trace view in Chromium', () => {
  const downstream = new Downstream();
  const work = mkdtempSync(join(tmpdir(), 'h15-trace-view-'));
  const base = `http://127.0.0.1:${PORT}`;
  const problems: string[] = [];
  let hub: Hub;
  let browser: Browser;

  const order = async (id: string, qty: number, note = ''): Promise<void> => {
    const res = await request(`${base}/h15/view`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, qty, price: 10, note }) });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run bash scripts/chromium.sh (npm test runs it), or set HUB_TEST_CHROMIUM`);
    const consoleDir = join(work, 'console');
    execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'build-console.mjs'), consoleDir], { stdio: 'inherit' });
    const service = await downstream.start(PORT + 1);
    downstream.failing = false;
    mkdirSync(join(work, 'flows'));
    writeFileSync(join(work, 'flows', 'traced-orders.yaml'), FLOW);
    const FAST = { N: 1 << 14, r: 8, p: 1 };
    hub = await Hub.build({
      config: defaultHubConfig({
        port: PORT,
        flowsDir: join(work, 'flows'),
        logLevel: 'silent',
        journal: { dir: join(work, 'journal') },
        admin: { token: undefined, users: [{ name: 'alice', role: 'admin', passwordHash: await hashPassword(PASSWORDS.alice, FAST) }, { name: 'vic', role: 'viewer', passwordHash: await hashPassword(PASSWORDS.vic, FAST) }] },
      }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, SERVICE_URL: service },
      consoleDir,
    });
    await hub.listen();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await hub?.stop();
    await downstream.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function loggedIn(name: keyof typeof PASSWORDS): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT);
    const page = await context.newPage();
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${base}/admin`);
    await page.locator('#login-name').fill(name);
    await page.locator('#login-password').fill(PASSWORDS[name]);
    await page.locator('#login-form button[type=submit]').click();
    await expect.poll(() => page.locator('#who-name').textContent(), { timeout: WAIT }).toBe(name);
    return page;
  }

  async function startTrace(page: Page, limit: number): Promise<void> {
    await page.goto(`${base}/admin#/trace?flow=traced-orders`);
    await page.locator('#trace-limit').fill(String(limit));
    await page.locator('#trace-start').click();
    await page.locator('[data-trace=running]').waitFor();
    await waitFor(() => hub.runners[0]!.traces === 1, WAIT, 'the trace to be open');
  }

  it('an admin follows messages step by step: outputs, the route, the sink call and its reply; the trace ends at its limit', async () => {
    const page = await loggedIn('alice');
    await page.goto(`${base}/admin#/flows`);
    await page.locator('#flows a[href="#/trace?flow=traced-orders"]').waitFor();
    await startTrace(page, 2);
    await order('V-1', 20, '<img src=x onerror="window.__xss=1">');
    await order('V-2', 1);
    await page.locator('[data-trace=ended]').waitFor();
    expect(await page.locator('#trace-state').textContent()).toContain('Ended (limit): 2 message(s) traced.');
    const cards = page.locator('.trace-message');
    expect(await cards.count()).toBe(2);
    const first = cards.nth(1);
    expect(await first.getAttribute('data-outcome')).toBe('delivered');
    expect(await first.locator('[data-route]').getAttribute('data-route')).toBe('big');
    expect(await first.locator('[data-step="0:transform"] .trace-text').first().textContent()).toBe('{"id":"V-1","total":200,"note":"<img src=x onerror=\\"window.__xss=1\\">"}');
    expect(await first.locator('[data-sink=big]').textContent()).toContain('{"ok":true}');
    expect(await cards.nth(0).locator('[data-route]').getAttribute('data-route')).toBe('small');
    expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(hub.runners[0]!.traces).toBe(0);
    await page.screenshot({ path: join(work, 'trace.png') });
    expect(problems).toEqual([]);
  });

  it('a viewer sees the path and timings, every body masked; leaving the page ends the trace', async () => {
    const page = await loggedIn('vic');
    await startTrace(page, 5);
    await order('SECRET-1', 50);
    await page.locator('.trace-message').waitFor();
    const card = page.locator('.trace-message').first();
    expect(await card.locator('[data-route]').getAttribute('data-route')).toBe('big');
    expect(await card.locator('[data-masked=true]').count()).toBeGreaterThan(2);
    expect(await card.textContent()).not.toContain('SECRET-1');
    await page.goto(`${base}/admin#/flows`);
    await waitFor(() => hub.runners[0]!.traces === 0, WAIT, 'the trace to end when the page is left');
    expect(problems).toEqual([]);
  });
});
