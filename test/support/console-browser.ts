/**
 * What the console's browser tests share: Debian's Chromium driven by playwright-core (scripts/chromium.sh installs
 * it), a console built for the test, pages that record dialogs and errors, logging in, and the users with their
 * passwords.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/paths.js';
import { hashPassword } from '../../src/kit/password.js';

export const CHROMIUM = process.env.HUB_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** What Chromium needs here, headless as root on a machine without outside network. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Every run saves its screenshots here (ignored by git); UPDATE_SCREENSHOTS=1 writes docs/screenshots/ instead. */
export const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(PROJECT_ROOT, 'docs', 'screenshots') : join(PROJECT_ROOT, 'test-results', 'screenshots');
export const BROWSER_WAIT = 15_000;
const FAST = { N: 1 << 14, r: 8, p: 1 };

export type UserName = 'olga' | 'vic' | 'alice';
export const PASSWORDS: Record<UserName, string> = { olga: 'olga-operator-pw', vic: 'vic-viewer-pw', alice: 'alice-admin-pw' };
const ROLES: Record<UserName, 'viewer' | 'operator' | 'admin'> = { olga: 'operator', vic: 'viewer', alice: 'admin' };

/** The admin users of the browser tests (hub.yaml's admin.users), their hashes made fast. */
export function consoleUsers(): Promise<{ name: string; role: 'viewer' | 'operator' | 'admin'; passwordHash: string }[]> {
  return Promise.all((Object.keys(PASSWORDS) as UserName[]).map(async (name) => ({ name, role: ROLES[name], passwordHash: await hashPassword(PASSWORDS[name], FAST) })));
}

/** Builds the console into `dir` (each test file its own copy), and makes the screenshot folder. */
export function buildConsole(dir: string): void {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run bash scripts/chromium.sh (npm test runs it), or set HUB_TEST_CHROMIUM`);
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'build-console.mjs'), dir], { stdio: 'inherit' });
  mkdirSync(SHOTS, { recursive: true });
}

/** A browser, its contexts, and what every page showed that it should not (dialogs, errors). */
export class ConsoleBrowser {
  browser: Browser | undefined;
  readonly contexts: BrowserContext[] = [];
  readonly dialogs: string[] = [];
  readonly pageErrors: string[] = [];
  /** Dialogs are dismissed, unless `accept` is set (a confirm the test means to answer yes). */
  accept = false;

  async launch(): Promise<void> {
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  }

  async newPage(): Promise<Page> {
    const context = await this.browser!.newContext({ viewport: { width: 1360, height: 860 } });
    context.setDefaultTimeout(BROWSER_WAIT);
    context.setDefaultNavigationTimeout(BROWSER_WAIT);
    this.contexts.push(context);
    const page = await context.newPage();
    page.on('dialog', (d) => {
      this.dialogs.push(d.message());
      void (this.accept ? d.accept() : d.dismiss());
    });
    page.on('pageerror', (e) => this.pageErrors.push(e.message));
    return page;
  }

  async close(): Promise<void> {
    for (const c of this.contexts) await c.close().catch(() => {});
    await this.browser?.close().catch(() => {});
  }
}

export async function login(page: Page, base: string, name: UserName): Promise<void> {
  await page.goto(`${base}/admin`);
  await page.locator('#login-name').fill(name);
  await page.locator('#login-password').fill(PASSWORDS[name]);
  await page.locator('#login-form button[type=submit]').click();
  await expect.poll(() => page.locator('#who-name').textContent(), { timeout: BROWSER_WAIT }).toBe(name);
}

export function shot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}
