/**
 * A real identity provider for the gateway's tests: a JWKS served over HTTP on loopback whose keys can be rotated
 * (added, removed) mid-run or taken down, and tokens signed with those keys by jose.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: Parameters<SignJWT['sign']>[0];
  publicJwk: JWK;
}

export class TestIdp {
  readonly issuer = 'https://idp.test';
  readonly keys: SigningKey[] = [];
  /** Every JWKS fetch the server answered (or refused). */
  fetches = 0;
  /** While true the JWKS URL answers 503. */
  down = false;
  #server: Server | undefined;
  #url = '';

  static async start(): Promise<TestIdp> {
    const idp = new TestIdp();
    await idp.rotate();
    idp.#server = createServer((req, res) => {
      idp.fetches++;
      if (idp.down) return void res.writeHead(503).end('down');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: idp.keys.map((k) => k.publicJwk) }));
    });
    await new Promise<void>((r) => idp.#server!.listen(0, '127.0.0.1', r));
    idp.#url = `http://127.0.0.1:${(idp.#server.address() as AddressInfo).port}/.well-known/jwks.json`;
    return idp;
  }

  get jwksUrl(): string {
    return this.#url;
  }

  /** Adds a new key (it signs from now on); with `drop`, the older keys leave the JWKS. */
  async rotate(drop = false): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `k${this.keys.length + 1}-${Math.random().toString(36).slice(2, 8)}`;
    const key = { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
    if (drop) this.keys.splice(0);
    this.keys.push(key);
    return key;
  }

  /** A token signed with `key` (default the newest), valid for 5 minutes unless `claims` says otherwise. */
  async token(claims: JWTPayload = {}, options: { key?: SigningKey; kid?: string } = {}): Promise<string> {
    const key = options.key ?? this.keys[this.keys.length - 1]!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.issuer, aud: 'orders', sub: 'partner-a', iat: now, exp: now + 300, scope: 'orders:write', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }
}
