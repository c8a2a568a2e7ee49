/**
 * The README's example flows: linted with the real linter, then run in a real hub against the legacy ERP simulator
 * and called by an independent SOAP client (the `soap` package) built from the WSDL the hub serves.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as soap from 'soap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/builtins.js';
import { defaultHubConfig } from '../../src/config/hub-config.js';
import { loadFlows } from '../../src/config/load-flows.js';
import { MessageSchemas } from '../../src/config/schema-validator.js';
import { Hub } from '../../src/hub.js';
import { startLegacyErp, type LegacyErp } from '../../sim/legacy-erp.js';
import { LIMITS, logger, ROOT } from './test-support.js';

const readme = readFileSync(join(ROOT, 'adapters/soap/README.md'), 'utf8');
const flows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const ENV = { PARTNER_SOAP_USER: 'partner', PARTNER_SOAP_PASSWORD: 'partner-secret', LEGACY_ERP_USERNAME: 'hub', LEGACY_ERP_PASSWORD: 'erp-secret' };

/** A project folder with the README flows in flows/ and the real schemas/ beside it (the flows name ../schemas/...). */
const root = mkdtempSync(join(tmpdir(), 'soap-readme-'));
const flowsDir = join(root, 'flows');
mkdirSync(flowsDir);
symlinkSync(join(ROOT, 'schemas'), join(root, 'schemas'), 'dir');
flows.forEach((text, i) => writeFileSync(join(flowsDir, `example-${i}.yaml`), text));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('soap adapter: README examples', () => {
  it('use every source and sink option', () => {
    const all = flows.join('\n');
    for (const key of ['path', 'wsdl', 'operations', 'operation', 'namespace', 'versions', 'soap12_sender_status', 'ws_security', 'username', 'password', 'password_type', 'max_age', 'nonce_cache_size']) {
      expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    }
    for (const key of ['url', 'operation', 'soap_action', 'version', 'namespace', 'element_form', 'timeout', 'headers', 'ws_security']) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
  });

  it('lint without errors, together (two flows share one SOAP path)', () => {
    expect(flows).toHaveLength(2);
    const result = loadFlows([flowsDir], { registry: builtinRegistry(), schemas: new MessageSchemas(join(ROOT, 'schemas')), logger, limits: LIMITS, env: ENV, mode: 'run' });
    expect(result.diagnostics).toEqual([]);
    expect(result.flows.map((f) => f.name).sort()).toEqual(['partner-order-status-soap', 'partner-orders-soap']);
  });

  it('the linter reports a REST route on the SOAP path and an operation taken twice', () => {
    writeFileSync(join(root, 'clash.yaml'), 'name: clash\nsource:\n  rest: { method: POST, path: /partner/orders }\n');
    writeFileSync(join(root, 'twice.yaml'), 'name: twice\nsource:\n  soap: { path: /partner/orders/, operation: GetOrderStatus }\n');
    const result = loadFlows([flowsDir, join(root, 'clash.yaml'), join(root, 'twice.yaml')], { registry: builtinRegistry(), schemas: new MessageSchemas(join(ROOT, 'schemas')), logger, limits: LIMITS, env: ENV, mode: 'validate' });
    const messages = result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
    expect(messages).toEqual(
      expect.arrayContaining([expect.stringMatching(/soap POST \/partner\/orders GetOrderStatus is already claimed/), expect.stringMatching(/clashes with http POST \/partner\/orders/)]),
    );
  });
});

describe('soap adapter: README flows in a running hub', () => {
  let erp: LegacyErp;
  let hub: Hub;
  let base: string;

  let journalDir: string;

  beforeAll(async () => {
    journalDir = mkdtempSync(join(tmpdir(), 'soap-readme-journal-'));
    erp = await startLegacyErp({ port: 0, credentials: { username: ENV.LEGACY_ERP_USERNAME, password: ENV.LEGACY_ERP_PASSWORD } });
    hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir, schemasDir: join(ROOT, 'schemas'), limits: LIMITS, logLevel: 'silent', shutdownGraceMs: 2000, journal: { dir: journalDir } }),
      registry: builtinRegistry(),
      logger,
      env: { ...ENV, LEGACY_ERP_URL: erp.url },
    });
    base = await hub.listen();
  });
  afterAll(async () => {
    await hub?.stop();
    await erp?.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  async function partner(version: '1.1' | '1.2', password = ENV.PARTNER_SOAP_PASSWORD): Promise<soap.Client> {
    const client = await soap.createClientAsync(`${base}/partner/orders?wsdl`, version === '1.2' ? { forceSoap12Headers: true } : {});
    client.setSecurity(new soap.WSSecurity(ENV.PARTNER_SOAP_USER, password, { passwordType: 'PasswordDigest' }));
    return client;
  }

  it('places an order in the ERP and reads its status back, over SOAP 1.1 and 1.2', async () => {
    for (const version of ['1.1', '1.2'] as const) {
      const client = await partner(version);
      const [placed] = await client.PlaceOrderAsync({ customerId: 'C-200', lines: [{ sku: 'A', qty: 3, price: 2.5 }] });
      expect(placed).toMatchObject({ status: 'ACCEPTED', total: 7.5 });
      expect(erp.orders.get(String(placed.orderId))).toMatchObject({ customerId: 'C-200', total: 7.5 });
      const [status] = await client.GetOrderStatusAsync({ orderId: placed.orderId });
      expect(status).toMatchObject({ orderId: placed.orderId, status: 'ACCEPTED', total: 7.5 });
    }
  });

  it('answers the ERP\'s Client fault and a bad partner password with faults', async () => {
    const client = await partner('1.1');
    const refused = await client.PlaceOrderAsync({ customerId: 'NOBODY', lines: [{ sku: 'A', qty: 1, price: 1 }] }).then(
      () => undefined,
      (e: { root?: any }) => e,
    );
    const fault = refused!.root.Envelope.Body.Fault;
    // The ERP refused the order: for the partner, a service behind the hub failed (the table's SOAP_FAULT_CLIENT is server-side).
    expect(fault.faultcode).toBe('soap:Server');
    // What the ERP said, and where it lives, stay in the hub's log and journal: the partner gets the message id.
    expect(fault.faultstring).toMatch(/^Downstream SOAP Client\/Sender fault\. Quote message id [0-9A-Z]{26} when reporting it\.$/);
    expect(fault.faultstring).not.toContain(erp.url);
    expect(JSON.stringify(fault.detail)).toContain('SOAP_FAULT_CLIENT');

    const intruder = await partner('1.1', 'guess');
    const denied = await intruder.GetOrderStatusAsync({ orderId: 'ERP-000001' }).then(
      () => undefined,
      (e: { root?: any }) => e,
    );
    expect(denied!.root.Envelope.Body.Fault.faultcode).toBe('soap:Client');
    expect(JSON.stringify(denied!.root.Envelope.Body.Fault.detail)).toContain('SECURITY_FAILED');
  });
});
