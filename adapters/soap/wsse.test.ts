import { randomBytes } from 'node:crypto';
import * as soap from 'soap';
import { describe, expect, it } from 'vitest';
import { buildEnvelope, headersForUs, parseEnvelope } from './envelope.js';
import { buildSecurityHeader, constantTimeEqual, passwordDigest, SecurityError, UsernameTokenVerifier, WSSE_NS } from './wsse.js';

function verify(verifier: UsernameTokenVerifier, header: string, now = Date.now()) {
  const parsed = parseEnvelope(buildEnvelope('1.1', '<x/>', header), { maxDepth: 16 });
  return verifier.verify(parsed.text, headersForUs(parsed, WSSE_NS, 'Security'), now);
}

const options = { username: 'u', password: 'pw', passwordType: 'any' as const, maxAgeMs: 300_000, nonceCacheSize: 2 };

describe('WS-Security UsernameToken', () => {
  it('computes the digest the `soap` package computes', () => {
    const nonce = randomBytes(16);
    expect(passwordDigest(nonce, '2024-01-01T00:00:00Z', 'pw')).toBe(soap.passwordDigest(nonce.toString('base64'), '2024-01-01T00:00:00Z', 'pw'));
  });

  it('accepts its own tokens and the `soap` package\'s', () => {
    const v = new UsernameTokenVerifier(options);
    expect(verify(v, buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'digest' }))).toEqual({ username: 'u' });
    expect(verify(v, buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'text' }))).toEqual({ username: 'u' });
    const theirs = new soap.WSSecurity('u', 'pw', { passwordType: 'PasswordDigest' }).toXML();
    expect(verify(v, theirs)).toEqual({ username: 'u' });
  });

  it('forgets the oldest nonces beyond its bound and the expired ones', () => {
    const v = new UsernameTokenVerifier(options);
    const first = randomBytes(16);
    const token = (nonce: Buffer, now: Date) => buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'digest', nonce, now });
    const t0 = Date.now();
    verify(v, token(first, new Date(t0)), t0);
    expect(() => verify(v, token(first, new Date(t0)), t0)).toThrow(SecurityError);
    verify(v, token(randomBytes(16), new Date(t0)), t0);
    verify(v, token(randomBytes(16), new Date(t0)), t0);
    // Three accepted with room for two: the first nonce is forgotten (its Created still being fresh is the price of a bound).
    expect(verify(v, token(first, new Date(t0)), t0)).toEqual({ username: 'u' });
  });

  it('refuses a replay whatever the spelling of its nonce, and a nonce that is not canonical base64', () => {
    const v = new UsernameTokenVerifier({ ...options, nonceCacheSize: 100 });
    const nonce = Buffer.from('replayed-nonce-1'); // 16 bytes: its base64 ends in "=="
    const token = buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'digest', nonce });
    const encoded = nonce.toString('base64');
    expect(encoded).toMatch(/==$/);
    expect(verify(v, token)).toEqual({ username: 'u' });
    const respell = (text: string) => token.replace(`>${encoded}<`, `>${text}<`);
    for (const spelling of [encoded, encoded.replace(/=+$/, ''), `${encoded.slice(0, 8)} ${encoded.slice(8)}`, `${encoded.slice(0, 8)}\n${encoded.slice(8)}`, `${encoded.slice(0, 8)}&#x20;${encoded.slice(8)}`, `${encoded.slice(0, 4)}!${encoded.slice(4)}`]) {
      expect(() => verify(v, respell(spelling)), JSON.stringify(spelling)).toThrow(SecurityError);
    }
    // Each spelling is refused as such even when its nonce is new, so none can reach the cache under another key.
    const fresh = randomBytes(16);
    const other = buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'digest', nonce: fresh });
    expect(() => verify(v, other.replace(fresh.toString('base64'), fresh.toString('base64').replace(/=+$/, '')))).toThrow(/not canonical base64/);
    expect(() => verify(v, other.replace(fresh.toString('base64'), ''))).toThrow(SecurityError);
    expect(verify(v, other)).toEqual({ username: 'u' });
  });

  it('refuses malformed tokens with SECURITY_FAILED', () => {
    const v = new UsernameTokenVerifier(options);
    const cases = [
      `<wsse:Security xmlns:wsse="${WSSE_NS}"/>`,
      `<wsse:Security xmlns:wsse="${WSSE_NS}"><wsse:UsernameToken><wsse:Username>u</wsse:Username></wsse:UsernameToken></wsse:Security>`,
      `<wsse:Security xmlns:wsse="${WSSE_NS}"><wsse:UsernameToken><wsse:Username>u</wsse:Username><wsse:Password Type="urn:other">pw</wsse:Password></wsse:UsernameToken></wsse:Security>`,
      buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'digest' }).replace(/<wsu:Created>[^<]*<\/wsu:Created>/, ''),
      buildSecurityHeader({ username: 'u', password: 'pw', passwordType: 'digest' }).replace(/<wsu:Created>[^<]*</, '<wsu:Created>yesterday<'),
    ];
    for (const c of cases) expect(() => verify(v, c)).toThrow(expect.objectContaining({ code: 'SECURITY_FAILED' }));
  });

  it('compares in constant time whatever the lengths', () => {
    expect(constantTimeEqual('a', 'a')).toBe(true);
    expect(constantTimeEqual('a', 'ab')).toBe(false);
  });
});
