/**
 * The admin console: a single page served at /admin. It asks the API who is logged in (GET /admin/api/session),
 * shows the login form when nobody is, and draws the page the location's hash names (#/flows, #/messages?...,
 * #/message/ID, #/dead-letters, #/trace?flow=NAME, #/audit, #/compare). No framework, no inline script or style: it runs under the admin's
 * Content-Security-Policy (default-src 'self').
 */
import { ApiError, call, setSession, whenUnauthorized, type Session } from './api.js';
import { h, link, problemBox, replace } from './dom.js';
import { connect, disconnect, onLive } from './live.js';
import { comparePage } from './compare-page.js';
import { auditPage } from './audit-page.js';
import { deadLettersPage } from './dead-letters-page.js';
import { flowsPage } from './flows-page.js';
import { jobsPage } from './jobs-page.js';
import { messagePage } from './message-page.js';
import { messagesPage } from './messages-page.js';
import { tracePage } from './trace-page.js';
import { can, type Ctx } from './page-parts.js';

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;

let ctx: Ctx | undefined;
/** Each render gets a number: an answer that arrives after the user moved on is dropped. */
let renders = 0;

function showLogin(message?: string): void {
  ctx = undefined;
  setSession(undefined);
  disconnect();
  onLive({});
  nav.hidden = true;
  who.hidden = true;
  const name = h('input', { name: 'name', id: 'login-name', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { id: 'login-status', 'aria-live': 'polite' }, message ? problemBox(message) : null);
  const form = h('form', { class: 'login', id: 'login-form' },
    h('h1', {}, 'Log in'),
    h('label', {}, 'Name', name),
    h('label', {}, 'Password', password),
    h('button', { type: 'submit' }, 'Log in'),
    status,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const session = await call<Session>('POST', '/session', { name: name.value, password: password.value });
        password.value = '';
        start(session);
      } catch (err) {
        replace(status, problemBox(err instanceof ApiError ? err.message : String(err)));
      }
    })();
  });
  replace(main, form);
  name.focus();
}

function start(session: Session): void {
  ctx = { session };
  setSession(session);
  connect(() => showLogin('Your session has ended; log in again.'));
  const items: [string, string][] = [['/flows', 'Flows'], ['/messages', 'Messages'], ['/dead-letters', 'Dead letters'], ['/trace', 'Trace'], ['/compare', 'Comparison']];
  if (can(ctx, 'operator')) items.splice(3, 0, ['/jobs', 'Replay jobs']);
  if (can(ctx, 'admin')) items.push(['/audit', 'Audit']);
  replace(nav, items.map(([path, label]) => link(path, {}, label)), h('a', { href: '/admin/docs', class: 'muted' }, 'API'));
  nav.hidden = false;
  const logout = h('button', { type: 'button', id: 'logout', class: 'small' }, 'Log out');
  logout.addEventListener('click', () => {
    void call('DELETE', '/session').catch(() => undefined).then(() => showLogin());
  });
  replace(who, h('span', { id: 'who-name' }, session.user), ' ', h('span', { class: `badge role-${session.role}`, id: 'who-role' }, session.role), session.via === 'session' ? logout : null);
  who.hidden = false;
  if (!location.hash || location.hash === '#' || location.hash === '#/login') location.hash = '#/flows';
  else void render();
}

function markNav(path: string): void {
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('current', path.startsWith(a.getAttribute('href')?.slice(1) ?? '\u0000'));
}

async function render(): Promise<void> {
  if (!ctx) return;
  const mine = ++renders;
  const hash = location.hash.replace(/^#/, '') || '/flows';
  const [path = '/flows', query = ''] = hash.split('?', 2);
  const params = new URLSearchParams(query);
  markNav(path);
  onLive({});
  const target = h('div', { class: 'page' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(main, target);
  try {
    if (path === '/flows') await flowsPage(target, ctx);
    else if (path === '/messages') await messagesPage(target, params);
    else if (path.startsWith('/message/')) await messagePage(target, ctx, decodeURIComponent(path.slice('/message/'.length)));
    else if (path === '/dead-letters') await deadLettersPage(target, ctx, params);
    else if (path === '/audit' && can(ctx, 'admin')) await auditPage(target, params);
    else if (path === '/jobs' && can(ctx, 'operator')) await jobsPage(target, ctx, params);
    else if (path === '/trace') await tracePage(target, params);
    else if (path === '/compare') await comparePage(target, params);
    else replace(target, h('h1', {}, 'Not found'), h('p', {}, 'No such page. '), link('/flows', {}, 'Flows'));
  } catch (err) {
    if (mine !== renders) return;
    if (err instanceof ApiError && err.status === 401) return;
    replace(target, problemBox(err instanceof ApiError ? `${err.message} (${err.code})` : String(err)));
  }
  if (mine === renders) document.title = `${path.split('/')[1] ?? 'console'} · integration hub`;
}

whenUnauthorized(() => showLogin('Your session has ended; log in again.'));
window.addEventListener('hashchange', () => void render());

async function boot(): Promise<void> {
  try {
    start(await call<Session>('GET', '/session'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showLogin();
    else replace(main, problemBox(err instanceof ApiError ? err.message : String(err)));
  }
}

void boot();
