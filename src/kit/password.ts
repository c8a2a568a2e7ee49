/**
 * Password hashes for the admin users in hub.yaml: node:crypto's scrypt in one self-describing text,
 * `scrypt$N$r$p$salt$hash` (salt and hash in base64url), so the cost can be raised later without breaking the hashes
 * already written. `hub admin hash-password` prints one.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

export interface PasswordHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

/** 2^15 x 8 x 128 bytes = 32 MiB and some 50-100 ms a check: slow for a guesser, bearable for a login. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1 };

/** What a hash in hub.yaml may ask for: not weaker than 2^14, not so costly that a login could exhaust the hub's memory. */
const LIMITS = { minN: 1 << 14, maxN: 1 << 20, maxR: 32, maxP: 16, maxMemory: 1 << 30 };

const KEY_BYTES = 32;
const SALT_BYTES = 16;

export const PASSWORD_HASH_FORMAT = 'scrypt$N$r$p$salt$hash (from `hub admin hash-password`)';

function scrypt(password: string | Buffer, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCallback(password, salt, length, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A new hash of `password` with a random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(password.normalize('NFC'), salt, params, KEY_BYTES);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Parses a stored hash; throws an Error that says what is wrong with it (for the configuration's diagnostics). */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw new Error(`not a password hash of the form ${PASSWORD_HASH_FORMAT}`);
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,10}$/.test(s!) ? Number(s) : NaN)) as [number, number, number];
  if (!Number.isInteger(N) || N < LIMITS.minN || N > LIMITS.maxN || (N & (N - 1)) !== 0) throw new Error(`scrypt N must be a power of two from ${LIMITS.minN} to ${LIMITS.maxN} (got ${parts[1]})`);
  if (!Number.isInteger(r) || r < 1 || r > LIMITS.maxR) throw new Error(`scrypt r must be from 1 to ${LIMITS.maxR} (got ${parts[2]})`);
  if (!Number.isInteger(p) || p < 1 || p > LIMITS.maxP) throw new Error(`scrypt p must be from 1 to ${LIMITS.maxP} (got ${parts[3]})`);
  if (128 * N * r > LIMITS.maxMemory) throw new Error(`scrypt N x r asks for more than ${LIMITS.maxMemory >> 20} MiB per check`);
  const b64 = /^[A-Za-z0-9_-]+$/;
  if (!b64.test(parts[4]!) || !b64.test(parts[5]!)) throw new Error('the salt and the hash must be base64url');
  const salt = Buffer.from(parts[4]!, 'base64url');
  const hash = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8) throw new Error('the salt is shorter than 8 bytes');
  if (hash.length < 16) throw new Error('the hash is shorter than 16 bytes');
  return { N, r, p, salt, hash };
}

/** Whether `password` matches `stored`, compared in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const key = await scrypt(password.normalize('NFC'), stored.salt, stored, stored.hash.length);
  return timingSafeEqual(key, stored.hash);
}

/**
 * A hash no password matches (a random key of a random salt), with the given cost: checked against for an unknown
 * user name, so an unknown name takes as long as a wrong password and gets the same answer.
 */
export function decoyHash(params: ScryptParams = DEFAULT_SCRYPT): PasswordHash {
  return { ...params, salt: randomBytes(SALT_BYTES), hash: randomBytes(KEY_BYTES) };
}
