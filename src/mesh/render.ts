import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, posix, relative, resolve, sep } from 'node:path';
import type { IConfigMap, IService } from 'kubernetes-models/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IDestinationRule, IServiceEntry, IVirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
import type { IPeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import { parse } from 'yaml';
import type { FlowDefinition } from '../config/load-flows.js';
import { hasUrlPassword, isSecretKey, urlPasswords } from '../config/env.js';
import type { Registry } from '../core/registry.js';
import type { CircuitBreakerPolicy, ConnectionPoolPolicy, Hop, MeshRetryPolicy, ServiceResources } from '../config/service.js';
import type { GatewayDefaults } from '../kit/gateway/guard.js';
import { meshAuthObjects } from './gateway.js';
import type { K8sObject } from './k8s-object.js';

// The object types come from the Kubernetes and Istio schemas (kubernetes-models, @kubernetes-models/istio: types
// only, erased at build): a misspelt or misplaced field fails the type check here, and the tests validate every
// rendered object against the same schemas at run time.

/** One Kubernetes object as rendered (in k8s-object.ts, so that gateway.ts can share it without a cycle). */
export type { K8sObject };

export type RenderStyle = 'hub' | 'mesh';

export interface RenderOptions {
  style: RenderStyle;
  image: string;
  namespace: string | undefined;
  /** The flows folder as seen inside the image (`--flows` of `hub run` in the container). Default: /app/ + the flows' folder relative to the working directory. */
  flowsInImage?: string;
  /** The registry the flows were loaded with (which schema properties are secrets). */
  registry: Registry;
  /** The environment rendered into ConfigMaps (not secrets: those are only referenced). */
  env?: NodeJS.ProcessEnv;
  /** hub.yaml's defaults for HTTP sources: a default `auth` handed to the mesh is rendered for each flow that takes it. */
  httpSources?: GatewayDefaults;
}

export interface RenderedFile {
  /** File name inside the output folder. */
  name: string;
  objects: K8sObject[];
}

export interface RenderResult {
  files: RenderedFile[];
  warnings: string[];
}

const PART_OF = 'integration-hub';
const HUB = 'hub';
/** The hub stops within its 10 s grace; the pod gets a little more before it is killed. */
const TERMINATION_GRACE_S = 20;

interface EnvRef {
  name: string;
  fallback: string | undefined;
  secret: boolean;
}

const REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const CREDENTIAL_HEADERS = /^(authorization|proxy-authorization|x-api-key|api-key)$/i;

/** The names of an adapter schema's properties marked "x-secret", wherever they are nested. */
function secretProperties(schema: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const s of schema) secretProperties(s, out);
  else if (schema && typeof schema === 'object') {
    const props = (schema as { properties?: Record<string, unknown> }).properties;
    if (props) for (const [k, v] of Object.entries(props)) if ((v as { 'x-secret'?: boolean })?.['x-secret']) out.add(k);
    for (const v of Object.values(schema)) if (v && typeof v === 'object') secretProperties(v, out);
  }
  return out;
}

/**
 * The environment a flow file refers to (`${env:NAME}`), read from the file as written: a reference under a
 * secret key (password, token, an x-secret property, a credential header) is a secret, to come from a Secret.
 */
export function envRefsOf(flow: FlowDefinition, registry: Registry): EnvRef[] {
  const raw = parse(readFileSync(resolve(flow.file), 'utf8')) as unknown;
  const secrets = new Set<string>();
  for (const a of registry.adapters) for (const side of [a.source, a.sink]) if (side) secretProperties(side.schema, secrets);
  const refs = new Map<string, EnvRef>();
  const walk = (v: unknown, key: string): void => {
    if (typeof v === 'string') {
      // A reference that is (or is in) the password of a URL is a secret whatever its key.
      const inPasswords = urlPasswords(v).map((p) => p.password).join(' ');
      for (const m of v.matchAll(REF)) {
        const name = m[1]!;
        const secret = isSecretKey(key) || CREDENTIAL_HEADERS.test(key) || secrets.has(key) || inPasswords.includes(m[0]);
        const prior = refs.get(name);
        refs.set(name, { name, fallback: prior?.fallback ?? m[2], secret: secret || (prior?.secret ?? false) });
      }
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(raw, '');
  return [...refs.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Istio durations are seconds with up to nine decimals ("1.5s"). */
const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))}s`;

function httpRetry(p: MeshRetryPolicy | undefined): NonNullable<NonNullable<NonNullable<IVirtualService['spec']>['http']>[number]['retries']> {
  // Without a retry policy Istio retries twice (connect-failure, refused-stream, unavailable, cancelled, 503): an
  // explicit `attempts: 0` keeps the mesh from stacking its tries on the hub's.
  if (!p || p.attempts <= 1) return { attempts: 0 };
  return { attempts: p.attempts - 1, ...(p.perTryTimeoutMs === undefined ? {} : { perTryTimeout: seconds(p.perTryTimeoutMs) }), retryOn: p.retryOn.join(',') };
}

function trafficPolicy(cb: CircuitBreakerPolicy | undefined, pool: ConnectionPoolPolicy | undefined): NonNullable<IDestinationRule['spec']>['trafficPolicy'] | undefined {
  if (!cb && !pool) return undefined;
  return {
    ...(pool
      ? {
          connectionPool: {
            ...(pool.maxConnections === undefined ? {} : { tcp: { maxConnections: pool.maxConnections } }),
            ...(pool.maxPendingRequests === undefined ? {} : { http: { http1MaxPendingRequests: pool.maxPendingRequests } }),
          },
        }
      : {}),
    ...(cb ? { outlierDetection: { consecutive5xxErrors: cb.consecutiveErrors, interval: seconds(cb.intervalMs), baseEjectionTime: seconds(cb.ejectionMs), maxEjectionPercent: cb.maxEjectionPercent } } : {}),
  };
}

function meta(name: string, namespace: string | undefined, labels: Record<string, string> = {}): { name: string; namespace?: string; labels: Record<string, string> } {
  return { name, ...(namespace ? { namespace } : {}), labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': PART_OF, ...labels } };
}

function hostOf(service: string, namespace: string | undefined): string {
  return namespace ? `${service}.${namespace}.svc.cluster.local` : service;
}

/** The folder of a flow's file inside the image: the image keeps the project's layout under /app (see Dockerfile). */
function folderInImage(flow: FlowDefinition, options: RenderOptions): string {
  if (options.flowsInImage) return options.flowsInImage;
  const dir = relative(process.cwd(), dirname(resolve(flow.file))).split(sep).join('/');
  return dir.startsWith('..') ? '/app/flows' : posix.join('/app', dir || '.');
}

/** The workload, its Service, and the environment its flows refer to. */
function workload(name: string, flows: FlowDefinition[], args: string[], port: number, replicas: number, resources: ServiceResources, options: RenderOptions, warnings: string[]): K8sObject[] {
  const { namespace } = options;
  const env = options.env ?? process.env;
  const refs = new Map<string, EnvRef>();
  for (const f of flows) for (const r of envRefsOf(f, options.registry)) refs.set(r.name, { ...r, secret: r.secret || (refs.get(r.name)?.secret ?? false), fallback: refs.get(r.name)?.fallback ?? r.fallback });
  const configName = `${name}-env`;
  const secretName = `${name}-secrets`;
  const data: Record<string, string> = {};
  const envVars: NonNullable<NonNullable<NonNullable<IDeployment['spec']>['template']['spec']>['containers'][number]['env']> = [
    { name: 'HUB_HOST', value: '0.0.0.0' },
    // The journal and the admin token, from the Secret when it has them: without REDIS_URL each pod keeps an embedded
    // journal that is lost with the pod (parked retries and dead letters with it); without a token each pod makes
    // one of its own (in HUB_STATE_DIR, printed once in its log).
    { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: secretName, key: 'REDIS_URL', optional: true } } },
    { name: 'HUB_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: secretName, key: 'HUB_ADMIN_TOKEN', optional: true } } },
  ];
  for (const r of [...refs.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (r.name === 'REDIS_URL' || r.name === 'HUB_ADMIN_TOKEN' || r.name === 'HUB_HOST') continue;
    const value = env[r.name] ?? r.fallback;
    // A value with a password inside a URL (AMQP_URL=amqp://user:pw@host) is a secret too: never in a ConfigMap.
    if (r.secret || (value !== undefined && hasUrlPassword(value))) {
      envVars.push({ name: r.name, valueFrom: { secretKeyRef: { name: secretName, key: r.name } } });
      if (!r.secret) warnings.push(`${name}: ${r.name} holds a URL with a password, so it is taken from Secret ${secretName} (key ${r.name}), not rendered`);
      continue;
    }
    if (value !== undefined) {
      data[r.name] = value;
      if (/(^|[/@,])(127\.\d+\.\d+\.\d+|localhost)([:/,]|$)/.test(value)) warnings.push(`${name}: ${r.name} is ${value}, the loopback inside a pod: set it in ConfigMap ${configName} (or in the environment of \`hub mesh render\`)`);
    } else warnings.push(`${name}: ${r.name} has no value or default: add it to ConfigMap ${configName} before the pod can start`);
    // Optional only when the flow has a default of its own: a missing required key keeps the pod from starting, with its name in the event.
    envVars.push({ name: r.name, valueFrom: { configMapKeyRef: { name: configName, key: r.name, optional: r.fallback !== undefined } } });
  }
  const labels = { app: name, version: 'v1' };
  const configMap: IConfigMap & K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(configName, namespace, { app: name }), data };
  const deployment: IDeployment & K8sObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, namespace, { app: name }),
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          labels: { ...labels, 'sidecar.istio.io/inject': 'true' },
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(port),
            'prometheus.io/path': '/metrics',
            // The hub connects to its brokers and downstreams at start: through a sidecar that is not up yet, those fail.
            'proxy.istio.io/config': '{ "holdApplicationUntilProxyStarts": true }',
          },
        },
        spec: {
          terminationGracePeriodSeconds: TERMINATION_GRACE_S,
          containers: [
            {
              name: 'hub',
              image: options.image,
              command: ['node', 'bin/hub.js'],
              args,
              ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
              env: envVars,
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
              resources: {
                requests: { cpu: resources.cpu, memory: resources.memory },
                ...(resources.cpuLimit || resources.memoryLimit ? { limits: { ...(resources.cpuLimit ? { cpu: resources.cpuLimit } : {}), ...(resources.memoryLimit ? { memory: resources.memoryLimit } : {}) } } : {}),
              },
            },
          ],
        },
      },
    },
  };
  // The port's name and appProtocol tell Istio the traffic is HTTP, so it routes, retries and reports per request.
  const service: IService & K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name, namespace, { app: name }),
    spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }] },
  };
  return [configMap, deployment, service];
}

type HttpRoute = NonNullable<NonNullable<IVirtualService['spec']>['http']>[number];

/** A VirtualService route's match for a flow's HTTP source, in hub style where one host serves every flow. */
function sourceMatch(flow: FlowDefinition): HttpRoute['match'] {
  const config = flow.source.config as { path?: string; method?: string };
  if (typeof config.path !== 'string') return undefined;
  const params = config.path.split('/').some((seg) => seg.startsWith(':'));
  const uri = params ? { regex: `^${config.path.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$` } : { exact: config.path };
  const method = flow.source.adapter === 'rest' ? (config.method ?? 'POST') : undefined;
  return [{ name: flow.name, uri, ...(method ? { method: { exact: method } } : {}) }];
}

function inboundRoute(flow: FlowDefinition, host: string, port: number, match: HttpRoute['match']): HttpRoute {
  const hop = flow.service!.hops[0]!;
  return {
    name: flow.name,
    ...(match ? { match } : {}),
    route: [{ destination: { host, port: { number: port } } }],
    ...(hop.mesh.timeoutMs === undefined ? {} : { timeout: seconds(hop.mesh.timeoutMs) }),
    retries: httpRetry(hop.mesh.retries),
  };
}

const isHttpSource = (f: FlowDefinition): boolean => f.service?.hops[0]?.transport === 'http';

function inMesh(host: string): boolean {
  return !host.includes('.') || /\.svc(\.cluster\.local)?$/.test(host);
}

/** ServiceEntry, VirtualService and DestinationRule for each HTTP peer the flows call (their sinks' hosts). */
function egress(flows: FlowDefinition[], style: RenderStyle, namespace: string | undefined, warnings: string[]): K8sObject[] {
  const byHost = new Map<string, { port: number; uses: { flow: FlowDefinition; hop: Hop }[] }>();
  for (const flow of flows) {
    for (const hop of flow.service!.hops) {
      if (hop.kind !== 'sink' || hop.transport !== 'http' || !hop.peer) continue;
      const key = `${hop.peer.host}:${hop.peer.port}`;
      if (isIP(hop.peer.host) || hop.peer.host === 'localhost') {
        warnings.push(`${flow.name}: sink "${hop.name}" calls ${key}, an address, not a name the mesh can route: set its URL's environment variable to the service's DNS name and render again (no egress rules for it)`);
        continue;
      }
      let entry = byHost.get(key);
      if (!entry) byHost.set(key, (entry = { port: hop.peer.port, uses: [] }));
      if (!entry.uses.some((u) => u.flow === flow)) entry.uses.push({ flow, hop });
    }
  }
  const out: K8sObject[] = [];
  for (const [key, { port, uses }] of [...byHost].sort(([a], [b]) => a.localeCompare(b))) {
    const host = key.slice(0, key.lastIndexOf(':'));
    const name = `egress-${host.replace(/[^a-z0-9-]/g, '-')}-${port}`.slice(0, 63).replace(/-+$/, '');
    if (!inMesh(host)) {
      const se: IServiceEntry & K8sObject = {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: meta(name, namespace),
        spec: { hosts: [host], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: port, name: `http-${port}`, protocol: 'HTTP' }] },
      };
      out.push(se);
    }
    const route = (hop: Hop): Omit<HttpRoute, 'name' | 'match'> => ({
      route: [{ destination: { host, port: { number: port } } }],
      ...(hop.mesh.timeoutMs === undefined ? {} : { timeout: seconds(hop.mesh.timeoutMs) }),
      retries: httpRetry(hop.mesh.retries),
    });
    const sorted = [...uses].sort((a, b) => a.flow.name.localeCompare(b.flow.name));
    // Mesh style: each flow's calls get its own route, told apart by the calling pod's labels; hub style: one caller.
    const http: HttpRoute[] =
      style === 'mesh'
        ? [...sorted.map(({ flow, hop }) => ({ name: flow.name, match: [{ sourceLabels: { app: flow.service!.name } }], ...route(hop) })), { name: 'others', route: [{ destination: { host, port: { number: port } } }] }]
        : [{ name: HUB, ...route(sorted[0]!.hop) }];
    if (style === 'hub' && new Set(sorted.map((u) => JSON.stringify(route(u.hop)))).size > 1) {
      warnings.push(`${host}: flows ${sorted.map((u) => u.flow.name).join(', ')} give its calls different mesh retries or timeouts, and in hub style one pod makes them all: the rule of ${sorted[0]!.flow.name} is rendered`);
    }
    const vs: IVirtualService & K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta(name, namespace), spec: { hosts: [host], http } };
    out.push(vs);
    const policies = sorted.filter((u) => u.hop.mesh.circuitBreaker || u.hop.mesh.connectionPool);
    if (policies.length > 0) {
      if (new Set(policies.map((u) => JSON.stringify([u.hop.mesh.circuitBreaker, u.hop.mesh.connectionPool]))).size > 1) {
        warnings.push(`${host}: flows ${policies.map((u) => u.flow.name).join(', ')} ask for different mesh circuit breaking, and a host has one DestinationRule: the policy of ${policies[0]!.flow.name} is rendered`);
      }
      const dr: IDestinationRule & K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta(name, namespace), spec: { host, trafficPolicy: trafficPolicy(policies[0]!.hop.mesh.circuitBreaker, policies[0]!.hop.mesh.connectionPool)! } };
      out.push(dr);
    }
  }
  return out;
}

function peerAuthentication(namespace: string | undefined): K8sObject {
  // STRICT: the namespace's workloads take only mutual-TLS traffic from the mesh; plain-text callers are refused.
  const pa: IPeerAuthentication & K8sObject = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: meta('default', namespace), spec: { mtls: { mode: 'STRICT' } } };
  return pa;
}

function destinationRule(name: string, host: string, namespace: string | undefined, cb: CircuitBreakerPolicy | undefined, pool: ConnectionPoolPolicy | undefined): K8sObject {
  const policy = trafficPolicy(cb, pool);
  const dr: IDestinationRule & K8sObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: meta(name, namespace, { app: name }),
    spec: { host, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' }, ...(policy ?? {}) } },
  };
  return dr;
}

/**
 * The Kubernetes and Istio objects for the flows. Mesh style: per flow a Deployment (`hub run --flow NAME`), its
 * Service, ConfigMap, and for a flow with an HTTP source its VirtualService and DestinationRule from its
 * resilience block. Hub style: the same for one hub that runs every flow, with one route per flow in its
 * VirtualService. Where a flow hands JWT checks to the mesh, its RequestAuthentication and AuthorizationPolicy
 * (src/mesh/gateway.ts). Both: egress rules for the HTTP peers the flows call, and PeerAuthentication STRICT. Files and
 * objects come in a stable order.
 */
export function renderManifests(flows: FlowDefinition[], options: RenderOptions): RenderResult {
  const warnings: string[] = [];
  const { namespace } = options;
  const sorted = [...flows].filter((f) => f.service).sort((a, b) => a.name.localeCompare(b.name));
  if (sorted.length === 0) return { files: [], warnings: ['no flows to render'] };
  if (options.style === 'hub' && new Set(sorted.map((f) => dirname(resolve(f.file)))).size > 1) {
    warnings.push(`hub style runs the flows of one folder (hub run --flows DIR): these come from several; the hub is given ${folderInImage(sorted[0]!, options)}`);
  }
  const files: RenderedFile[] = [];

  if (options.style === 'mesh') {
    for (const flow of sorted) {
      const s = flow.service!;
      // Its own file only: the pod needs the environment of its own flow, not of the flows beside it.
      const objects = workload(s.name, [flow], ['run', '--flows', posix.join(folderInImage(flow, options), basename(flow.file)), '--flow', flow.name, '--port', String(s.port)], s.port, s.replicas, s.resources, options, warnings);
      if (isHttpSource(flow)) {
        const host = hostOf(s.name, namespace);
        const inbound = s.hops[0]!;
        const vs: IVirtualService & K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta(s.name, namespace, { app: s.name }), spec: { hosts: [host], http: [inboundRoute(flow, host, s.port, undefined) as HttpRoute] } };
        objects.push(vs, destinationRule(s.name, host, namespace, inbound.mesh.circuitBreaker, inbound.mesh.connectionPool));
        objects.push(...meshAuthObjects(flow, s.name, namespace, options.httpSources));
      }
      files.push({ name: `${s.name}.yaml`, objects });
    }
  } else {
    const port = 8080;
    const replicas = Math.max(...sorted.map((f) => f.service!.replicas));
    const objects = workload(HUB, sorted, ['run', '--flows', folderInImage(sorted[0]!, options), '--port', String(port)], port, replicas, { cpu: '500m', memory: '512Mi', cpuLimit: undefined, memoryLimit: undefined }, options, warnings);
    const host = hostOf(HUB, namespace);
    const routes = sorted.filter(isHttpSource).map((f) => inboundRoute(f, host, port, sourceMatch(f)));
    // The admin API, /healthz, /readyz and /metrics: no mesh retries.
    routes.push({ name: 'hub', route: [{ destination: { host, port: { number: port } } }], retries: { attempts: 0 } });
    const vs: IVirtualService & K8sObject = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta(HUB, namespace, { app: HUB }), spec: { hosts: [host], http: routes } };
    for (const f of sorted) {
      const inbound = f.service!.hops[0]!;
      if (inbound.mesh.circuitBreaker || inbound.mesh.connectionPool) {
        warnings.push(`${f.name}: in hub style one DestinationRule covers the whole hub, so the mesh's outlier detection would eject every flow for this one's errors: its inbound circuit breaking is not rendered (give circuit breaking to the hub, or run the flow mesh style)`);
      }
    }
    objects.push(vs, destinationRule(HUB, host, namespace, undefined, undefined));
    for (const f of sorted.filter(isHttpSource)) objects.push(...meshAuthObjects(f, HUB, namespace, options.httpSources));
    files.push({ name: 'hub.yaml', objects });
  }
  const out = egress(sorted, options.style, namespace, warnings);
  if (out.length) files.push({ name: 'egress.yaml', objects: out });
  files.push({ name: 'mesh.yaml', objects: [peerAuthentication(namespace)] });
  return { files, warnings };
}
