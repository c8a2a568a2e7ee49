/**
 * `hub admin hash-password`: reads a password on stdin and prints its hash for hub.yaml's admin.users[].password_hash.
 */
import { ConfigError } from '../core/errors.js';
import { hashPassword } from '../kit/password.js';
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
  summary: 'Set up the admin API: hash-password.',
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
  ],
});
