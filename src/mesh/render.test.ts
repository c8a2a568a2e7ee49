import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { DestinationRule, ServiceEntry, VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
import { AuthorizationPolicy, PeerAuthentication, RequestAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../builtins.js';
import { main } from '../cli/main.js';
import { formatDiagnostics, hasErrors, loadFlows } from '../config/load-flows.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { MessageSchemas } from '../config/schema-validator.js';
import { renderManifests, type K8sObject, type RenderStyle } from './render.js';

// Every rendered object is checked against the Kubernetes OpenAPI and Istio CRD schemas, as kubernetes-models and
// @kubernetes-models/istio ship them (validate() throws on a schema violation; no cluster, no network).
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'networking.istio.io/v1/VirtualService': VirtualService,
  'networking.istio.io/v1/DestinationRule': DestinationRule,
  'networking.istio.io/v1/ServiceEntry': ServiceEntry,
  'security.istio.io/v1/PeerAuthentication': PeerAuthentication,
  'security.istio.io/v1/RequestAuthentication': RequestAuthentication,
  'security.istio.io/v1/AuthorizationPolicy': AuthorizationPolicy,
};

function validateObject(o: { apiVersion?: unknown; kind?: unknown } & Record<string, unknown>): void {
  const Model = MODELS[`${String(o.apiVersion)}/${String(o.kind)}`];
  if (!Model) throw new Error(`no schema for ${String(o.apiVersion)} ${String(o.kind)}`);
  new Model(o as never).validate();
}

const root = mkdtempSync(join(tmpdir(), 'hub-mesh-render-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const env = {
  ...process.env,
  LEGACY_ERP_URL: 'http://legacy-erp:8089/legacy-erp',
  SHIPPING_API_URL: 'http://rates.shipping.example.com',
  FULFILMENT_URL: 'http://fulfilment.warehouse.svc.cluster.local:8082/fulfilments',
  AMQP_URL: 'amqp://rabbitmq:5672',
  KAFKA_BROKERS: 'kafka:9092',
};

function load(paths: string[], withEnv: NodeJS.ProcessEnv = env): ReturnType<typeof loadFlows>['flows'] {
  const r = loadFlows(paths, { registry: builtinRegistry(), schemas: new MessageSchemas(join(PROJECT_ROOT, 'schemas')), logger: pino({ level: 'silent' }), limits: { bodyBytes: 1 << 20, maxDepth: 64 }, mode: 'run', env: withEnv });
  if (hasErrors(r)) throw new Error(formatDiagnostics(r.diagnostics));
  return r.flows;
}

const examples = [join(PROJECT_ROOT, 'flows'), join(PROJECT_ROOT, 'flows/brokers')];
const render = (style: RenderStyle, paths = examples) => renderManifests(load(paths), { style, image: 'registry.example.com/integration-hub:0.1.0', namespace: 'shop', registry: builtinRegistry(), env });
const find = (objects: K8sObject[], kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('hub mesh render', () => {
  it('mesh style: every example flow\'s objects pass the Kubernetes and Istio schemas', () => {
    const { files, warnings } = render('mesh');
    expect(files.map((f) => f.name)).toEqual(['erp-orders-to-kafka.yaml', 'fulfilment.yaml', 'kafka-orders-to-regions.yaml', 'order-status-api.yaml', 'orders-api.yaml', 'partner-quotes-api.yaml', 'shipping-quote-soap.yaml', 'egress.yaml', 'mesh.yaml']);
    let count = 0;
    for (const f of files) for (const o of f.objects) (validateObject(o), count++);
    expect(count).toBeGreaterThan(25);
    expect(warnings).toEqual([]);
  });

  it('mesh style: a flow\'s Deployment runs it alone, with probes, resources, scrape annotations and its environment by reference', () => {
    const objects = render('mesh').files.find((f) => f.name === 'orders-api.yaml')!.objects;
    expect(objects.map((o) => o.kind)).toEqual(['ConfigMap', 'Deployment', 'Service', 'VirtualService', 'DestinationRule']);
    const d = find(objects, 'Deployment', 'orders-api');
    expect(d.metadata.namespace).toBe('shop');
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template;
    expect(pod.metadata.labels).toMatchObject({ app: 'orders-api', 'sidecar.istio.io/inject': 'true' });
    expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' });
    const c = pod.spec.containers[0];
    expect(c.args).toEqual(['run', '--flows', '/app/flows/orders-api.yaml', '--flow', 'orders-api', '--port', '8080']);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    expect(c.env).toContainEqual({ name: 'LEGACY_ERP_URL', valueFrom: { configMapKeyRef: { name: 'orders-api-env', key: 'LEGACY_ERP_URL', optional: true } } });
    expect(c.env).toContainEqual({ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'orders-api-secrets', key: 'REDIS_URL', optional: true } } });
    expect(find(objects, 'ConfigMap', 'orders-api-env').data).toEqual({ LEGACY_ERP_URL: 'http://legacy-erp:8089/legacy-erp' });
    expect(find(objects, 'Service', 'orders-api').spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }]);
  });

  it('the hub owning retries: the mesh is told to make one try (Istio would retry twice by default); the mesh owning them: its numbers', () => {
    const { files } = render('mesh');
    const hubOwned = find(files.find((f) => f.name === 'orders-api.yaml')!.objects, 'VirtualService', 'orders-api');
    expect(hubOwned.spec).toEqual({ hosts: ['orders-api.shop.svc.cluster.local'], http: [{ name: 'orders-api', route: [{ destination: { host: 'orders-api.shop.svc.cluster.local', port: { number: 8080 } } }], retries: { attempts: 0 } }] });
    const hubDr = find(files.find((f) => f.name === 'orders-api.yaml')!.objects, 'DestinationRule', 'orders-api');
    expect(hubDr.spec.trafficPolicy).toEqual({ tls: { mode: 'ISTIO_MUTUAL' } });
    const erp = files.find((f) => f.name === 'erp-orders-to-kafka.yaml')!.objects;
    // Three tries in the flow language are two retries in Istio's.
    expect(find(erp, 'VirtualService', 'erp-orders-to-kafka').spec.http[0]).toMatchObject({ timeout: '10s', retries: { attempts: 2, perTryTimeout: '3s', retryOn: '5xx,reset,connect-failure' } });
    const status = files.find((f) => f.name === 'order-status-api.yaml')!.objects;
    expect(find(status, 'VirtualService', 'order-status-api').spec.http[0]).toMatchObject({ timeout: '4s', retries: { attempts: 0 } });
    expect(find(status, 'DestinationRule', 'order-status-api').spec.trafficPolicy).toEqual({
      tls: { mode: 'ISTIO_MUTUAL' },
      connectionPool: { tcp: { maxConnections: 100 }, http: { http1MaxPendingRequests: 100 } },
      outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
    });
    // A broker-fed flow has no HTTP route to give the mesh: a Deployment and a Service (for /metrics), no routing rules.
    expect(files.find((f) => f.name === 'fulfilment.yaml')!.objects.map((o) => o.kind)).toEqual(['ConfigMap', 'Deployment', 'Service']);
    const fulfilment = find(files.find((f) => f.name === 'fulfilment.yaml')!.objects, 'Deployment', 'fulfilment');
    expect(fulfilment.spec.template.spec.containers[0].env).toContainEqual({ name: 'AMQP_URL', valueFrom: { configMapKeyRef: { name: 'fulfilment-env', key: 'AMQP_URL', optional: false } } });
  });

  it('egress: each HTTP peer\'s calls routed per calling flow; an external host gets a ServiceEntry; the mesh\'s circuit breaking in its DestinationRule', () => {
    const egress = render('mesh').files.find((f) => f.name === 'egress.yaml')!.objects;
    expect(egress.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
      'VirtualService egress-fulfilment-warehouse-svc-cluster-local-8082',
      'VirtualService egress-legacy-erp-8089',
      'DestinationRule egress-legacy-erp-8089',
      'ServiceEntry egress-rates-shipping-example-com-80',
      'VirtualService egress-rates-shipping-example-com-80',
    ]);
    const erp = find(egress, 'VirtualService', 'egress-legacy-erp-8089');
    expect(erp.spec.http.map((r: { name: string; match?: unknown; retries?: unknown }) => [r.name, r.match, r.retries])).toEqual([
      ['order-status-api', [{ sourceLabels: { app: 'order-status-api' } }], { attempts: 0 }],
      ['orders-api', [{ sourceLabels: { app: 'orders-api' } }], { attempts: 0 }],
      ['others', undefined, undefined],
    ]);
    expect(find(egress, 'ServiceEntry', 'egress-rates-shipping-example-com-80').spec).toEqual({ hosts: ['rates.shipping.example.com'], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 80, name: 'http-80', protocol: 'HTTP' }] });
  });

  it('hub style: one hub Deployment for every flow, one route per flow matched by its path, the same schemas', () => {
    const { files, warnings } = render('hub', [join(PROJECT_ROOT, 'flows')]);
    expect(files.map((f) => f.name)).toEqual(['hub.yaml', 'egress.yaml', 'mesh.yaml']);
    for (const f of files) for (const o of f.objects) validateObject(o);
    const hub = files[0]!.objects;
    expect(find(hub, 'Deployment', 'hub').spec.template.spec.containers[0].args).toEqual(['run', '--flows', '/app/flows', '--port', '8080']);
    const routes = find(hub, 'VirtualService', 'hub').spec.http;
    expect(routes.map((r: { name: string; match?: unknown }) => [r.name, r.match])).toEqual([
      ['order-status-api', [{ name: 'order-status-api', uri: { regex: '^/api/orders/[^/]+$' }, method: { exact: 'GET' } }]],
      ['orders-api', [{ name: 'orders-api', uri: { exact: '/api/orders' }, method: { exact: 'POST' } }]],
      ['partner-quotes-api', [{ name: 'partner-quotes-api', uri: { exact: '/api/partner/quotes' }, method: { exact: 'POST' } }]],
      ['shipping-quote-soap', [{ name: 'shipping-quote-soap', uri: { exact: '/soap/shipping' } }]],
      ['hub', undefined],
    ]);
    expect(routes[0]).toMatchObject({ timeout: '4s', retries: { attempts: 0 } });
    expect(warnings).toEqual([
      expect.stringMatching(/^order-status-api: in hub style one DestinationRule covers the whole hub/),
      expect.stringMatching(/^legacy-erp: flows order-status-api, orders-api give its calls different mesh retries or timeouts/),
    ]);
    expect(find(files[2]!.objects, 'PeerAuthentication', 'default').spec).toEqual({ mtls: { mode: 'STRICT' } });
  });

  it('secrets are referenced from a Secret by name, never rendered', () => {
    const dir = mkdtempSync(join(root, 'secret-'));
    writeFileSync(join(dir, 'secret-flow.yaml'), `name: secret-flow
source:
  rest: { method: POST, path: /secret }
steps:
  - to: erp
sinks:
  erp:
    rest:
      url: "http://erp:8080/x"
      headers: { authorization: "Bearer \${env:ERP_TOKEN}" }
service: {}
`);
    const secretEnv = { ...env, ERP_TOKEN: 'not-to-be-seen' };
    const { files } = renderManifests(load([dir], secretEnv), { style: 'mesh', image: 'hub:1', namespace: undefined, registry: builtinRegistry(), env: secretEnv });
    const text = JSON.stringify(files);
    expect(text).not.toContain('not-to-be-seen');
    const d = find(files[0]!.objects, 'Deployment', 'secret-flow');
    expect(d.spec.template.spec.containers[0].env).toContainEqual({ name: 'ERP_TOKEN', valueFrom: { secretKeyRef: { name: 'secret-flow-secrets', key: 'ERP_TOKEN' } } });
  });

  it('a password inside a URL is never rendered: a reference in its place, or a variable whose URL holds one, comes from the Secret', () => {
    const dir = mkdtempSync(join(root, 'url-secret-'));
    writeFileSync(join(dir, 'url-secret.yaml'), `name: url-secret
source:
  rest: { method: POST, path: /url-secret }
steps:
  - to: erp
  - to: rates
sinks:
  erp:
    rest: { url: "http://svc:\${env:ERP_PASSWORD}@erp:8080/x" }
  rates:
    rest: { url: "\${env:RATES_URL}" }
service: {}
`);
    const secretEnv = { ...env, ERP_PASSWORD: 'hunter2-erp', RATES_URL: 'https://user:pa55word@api.example/rates' };
    const { files, warnings } = renderManifests(load([dir], secretEnv), { style: 'mesh', image: 'hub:1', namespace: undefined, registry: builtinRegistry(), env: secretEnv });
    const text = JSON.stringify(files);
    expect(text).not.toContain('hunter2-erp');
    expect(text).not.toContain('pa55word');
    const c = find(files[0]!.objects, 'Deployment', 'url-secret').spec.template.spec.containers[0];
    expect(c.env).toContainEqual({ name: 'ERP_PASSWORD', valueFrom: { secretKeyRef: { name: 'url-secret-secrets', key: 'ERP_PASSWORD' } } });
    expect(c.env).toContainEqual({ name: 'RATES_URL', valueFrom: { secretKeyRef: { name: 'url-secret-secrets', key: 'RATES_URL' } } });
    expect(warnings).toContainEqual(expect.stringContaining('RATES_URL holds a URL with a password'));
  });

  it('the schema check is real: wrong objects are rejected', () => {
    const vs = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x' }, spec: { hosts: ['x'], http: [{ route: [{ destination: { host: 'x' } }], retries: { attempts: 'two' } }] } };
    expect(() => validateObject(vs)).toThrow(/retries\/attempts must be integer/);
    const dr = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'x' }, spec: { host: 'x', trafficPolicy: { outlierDetection: { maxEjectionPercent: 'half' } } } };
    expect(() => validateObject(dr)).toThrow(/maxEjectionPercent/);
    expect(() => validateObject({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICTER' } } })).toThrow(/allowed values/);
    expect(() => validateObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { template: {} } })).toThrow(/selector/);
  });

  it('`hub mesh render` writes multi-document YAML files, each document valid; bad options exit 2', async () => {
    const out = join(root, 'out');
    const lines: string[] = [];
    expect(await main(['mesh', 'render', '--style', 'hub', '--out', out, '--flows', join(PROJECT_ROOT, 'flows'), '--namespace', 'shop'], (s) => lines.push(s), () => {})).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['hub.yaml', 'mesh.yaml']);
    for (const name of readdirSync(out)) {
      for (const doc of parseAllDocuments(readFileSync(join(out, name), 'utf8'))) validateObject(doc.toJS() as K8sObject);
    }
    expect(lines.join('\n')).toMatch(/wrote hub\.yaml \(ConfigMap, Deployment, Service, VirtualService, DestinationRule\); mesh\.yaml \(PeerAuthentication\)/);
    const errs: string[] = [];
    expect(await main(['mesh', 'render', '--style', 'esb', '--out', out], () => {}, (s) => errs.push(s))).toBe(2);
    expect(await main(['mesh', 'render'], () => {}, (s) => errs.push(s))).toBe(2);
    expect(errs.join('\n')).toMatch(/--style is hub or mesh \(got "esb"\)[\s\S]*--out DIR/);
  });

  it('a flow that hands JWT checks to the mesh gets a RequestAuthentication and a DENY AuthorizationPolicy, mesh style on its pods, hub style on its path only', () => {
    const dir = mkdtempSync(join(root, 'mesh-jwt-'));
    writeFileSync(join(dir, 'partner-orders.yaml'), `name: partner-orders
source:
  rest:
    path: /api/partner/orders/:id
    auth:
      jwt: { jwks_url: "https://idp.example/jwks.json", issuer: "https://idp.example", audiences: [orders], scopes: [orders:write], owner: mesh }
steps: []
service: { name: partner-orders }
`);
    for (const style of ['mesh', 'hub'] as const) {
      const { files } = render(style, [dir]);
      const objects = files.flatMap((f) => f.objects);
      for (const o of objects) validateObject(o);
      const app = style === 'mesh' ? 'partner-orders' : 'hub';
      expect(find(objects, 'RequestAuthentication', 'partner-orders-jwt').spec).toEqual({
        selector: { matchLabels: { app } },
        jwtRules: [{ issuer: 'https://idp.example', jwksUri: 'https://idp.example/jwks.json', audiences: ['orders'], outputPayloadToHeader: 'x-jwt-payload', forwardOriginalToken: false }],
      });
      expect(find(objects, 'AuthorizationPolicy', 'partner-orders-require-jwt').spec).toEqual({
        selector: { matchLabels: { app } },
        action: 'DENY',
        rules: [
          { from: [{ source: { notRequestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/api/partner/orders/*'] } }] },
          { to: [{ operation: { paths: ['/api/partner/orders/*'] } }], when: [{ key: 'request.auth.claims[scope]', notValues: ['orders:write'] }] },
        ],
      });
    }
    // The example flows check their callers in the hub: nothing for the mesh to enforce.
    expect(render('mesh').files.flatMap((f) => f.objects).filter((o) => o.kind === 'RequestAuthentication')).toEqual([]);
  });
});
