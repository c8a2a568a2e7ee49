/**
 * WS-Security UsernameToken Profile 1.0/1.1: building the header (sink) and verifying it (source).
 *
 * PasswordDigest = Base64(SHA-1(nonce bytes + Created + password)). A digest is only as good as its freshness and
 * replay checks, so the verifier requires Created within a window and refuses a nonce it has already accepted.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { PermanentError } from '../../src/core/errors.js';
import { attribute, child, escapeXml, textOf, type XmlElement } from './xml-tree.js';

export const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
export const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';
export const PASSWORD_TEXT = `${PROFILE}#PasswordText`;
export const PASSWORD_DIGEST = `${PROFILE}#PasswordDigest`;
const BASE64_BINARY = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

export type PasswordType = 'text' | 'digest';

export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')])).digest('base64');
}

/** Created/Expires are xsd:dateTime in UTC; whole seconds keep the widest interoperability. */
function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface UsernameTokenOptions {
  username: string;
  password: string;
  passwordType: PasswordType;
  /** The prefix bound to the envelope namespace, for soap:mustUnderstand. */
  envelopePrefix?: string;
  now?: Date;
  nonce?: Buffer;
}

/** A wsse:Security header block with a UsernameToken, a fresh 16-byte nonce and a Created timestamp. */
export function buildSecurityHeader(options: UsernameTokenOptions): string {
  const created = timestamp(options.now ?? new Date());
  const nonce = options.nonce ?? randomBytes(16);
  const prefix = options.envelopePrefix ?? 'soap';
  const password =
    options.passwordType === 'digest'
      ? `<wsse:Password Type="${PASSWORD_DIGEST}">${passwordDigest(nonce, created, options.password)}</wsse:Password>`
      : `<wsse:Password Type="${PASSWORD_TEXT}">${escapeXml(options.password)}</wsse:Password>`;
  return (
    `<wsse:Security ${prefix}:mustUnderstand="1" xmlns:wsse="${WSSE_NS}" xmlns:wsu="${WSU_NS}">` +
    `<wsse:UsernameToken><wsse:Username>${escapeXml(options.username)}</wsse:Username>${password}` +
    `<wsse:Nonce EncodingType="${BASE64_BINARY}">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  );
}

/** Equality that takes the same time whatever the inputs (both are hashed first, so lengths do not leak either). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

export interface VerifierOptions {
  username: string;
  password: string;
  /** Which password forms are accepted: text, digest, or any of them. */
  passwordType: PasswordType | 'any';
  /** How old (or how far in the future, allowing for clock skew) Created may be, in ms. */
  maxAgeMs: number;
  /** Most nonces remembered for replay detection. */
  nonceCacheSize: number;
}

/**
 * The bytes of a Nonce, which must be canonical base64: padded, no white space or other characters inside, unused
 * bits zero. Node's decoder skips what it does not understand, so without this one nonce has many spellings, and a
 * replay cache keyed by the text would take each spelling of a captured token as new.
 */
function decodeNonce(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0 || bytes.toString('base64') !== text) throw new SecurityError('the Nonce is not canonical base64 (padded, with no white space inside)');
  return bytes;
}

/** Why a token was refused: `reason` is logged; the caller only learns `message`. */
export class SecurityError extends PermanentError {
  constructor(message: string, readonly reason: string = message) {
    super('SECURITY_FAILED', message);
  }
}

/**
 * Verifies UsernameTokens against one configured user. Keeps the nonces of accepted tokens until they could no
 * longer pass the freshness check, in a bounded, insertion-ordered cache (the oldest go first when it is full).
 */
export class UsernameTokenVerifier {
  readonly #options: VerifierOptions;
  readonly #nonces = new Map<string, number>();

  constructor(options: VerifierOptions) {
    this.#options = options;
  }

  /** Checks the Security header block(s) addressed to this node; throws SecurityError when it does not pass. */
  verify(text: string, securityHeaders: XmlElement[], now = Date.now()): { username: string } {
    if (securityHeaders.length === 0) throw new SecurityError('a wsse:Security header with a UsernameToken is required');
    if (securityHeaders.length > 1) throw new SecurityError('more than one wsse:Security header is addressed to this endpoint');
    const token = child(securityHeaders[0]!, WSSE_NS, 'UsernameToken');
    if (!token) throw new SecurityError('the wsse:Security header has no UsernameToken');
    const usernameEl = child(token, WSSE_NS, 'Username');
    const passwordEl = child(token, WSSE_NS, 'Password');
    if (!usernameEl || !passwordEl) throw new SecurityError('the UsernameToken needs a Username and a Password');
    const username = textOf(text, usernameEl).trim();
    const password = textOf(text, passwordEl);
    const type = attribute(passwordEl, undefined, 'Type') ?? PASSWORD_TEXT;
    const nonceEl = child(token, WSSE_NS, 'Nonce');
    const createdEl = child(token, WSU_NS, 'Created') ?? child(token, WSSE_NS, 'Created');
    const created = createdEl ? textOf(text, createdEl).trim() : undefined;
    let nonce: Buffer | undefined;
    if (nonceEl) {
      const encoding = attribute(nonceEl, undefined, 'EncodingType');
      if (encoding !== undefined && encoding !== BASE64_BINARY) throw new SecurityError(`Nonce EncodingType ${encoding} is not supported (use Base64Binary)`);
      nonce = decodeNonce(textOf(text, nonceEl).trim());
    }
    const allowed = this.#options.passwordType;
    let ok: boolean;
    if (type === PASSWORD_DIGEST) {
      if (allowed === 'text') throw new SecurityError('PasswordDigest is not accepted here; send PasswordText');
      if (nonce === undefined || created === undefined) throw new SecurityError('a PasswordDigest needs a Nonce and a Created timestamp');
      this.#checkFresh(created, now);
      const expected = passwordDigest(nonce, created, this.#options.password);
      ok = constantTimeEqual(username, this.#options.username) && constantTimeEqual(password.trim(), expected);
    } else if (type === PASSWORD_TEXT) {
      if (allowed === 'digest') throw new SecurityError('PasswordText is not accepted here; send PasswordDigest');
      if (created !== undefined) this.#checkFresh(created, now);
      ok = constantTimeEqual(username, this.#options.username) && constantTimeEqual(password, this.#options.password);
    } else {
      throw new SecurityError(`password Type ${type} is not supported`);
    }
    if (!ok) throw new SecurityError('invalid username or password', `invalid username or password for "${username}"`);
    // A nonce is remembered only once its token passed, so nobody can fill the cache without the password.
    // Keyed by the nonce's bytes (in their one canonical encoding), which is what the digest covers.
    if (nonce !== undefined) {
      const key = nonce.toString('base64');
      this.#evict(now);
      if (this.#nonces.has(key)) throw new SecurityError('the Nonce was already used (replay)', `replayed nonce for "${username}"`);
      this.#nonces.set(key, now + 2 * this.#options.maxAgeMs);
      while (this.#nonces.size > this.#options.nonceCacheSize) this.#nonces.delete(this.#nonces.keys().next().value!);
    }
    return { username };
  }

  #checkFresh(created: string, now: number): void {
    const at = Date.parse(created);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(created) || Number.isNaN(at)) {
      throw new SecurityError('Created is not an xsd:dateTime with a time zone');
    }
    if (Math.abs(now - at) > this.#options.maxAgeMs) throw new SecurityError('Created is outside the accepted time window (stale or from the future)');
  }

  #evict(now: number): void {
    for (const [nonce, expires] of this.#nonces) {
      if (expires > now) break;
      this.#nonces.delete(nonce);
    }
  }
}
