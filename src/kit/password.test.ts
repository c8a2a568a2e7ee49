import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { HubConfigError, loadHubConfig } from '../config/hub-config.js';
import { main } from '../cli/main.js';
import { DEFAULT_LOGIN_LIMITS, LoginLimiter } from '../admin/login-limiter.js';
import { DEFAULT_SCRYPT, hashPassword, parsePasswordHash, verifyPassword } from './password.js';
import { SessionStore } from '../admin/sessions.js';

const FAST = { N: 1 << 14, r: 8, p: 1 };

describe('password hashes', () => {
  it('scrypt$N$r$p$salt$hash: verifies the password, refuses others, a new salt each time', async () => {
    const text = await hashPassword('correct horse battery staple');
    expect(text).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    const hash = parsePasswordHash(text);
    expect(hash).toMatchObject(DEFAULT_SCRYPT);
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
    expect(await hashPassword('correct horse battery staple')).not.toBe(text);
    // The same text in either Unicode form.
    const cafe = parsePasswordHash(await hashPassword('caf\u00e9-password', FAST));
    expect(await verifyPassword('cafe\u0301-password', cafe)).toBe(true);
  });

  it('a malformed or too weak hash says what is wrong', () => {
    for (const [text, reason] of [
      ['plain-password', /not a password hash of the form scrypt\$N\$r\$p\$salt\$hash/],
      ['bcrypt$10$abc$def$ghi$jkl', /not a password hash/],
      ['scrypt$1024$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', /N must be a power of two from 16384/],
      ['scrypt$20000$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', /power of two/],
      ['scrypt$16384$0$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', /r must be/],
      ['scrypt$1048576$16$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', /more than 1024 MiB/],
      ['scrypt$16384$8$1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA', /salt is shorter/],
      ['scrypt$16384$8$1$c2FsdHNhbHRzYWx0$a+b/', /base64url/],
    ] as const) {
      expect(() => parsePasswordHash(text), text).toThrow(reason);
    }
  });
});

describe('login limiter and sessions (a clock of their own)', () => {
  it('5 failures in the window, then refused until the oldest leaves it; a success takes its attempt back', () => {
    let now = 0;
    const limiter = new LoginLimiter(DEFAULT_LOGIN_LIMITS, () => now);
    const k = (...keys: string[]) => keys.map((key) => ({ key, max: 5, windowMs: 60_000 }));
    for (let i = 0; i < 5; i++) {
      expect(limiter.begin(k('addr:a', 'user:u')).ok).toBe(true);
      now += 1000;
    }
    expect(limiter.begin(k('addr:b', 'user:u'))).toEqual({ ok: false, retryAfterMs: 55_000 });
    expect(limiter.begin(k('addr:a', 'user:v'))).toMatchObject({ ok: false });
    now = 60_001;
    const attempt = limiter.begin(k('addr:a', 'user:u'));
    expect(attempt.ok).toBe(true);
    if (attempt.ok) attempt.succeeded(['user:u']);
    // The user's failures are forgotten; the address keeps its four older ones within the window.
    for (let i = 0; i < 4; i++) expect(limiter.begin(k(`addr:c${i}`, 'user:u')).ok).toBe(true);
    expect(limiter.begin(k('addr:a', 'user:w')).ok).toBe(true);
    expect(limiter.begin(k('addr:a', 'user:x')).ok).toBe(false);
  });

  it('a session ends after its idle limit unused, or at its absolute limit', () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 100, absoluteMs: 250 }, () => now);
    const s = store.create('ada', 'admin');
    now = 99;
    expect(store.use(s.id)).toBe(s);
    now = 198;
    expect(store.use(s.id)).toBe(s);
    expect(store.expiry(s)).toEqual({ idle: new Date(250), absolute: new Date(250) });
    now = 249;
    expect(store.use(s.id)).toBe(s);
    now = 250;
    expect(store.use(s.id)).toBeUndefined();
    const t = store.create('ada', 'admin');
    now = 350;
    expect(store.use(t.id)).toBeUndefined();
    expect(store.use('made-up')).toBeUndefined();
    expect(store.size).toBe(0);
  });
});

describe('hub admin hash-password', () => {
  const run = async (stdin: string, args: string[] = ['hash-password']): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['admin', ...args], (s) => out.push(s), (s) => err.push(s), { stdin: Readable.from([Buffer.from(stdin)]) });
    return { code, out, err };
  };

  it('prints a hash of the password read on stdin (one trailing newline dropped)', async () => {
    const { code, out, err } = await run('a long enough passphrase\n');
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(await verifyPassword('a long enough passphrase', parsePasswordHash(out[0]!))).toBe(true);
  });

  it('refuses an empty password, warns about a short one, takes no password as an argument', async () => {
    expect(await run('')).toMatchObject({ code: 1, out: [], err: [expect.stringMatching(/^hub: CLI_BAD_INPUT: the password is empty/)] });
    const short = await run('short');
    expect(short.code).toBe(0);
    expect(short.err).toEqual([expect.stringContaining('shorter than 12')]);
    expect(await run('', ['hash-password', 'secret'])).toMatchObject({ code: 2, err: [expect.stringMatching(/^hub: CLI_BAD_ARGUMENTS: unexpected argument "secret"/), '', expect.stringContaining('hub admin hash-password')] });
    expect(await run('', ['hash'])).toMatchObject({ code: 2, err: ['hub: CLI_UNKNOWN_COMMAND: unknown command "hub admin hash"; hub admin takes hash-password or login-link', '', expect.any(String)] });
  });
});

describe('admin users in hub.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-config-users-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (yaml: string) => {
    const file = join(dir, 'hub.yaml');
    writeFileSync(file, yaml);
    return loadHubConfig({ config: file }, {}, dir);
  };

  it('reads users, roles, hashes and session limits (defaults 30m idle, 8h absolute)', async () => {
    const hash = await hashPassword('ada-password-1', FAST);
    const config = load(`admin:\n  users:\n    - { name: ada, role: admin, password_hash: "${hash}" }\n    - { name: vera, role: viewer, password_hash: "${hash}" }\n`);
    expect(config.admin).toEqual({ token: undefined, users: [{ name: 'ada', role: 'admin', passwordHash: hash }, { name: 'vera', role: 'viewer', passwordHash: hash }], session: { idleMs: 30 * 60_000, absoluteMs: 8 * 3600_000 } });
    expect(load('admin: { session: { idle: 5m, absolute: 1h } }\n').admin?.session).toEqual({ idleMs: 300_000, absoluteMs: 3_600_000 });
  });

  it('every problem with its line and column: unknown role, a password instead of a hash, a weak hash, a name twice', async () => {
    const hash = await hashPassword('x-password-123', FAST);
    const weak = 'scrypt$1024$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA';
    const yaml = [
      'admin:',
      '  users:',
      `    - { name: ada, role: root, password_hash: "${hash}" }`,
      '    - { name: bob, role: admin, password: hunter2 }',
      `    - { name: cy, role: viewer, password_hash: "${weak}" }`,
      `    - { name: cy, role: viewer, password_hash: "${hash}" }`,
      '',
    ].join('\n');
    let error: HubConfigError | undefined;
    try {
      load(yaml);
    } catch (e) {
      error = e as HubConfigError;
    }
    expect(error).toBeInstanceOf(HubConfigError);
    const lines = error!.diagnostics.map((d) => `${d.line}: ${d.message}`);
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^3: .*viewer.*operator.*admin/),
      expect.stringMatching(/^4: .*password/),
      expect.stringMatching(/^5: scrypt N must be a power of two .*hub admin hash-password/),
      expect.stringMatching(/^6: user "cy" is configured twice/),
    ]));
  });
});
