/** What the console's pages share: the session context, role checks, error text, headings and reading pages of messages. */
import { ApiError, call, qs, type ErrorInfo, type MessagePage, type MessageStatus, type ReplayResult, type Role, type Session } from './api.js';
import { h, type Child } from './dom.js';

export interface Ctx {
  session: Session;
}

const ROLES: Role[] = ['viewer', 'operator', 'admin'];
/** Every message status, in the journal's order; a Record so that the compiler holds it to MessageStatus exactly. */
const STATUS_ORDER: Record<MessageStatus, true> = { received: true, delivered: true, failed: true, 'waiting-for-retry': true, dead: true, resolved: true, archived: true };
export const STATUSES = Object.keys(STATUS_ORDER) as MessageStatus[];
/** How often the dead-letters page asks how a group's replay job is going. */
/** How often a replay job's progress is read. */
export const JOB_POLL_MS = 500;

export function can(ctx: Ctx, role: Role): boolean {
  return ROLES.indexOf(ctx.session.role) >= ROLES.indexOf(role);
}

export function errorText(err: unknown): string {
  return err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
}

export function errorCell(e: Partial<ErrorInfo> | undefined): Child[] {
  if (!e) return [];
  return [h('code', { class: 'err-code' }, e.code ?? ''), e.step ? h('span', { class: 'muted' }, ` at ${e.step}`) : null, h('div', { class: 'err-text' }, e.message ?? '')];
}

export function heading(title: string, ...extra: Child[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', {}, title), ...extra);
}

export function outcomeText(r: ReplayResult): string {
  if (r.duplicate) return `already replayed as ${r.newId} (nothing sent again)`;
  return `replayed as ${r.newId}: ${r.outcome ?? 'sent'}${r.error ? ` (${r.error.code}: ${r.error.message})` : ''}`;
}

/** Empty pages (with a `next`) read on before the console shows one as it is. */
const EMPTY_PAGES_FOLLOWED = 10;

/** A page of messages; one that comes back empty with a `next` (each call scans a bounded number of records) is read on. */
export async function readMessages(query: Record<string, string | number | undefined>): Promise<MessagePage> {
  let page = await call<MessagePage>('GET', `/messages${qs(query)}`);
  for (let i = 0; page.items.length === 0 && page.next && i < EMPTY_PAGES_FOLLOWED; i++) page = await call<MessagePage>('GET', `/messages${qs({ ...query, cursor: page.next })}`);
  return page;
}
