/**
 * The admin token a hub makes for itself when none is configured: at its first start `hub run` writes a random token
 * to `<state dir>/admin-token`, readable and writable by the hub's own user only (0600; a folder it makes is 0700), and keeps
 * using it at every later start. The CLI of the same user on the same machine reads it from there (a process of
 * another user cannot: being on the machine makes no one admin). A file that others may read is refused, not used.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface StateToken {
  token: string;
  file: string;
  /** True when this start made it (the first start): then the hub prints it once. */
  created: boolean;
}

/** The token file of a state folder. */
export function adminTokenFile(stateDir: string): string {
  return join(stateDir, ADMIN_TOKEN_FILE);
}

/** The token in `stateDir`, made (256 random bits) when there is none yet. Throws ConfigError when the file is unsafe or unreadable. */
export function ensureAdminToken(stateDir: string): StateToken {
  const file = adminTokenFile(stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  // Written whole to a file of its own, then linked in place (which fails if a token is there already): two hubs
  // starting at once in one folder (flow services) end up with one token, and neither ever reads a half-written one.
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(draft, 'wx', 0o600);
    try {
      writeSync(fd, `${token}\n`);
    } finally {
      closeSync(fd);
    }
    // The umask may have taken bits away, never added any; set it exactly all the same.
    chmodSync(draft, 0o600);
    linkSync(draft, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unusable(file, err);
    return { token: readAdminToken(stateDir, { strict: true })!, file, created: false };
  } finally {
    rmSync(draft, { force: true });
  }
  return { token, file, created: true };
}

/**
 * The token kept in `stateDir`, or undefined when there is none (or, unless `strict`, when this user may not read
 * it). A file of another user, or one that its group or others may read, is refused: ConfigError.
 */
export function readAdminToken(stateDir: string, options: { strict?: boolean } = {}): string | undefined {
  const file = adminTokenFile(stateDir);
  let text: string;
  try {
    const stat = statSync(file);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) throw new ConfigError('ADMIN_TOKEN_UNSAFE', `the admin token file ${file} belongs to another user (uid ${stat.uid}); run the hub and its commands as one user, or set HUB_ADMIN_TOKEN`);
    if ((stat.mode & 0o077) !== 0) {
      throw new ConfigError('ADMIN_TOKEN_UNSAFE', `the admin token file ${file} may be read by others (mode ${(stat.mode & 0o777).toString(8)}); make it private with chmod 600 ${file}, or delete it to have the hub make a new token`);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (!options.strict && (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM')) return undefined;
    throw unusable(file, err);
  }
  const token = text.trim();
  if (token.length < 16) throw new ConfigError('ADMIN_TOKEN_UNSAFE', `the admin token file ${file} holds no token of 16 characters or more; delete it to have the hub make a new one`);
  return token;
}

function unusable(file: string, err: unknown): ConfigError {
  return new ConfigError('ADMIN_TOKEN_UNSAFE', `cannot use the admin token file ${file}: ${(err as Error).message}; set state_dir (or HUB_STATE_DIR) to a folder of the hub's own, or set HUB_ADMIN_TOKEN`, { cause: err });
}
