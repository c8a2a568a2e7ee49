/**
 * The admin's fixed names and numbers: where it is served, its cookie and CSRF header, its roles, and the bounds of
 * bulk requests. The routes, the security checks, the operations and the CLI's admin client read them from here.
 */

/** Everything the admin serves is under this path (the API, its docs, the console). */
export const ADMIN_ROOT = '/admin';
export const ADMIN_PREFIX = '/admin/api';
export const DOCS_PATH = '/admin/docs';
/** What a console asset (/admin/assets/NAME) may be called: one plain file name, no folders. */
export const CONSOLE_ASSET_NAME = '^[a-z0-9][a-z0-9-]*\\.(js|css|svg|png)$';

/** The session cookie: HttpOnly, Secure, SameSite=Strict, Path=/admin. */
export const SESSION_COOKIE = 'hub_session';
export const CSRF_HEADER = 'X-CSRF-Token';

/** Roles of admin users, each allowed what the one before it is, and more. */
export const ADMIN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** Whether `role` is allowed what `needed` is. */
export function roleAllows(role: AdminRole, needed: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(role) >= ADMIN_ROLES.indexOf(needed);
}

export const ROLE_DESCRIPTIONS: Record<AdminRole, string> = {
  viewer: 'reads flows, messages (bodies and header values masked), dead letters and the replay audit',
  operator: 'what a viewer may, with whole bodies, and replays (stored bodies, through the flow)',
  admin: 'everything: edited replays and their dry run, replays straight to a sink, pausing and resuming flows, archiving and deleting records, the admin audit',
};

/** Most messages one bulk replay (or bulk archive) takes on. */
export const BULK_MAX = 10_000;
export const BULK_DEFAULT = 1_000;
