/**
 * A simulated legacy ERP: the SOAP 1.1 order service of schemas/wsdl/legacy-erp.wsdl, served by the independent
 * `soap` package (so the hub's SOAP sink is tested against a toolkit it does not share code with).
 *
 *   node dist/sim/legacy-erp.js [--port 8089] [--host 0.0.0.0]
 *   LEGACY_ERP_USERNAME=erp LEGACY_ERP_PASSWORD=secret node dist/sim/legacy-erp.js   # require WS-Security
 *
 * Operations: PlaceOrder (status ACCEPTED), SubmitOrderForApproval (status PENDING_APPROVAL, for large orders),
 * GetOrderStatus. Orders live in memory. An unknown customer, a line with qty <= 0 or an unknown order id is a
 * Client fault; customer "BROKEN" is a Server fault (something the caller should retry).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as soap from 'soap';

export interface LegacyErpOptions {
  /** 0 picks a free port. Default 8089. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default /legacy-erp. */
  path?: string;
  /** Default: schemas/wsdl/legacy-erp.wsdl of this project. */
  wsdlFile?: string;
  /** When given, every call needs a WS-Security UsernameToken with these credentials. */
  credentials?: { username: string; password: string; passwordType?: 'text' | 'digest' | 'any' };
  /** Customers the ERP knows. */
  customers?: string[];
}

export interface Order {
  orderId: string;
  customerId: string;
  status: 'ACCEPTED' | 'PENDING_APPROVAL';
  total: number;
  lines: { sku: string; qty: number; price: number }[];
}

export interface LegacyErp {
  /** The service endpoint, e.g. http://127.0.0.1:8089/legacy-erp. */
  url: string;
  /** The WSDL as the `soap` package serves it. */
  wsdlUrl: string;
  orders: ReadonlyMap<string, Order>;
  close(): Promise<void>;
}

export const DEFAULT_CUSTOMERS = ['C-100', 'C-200', 'C-300', 'ACME'];
const WSSE_DIGEST = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

function findWsdl(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'schemas', 'wsdl', 'legacy-erp.wsdl');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('schemas/wsdl/legacy-erp.wsdl not found above sim/; pass wsdlFile');
}

interface SoapFaultThrown {
  Fault: { faultcode: string; faultstring: string; detail: unknown; statusCode: number };
}

/** SOAP 1.1 faults need an explicit 500: the `soap` package answers 200 when a Fault names no status. */
function fault(side: 'Client' | 'Server', code: string, message: string): SoapFaultThrown {
  return { Fault: { faultcode: `soap:${side}`, faultstring: message, detail: { ErpFault: { attributes: { xmlns: 'urn:example:legacy-erp' }, code, message } }, statusCode: 500 } };
}

function text(value: unknown): string {
  if (value !== null && typeof value === 'object' && '$value' in value) return String((value as { $value: unknown }).$value);
  return value === undefined || value === null ? '' : String(value);
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export async function startLegacyErp(options: LegacyErpOptions = {}): Promise<LegacyErp> {
  const path = options.path ?? '/legacy-erp';
  const xml = readFileSync(options.wsdlFile ?? findWsdl(), 'utf8');
  const customers = new Set(options.customers ?? DEFAULT_CUSTOMERS);
  const orders = new Map<string, Order>();
  let seq = 0;

  const place = (args: Record<string, unknown>, status: Order['status']): Omit<Order, 'customerId' | 'lines'> => {
    const customerId = text(args?.customerId).trim();
    if (customerId === 'BROKEN') throw fault('Server', 'ERP_DOWN', 'the order database is not available; try again later');
    if (!customers.has(customerId)) throw fault('Client', 'UNKNOWN_CUSTOMER', `unknown customer "${customerId}"`);
    const lines = asArray(args.lines as Record<string, unknown> | Record<string, unknown>[] | undefined).map((l) => ({
      sku: text(l.sku),
      qty: Number(text(l.qty)),
      price: Number(text(l.price)),
    }));
    if (lines.length === 0) throw fault('Client', 'NO_LINES', 'an order needs at least one line');
    const bad = lines.find((l) => !Number.isFinite(l.qty) || l.qty <= 0 || !Number.isFinite(l.price) || l.price < 0);
    if (bad) throw fault('Client', 'BAD_LINE', `line ${bad.sku}: qty must be > 0 and price >= 0`);
    const total = Math.round(lines.reduce((sum, l) => sum + l.qty * l.price, 0) * 100) / 100;
    const orderId = `ERP-${String(++seq).padStart(6, '0')}`;
    orders.set(orderId, { orderId, customerId, status, total, lines });
    return { orderId, status, total };
  };

  // Checked in each operation rather than with the package's `authenticate` hook: that hook answers a failure with a
  // SOAP 1.2-style Fault inside a SOAP 1.1 envelope, which is not what a real ERP would send.
  const credentials = options.credentials;
  const seen = new Set<string>();
  const authenticate = (headers: any): void => {
    if (!credentials) return;
    const token = headers?.Security?.UsernameToken;
    if (!token) throw fault('Client', 'AUTHENTICATION_FAILED', 'a wsse:Security header with a UsernameToken is required');
    const username = text(token.Username);
    const password = text(token.Password);
    const type = token.Password?.attributes?.Type as string | undefined;
    const nonce = text(token.Nonce);
    const created = text(token.Created);
    const allowed = credentials.passwordType ?? 'any';
    let ok: boolean;
    if (type === WSSE_DIGEST) {
      if (allowed === 'text' || !nonce || !created) throw fault('Client', 'AUTHENTICATION_FAILED', 'PasswordDigest needs a Nonce and a Created timestamp');
      if (Math.abs(Date.now() - Date.parse(created)) > 5 * 60_000) throw fault('Client', 'AUTHENTICATION_FAILED', 'Created is stale');
      ok = sameSecret(username, credentials.username) && sameSecret(password, soap.passwordDigest(nonce, created, credentials.password));
    } else {
      if (allowed === 'digest') throw fault('Client', 'AUTHENTICATION_FAILED', 'PasswordDigest is required');
      ok = sameSecret(username, credentials.username) && sameSecret(password, credentials.password);
    }
    if (!ok) throw fault('Client', 'AUTHENTICATION_FAILED', 'invalid username or password');
    if (nonce) {
      if (seen.has(nonce)) throw fault('Client', 'AUTHENTICATION_FAILED', 'the Nonce was already used');
      seen.add(nonce);
    }
  };

  type Args = Record<string, unknown>;
  const services = {
    LegacyErpService: {
      LegacyErpPort: {
        PlaceOrder: (args: Args, _cb: unknown, headers: unknown) => (authenticate(headers), place(args, 'ACCEPTED')),
        SubmitOrderForApproval: (args: Args, _cb: unknown, headers: unknown) => (authenticate(headers), place(args, 'PENDING_APPROVAL')),
        GetOrderStatus: (args: Args, _cb: unknown, headers: unknown) => {
          authenticate(headers);
          const order = orders.get(text(args?.orderId).trim());
          if (!order) throw fault('Client', 'UNKNOWN_ORDER', `unknown order "${text(args?.orderId)}"`);
          return { orderId: order.orderId, status: order.status, total: order.total };
        },
      },
    },
  };

  const http: Server = createServer();
  soap.listen(http, { path, services, xml, suppressStack: true });
  await new Promise<void>((resolvePromise, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 8089, options.host ?? '127.0.0.1', () => resolvePromise());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}${path}`;
  return {
    url,
    wsdlUrl: `${url}?wsdl`,
    orders,
    close: () =>
      new Promise<void>((resolvePromise, reject) => {
        http.close((err) => (err ? reject(err) : resolvePromise()));
        http.closeAllConnections();
      }),
  };
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const username = process.env.LEGACY_ERP_USERNAME;
  const password = process.env.LEGACY_ERP_PASSWORD;
  const erp = await startLegacyErp({
    port: Number(argument('port') ?? process.env.LEGACY_ERP_PORT ?? 8089),
    host: argument('host') ?? process.env.LEGACY_ERP_HOST ?? '127.0.0.1',
    ...(username && password ? { credentials: { username, password } } : {}),
  });
  process.stdout.write(`legacy ERP listening at ${erp.url} (WSDL: ${erp.wsdlUrl})${username ? ', WS-Security required' : ''}\n`);
  const shutdown = (): void => {
    erp.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
