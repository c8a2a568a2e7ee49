/**
 * `hub admin hash-password`: reads a password on stdin and prints its hash for hub.yaml's admin.users[].password_hash.
 * `hub admin login-link`: asks a running hub for a one-time console login link.
 */
import { ConfigError } from '../core/errors.js';
import { hashPassword } from '../kit/password.js';
import { ADMIN_OPTIONS, withAdmin } from './admin-client.js';
import { command, group, type Io } from './args.js';

/** Reads a password: everything on a pipe (one trailing newline dropped), or one line typed at a terminal (echoed). */
async function readPassword(io: Io): Promise<string> {
  const input = io.stdin;
  if (input.isTTY) io.err('password (it will be shown as you type; pipe it in to avoid that): ');
  const chunks: Buffer[] = [];
  for await (const chunk of input) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    if (input.isTTY && String(chunk).includes('\n')) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return input.isTTY ? text.split(/\r?\n/)[0]! : text.replace(/\r?\n$/, '');
}

export const adminGroup = group({
  name: 'admin',
  summary: 'Set up the admin API: hash-password, login-link.',
  commands: [
    command({
      name: 'admin hash-password',
      summary: 'Read a password on stdin and print its hash for admin.users[].password_hash in hub.yaml.',
      usage: ['hub admin hash-password < PASSWORD'],
      description:
        'Read a password on stdin (everything piped in, as in printf %s "$PASSWORD" | hub admin hash-password, or one line typed at a terminal) and print its scrypt hash for admin.users[].password_hash in hub.yaml. It takes no password as an argument: an argument would show in `ps` and the shell\'s history.',
      options: {},
      async run(_values, _args, io) {
        const password = await readPassword(io);
        if (password === '') throw new ConfigError('CLI_BAD_INPUT', 'the password is empty (pipe it in: printf %s "$PASSWORD" | hub admin hash-password)');
        if (password.length < 12) io.err('hub admin hash-password: warning: a password shorter than 12 characters is easy to guess');
        io.out(await hashPassword(password));
        return 0;
      },
    }),
    command({
      name: 'admin login-link',
      summary: 'Print a one-time link that logs a browser in to the console as admin.',
      usage: ['hub admin login-link [--url URL] [--json]'],
      description:
        'Ask the running hub (with the admin token: HUB_ADMIN_TOKEN, or for a hub on this machine the one in its state folder) for a one-time login link to the console: whoever opens it first, within 15 minutes, gets an admin session; it works once.',
      options: { url: ADMIN_OPTIONS.url, json: ADMIN_OPTIONS.json },
      async run(values, _args, io) {
        return withAdmin({ url: values.url, user: undefined }, io.env, async (api) => {
          const { data } = await api.call<{ url: string; expiresAt: string }>('POST', '/session/links');
          io.out(values.json ? JSON.stringify(data, null, 2) : `${data.url}\n(usable once, until ${data.expiresAt})`);
          return 0;
        });
      },
    }),
  ],
});
