import { toMs, type Duration } from '../core/duration.js';
import type { JsonSchema } from '../core/contracts.js';
import type { ConfigIssue } from '../core/errors.js';

/**
 * The flow's `service` block: how the flow is addressed as its own service, and who owns each hop's resilience:
 * the hub (in process) or the mesh (the sidecars, from the VirtualService and DestinationRule `hub mesh render`
 * writes). One rule for every concern: the mesh owns what it can see, HTTP hops (REST and SOAP sources and sinks);
 * the hub keeps the TCP hops (AMQP, Kafka), where a sidecar sees connections, not requests.
 */

export type Owner = 'hub' | 'mesh';
export type Concern = 'retries' | 'timeouts' | 'circuit_breaking';
export const CONCERNS: readonly Concern[] = ['retries', 'timeouts', 'circuit_breaking'];

/** What the network sees of an adapter's traffic (see AdapterRegistration.transport). */
export type Transport = 'http' | 'tcp';

/** Istio's retry conditions (VirtualService HTTPRetry.retryOn) the flow language takes. */
export const RETRY_ON = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx', 'refused-stream', 'retriable-status-codes', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'] as const;
/** The hub's own retryable failures, as the mesh names them: 5xx, resets and refused connections. */
const DEFAULT_RETRY_ON = ['5xx', 'reset', 'connect-failure', 'refused-stream'];

export interface MeshRetryPolicy {
  /** Total tries of a call, the first included (as `errors.retry.attempts`; Istio's `attempts` counts retries: one less). */
  attempts: number;
  perTryTimeoutMs: number | undefined;
  retryOn: string[];
}

export interface CircuitBreakerPolicy {
  /** Consecutive retryable failures that open the circuit (the mesh: eject the host). */
  consecutiveErrors: number;
  /** How often the mesh sweeps for outliers (the hub counts every call). */
  intervalMs: number;
  /** How long the circuit stays open (the host ejected) before one probe is let through. */
  ejectionMs: number;
  /** The mesh only: most of a service's hosts ejected at once. */
  maxEjectionPercent: number;
}

export interface ConnectionPoolPolicy {
  maxConnections: number | undefined;
  maxPendingRequests: number | undefined;
}

export interface ServiceResources {
  cpu: string;
  memory: string;
  cpuLimit: string | undefined;
  memoryLimit: string | undefined;
}

/** A flow's service, resolved: defaults filled in, contradictions reported at load. */
export interface ServiceDefinition {
  /** Whether the flow file has a `service` block (without one, the hub owns everything and nothing changes at run time). */
  declared: boolean;
  name: string;
  port: number;
  replicas: number;
  resources: ServiceResources;
  owner: Record<Concern, Owner>;
  /** The inbound hop's deadline (`resilience.timeout`), if given. */
  timeoutMs: number | undefined;
  /** The mesh's retries (only when the mesh owns retries). */
  retries: MeshRetryPolicy | undefined;
  circuitBreaker: CircuitBreakerPolicy | undefined;
  connectionPool: ConnectionPoolPolicy | undefined;
  /** Per hop, who owns what, with the effective numbers. */
  hops: Hop[];
}

/** Who owns one concern on one hop; `both` means stacked (the attempts multiply, or one cuts before the other). */
export interface HopCell {
  owner: 'hub' | 'mesh' | 'both' | 'none';
  detail: string;
}

export interface Hop {
  /** `inbound` (caller -> flow) or the sink's name. */
  name: string;
  kind: 'inbound' | 'sink';
  adapter: string;
  transport: Transport;
  /** HTTP sinks: the peer's host and port, from its `url`. */
  peer: { host: string; port: number } | undefined;
  retries: HopCell;
  timeouts: HopCell;
  circuitBreaking: HopCell;
  /** Sinks: the most calls one message can make to it (mesh and hub tries, times the flow's own re-runs). */
  callsPerMessage: number | undefined;
  /** Sinks: the hub's circuit breaker for it, when the hub owns its circuit breaking. */
  hubBreaker: CircuitBreakerPolicy | undefined;
  /** The mesh's retries and timeout for this hop, when it owns them (what the VirtualService gets). */
  mesh: { retries: MeshRetryPolicy | undefined; timeoutMs: number | undefined; circuitBreaker: CircuitBreakerPolicy | undefined; connectionPool: ConnectionPoolPolicy | undefined };
}

/** What the resolver needs to know of the flow around its service block. */
export interface ServiceFacts {
  flow: string;
  /** The flow's `timeout` (the hub cuts every message there). */
  flowTimeoutMs: number;
  requestReply: boolean;
  source: { adapter: string; transport: Transport };
  sinks: { name: string; adapter: string; transport: Transport; url: string | undefined; timeoutMs: number | undefined }[];
  retry: { attempts: number; backoff: 'fixed' | 'exponential'; initialMs: number; maxMs: number };
  durableAttempts: number;
  concurrency: number;
  queue: number;
}

export const DNS_1035_LABEL = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
const QUANTITY = '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$';

const owner = { enum: ['hub', 'mesh'] };

/** The JSON Schema of the `service` block (its durations refer to the flow schema's `#/$defs/duration`). */
export const serviceSchema: JsonSchema = {
  type: 'object',
  description: 'How the flow is addressed as its own service (`hub run --flow`, `hub mesh render`), and who owns the resilience of each hop: the hub or the mesh.',
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: DNS_1035_LABEL, maxLength: 63, description: 'The Kubernetes Service (and Deployment) name; a DNS-1035 label. Default: the flow\'s name.' },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080, description: 'The flow\'s own port in flow mode: the container port and the Service\'s http port.' },
    replicas: { type: 'integer', minimum: 0, maximum: 1000, default: 1, description: 'Pods of the flow\'s Deployment (mesh style).' },
    resources: {
      type: 'object',
      additionalProperties: false,
      description: 'Container resources: requests, and optional limits (Kubernetes quantities).',
      properties: {
        cpu: { type: 'string', pattern: QUANTITY, default: '100m', examples: ['250m'] },
        memory: { type: 'string', pattern: QUANTITY, default: '128Mi', examples: ['256Mi'] },
        cpu_limit: { type: 'string', pattern: QUANTITY, examples: ['1'] },
        memory_limit: { type: 'string', pattern: QUANTITY, examples: ['512Mi'] },
      },
    },
    resilience: {
      type: 'object',
      additionalProperties: false,
      description: 'Timeouts, retries and circuit breaking, and who owns them. The mesh owns them only on HTTP hops (REST, SOAP); AMQP and Kafka hops stay with the hub.',
      properties: {
        owner: {
          description: 'Who owns retries, timeouts and circuit breaking: `hub` (the default) or `mesh`, or per concern: `{ retries: mesh, timeouts: hub, circuit_breaking: mesh }`.',
          default: 'hub',
          oneOf: [
            owner,
            { type: 'object', additionalProperties: false, minProperties: 1, properties: { retries: owner, timeouts: owner, circuit_breaking: owner } },
          ],
        },
        timeout: { $ref: '#/$defs/duration', description: 'The inbound hop: the longest a call to this flow may take (at most the flow\'s `timeout`). Owned by the hub, it is the flow\'s deadline; owned by the mesh, the VirtualService\'s timeout.' },
        retries: {
          type: 'object',
          additionalProperties: false,
          description: 'The mesh\'s retries of the HTTP hops (only when the mesh owns retries: the hub\'s are `errors.retry`).',
          properties: {
            attempts: { type: 'integer', minimum: 1, maximum: 100, default: 3, description: 'Total tries of a call, the first included (Istio\'s `attempts` is one less: it counts retries).' },
            per_try_timeout: { $ref: '#/$defs/duration', description: 'Longest time of one try.' },
            retry_on: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              default: DEFAULT_RETRY_ON,
              description: 'Which failures are retried (Istio retryOn conditions, or HTTP status codes such as "503").',
              items: { anyOf: [{ enum: [...RETRY_ON] }, { type: 'string', pattern: '^[45][0-9][0-9]$' }] },
            },
          },
        },
        circuit_breaker: {
          type: 'object',
          additionalProperties: false,
          description: 'Circuit breaking: the hub\'s breaker per sink, or the mesh\'s outlier detection.',
          properties: {
            consecutive_errors: { type: 'integer', minimum: 1, maximum: 1000, default: 5, description: 'Consecutive retryable failures (5xx, timeouts, refused connections) that open the circuit.' },
            interval: { $ref: '#/$defs/duration', default: '10s', description: 'The mesh only: how often it sweeps for outliers (the hub counts every call).' },
            ejection_time: { $ref: '#/$defs/duration', default: '30s', description: 'How long the circuit stays open before one probe call is let through.' },
            max_ejection_percent: { type: 'integer', minimum: 1, maximum: 100, default: 50, description: 'The mesh only: most of a service\'s hosts ejected at once.' },
          },
        },
        connection_pool: {
          type: 'object',
          additionalProperties: false,
          description: 'The mesh only (the hub\'s bulkhead is the flow\'s `concurrency` and `queue`): connections and waiting requests per host.',
          properties: {
            max_connections: { type: 'integer', minimum: 1, maximum: 1000000 },
            max_pending_requests: { type: 'integer', minimum: 1, maximum: 1000000 },
          },
        },
      },
    },
  },
};

interface RawService {
  name?: string;
  port?: number;
  replicas?: number;
  resources?: { cpu?: string; memory?: string; cpu_limit?: string; memory_limit?: string };
  resilience?: {
    owner?: Owner | Partial<Record<Concern, Owner>>;
    timeout?: Duration;
    retries?: { attempts?: number; per_try_timeout?: Duration; retry_on?: string[] };
    circuit_breaker?: { consecutive_errors?: number; interval?: Duration; ejection_time?: Duration; max_ejection_percent?: number };
    connection_pool?: { max_connections?: number; max_pending_requests?: number };
  };
}

/** "2s", "1.5s", "250ms": for messages. */
export function formatMs(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  return `${ms}ms`;
}

/**
 * The least time the hub's in-process retries of one sink call need: the backoff waits alone, at their shortest
 * (full jitter waits at least half the ceiling), not counting the tries themselves.
 */
export function minRetryWaitMs(retry: ServiceFacts['retry']): number {
  let total = 0;
  for (let attempt = 1; attempt < retry.attempts; attempt++) {
    total += retry.backoff === 'fixed' ? retry.initialMs : Math.min(retry.maxMs, retry.initialMs * 2 ** (attempt - 1)) / 2;
  }
  return Math.round(total);
}

/**
 * Resolves a flow's service block (undefined: none written) and reports every contradiction in it, at its path
 * under `service`. The checks, each an error:
 * - `resilience.retries` given while the hub owns retries (the hub's are `errors.retry`);
 * - `connection_pool` given while the hub owns circuit breaking (the hub's bulkhead is `concurrency`/`queue`);
 * - the mesh asked to own a concern of a flow with no HTTP hop (it sees only TCP to the brokers);
 * - `resilience.timeout` longer than the flow's `timeout` (the hub cuts every message there first);
 * - `retries.per_try_timeout` x `attempts` longer than `resilience.timeout` (the last tries could never run);
 * - a request-reply flow whose hub-owned retries of a sink need more than `resilience.timeout` in backoff alone.
 */
export function resolveService(raw: unknown, facts: ServiceFacts, report: (issue: ConfigIssue) => void): ServiceDefinition {
  const s = (raw ?? {}) as RawService;
  const r = s.resilience !== null && typeof s.resilience === 'object' ? s.resilience : {};
  const base = ['service', 'resilience'];
  const owners: Record<Concern, Owner> = { retries: 'hub', timeouts: 'hub', circuit_breaking: 'hub' };
  if (typeof r.owner === 'string') for (const c of CONCERNS) owners[c] = r.owner;
  else if (r.owner) for (const c of CONCERNS) owners[c] = r.owner[c] ?? 'hub';

  const anyHttp = facts.source.transport === 'http' || facts.sinks.some(meshSeesRequests);
  for (const c of CONCERNS) {
    if (owners[c] === 'mesh' && !anyHttp) {
      const path = typeof r.owner === 'string' ? [...base, 'owner'] : [...base, 'owner', c];
      report({ path, message: `the mesh cannot own ${c.replace('_', ' ')} of flow "${facts.flow}": none of its hops is HTTP (a ${facts.source.adapter} source and ${facts.sinks.map((k) => k.adapter).join('/') || 'no'} sinks: the sidecar sees only TCP connections to the brokers); leave ${c.replace('_', ' ')} to the hub` });
    }
  }

  const ms = (v: Duration | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return toMs(v);
    } catch {
      return undefined; // the schema reported it
    }
  };
  const timeoutMs = ms(r.timeout);
  if (timeoutMs !== undefined && timeoutMs > facts.flowTimeoutMs) {
    report({ path: [...base, 'timeout'], message: `resilience.timeout ${formatMs(timeoutMs)} is longer than the flow's timeout ${formatMs(facts.flowTimeoutMs)}: the hub cuts every message at ${formatMs(facts.flowTimeoutMs)}, so it could never be reached; make it at most ${formatMs(facts.flowTimeoutMs)} or raise the flow's timeout` });
  }
  if (timeoutMs === 0) report({ path: [...base, 'timeout'], message: 'resilience.timeout must be longer than 0' });

  let retries: MeshRetryPolicy | undefined;
  if (r.retries && owners.retries === 'hub') {
    report({ path: [...base, 'retries'], message: `the hub owns retries (errors.retry: ${facts.retry.attempts} tries of a sink call), and resilience.retries are the mesh's: give retries to the mesh (owner: { retries: mesh }) or remove them` });
  }
  if (owners.retries === 'mesh') {
    const perTryTimeoutMs = ms(r.retries?.per_try_timeout);
    // A value that failed the schema (reported there) falls back to the default, so the other checks go on.
    const attempts = r.retries?.attempts;
    const retryOn = r.retries?.retry_on;
    retries = { attempts: Number.isInteger(attempts) && attempts! >= 1 ? attempts! : 3, perTryTimeoutMs, retryOn: Array.isArray(retryOn) ? retryOn.filter((x) => typeof x === 'string') : DEFAULT_RETRY_ON };
    if (perTryTimeoutMs !== undefined && timeoutMs !== undefined && perTryTimeoutMs * retries.attempts > timeoutMs) {
      report({ path: [...base, 'retries', 'per_try_timeout'], message: `${retries.attempts} tries of ${formatMs(perTryTimeoutMs)} each take up to ${formatMs(perTryTimeoutMs * retries.attempts)}, longer than resilience.timeout ${formatMs(timeoutMs)}: the last tries could never run; shorten per_try_timeout, lower attempts or raise the timeout` });
    }
  }
  if (owners.retries === 'hub' && facts.requestReply && timeoutMs !== undefined) {
    const need = minRetryWaitMs(facts.retry);
    if (facts.sinks.length > 0 && need >= timeoutMs) {
      report({ path: [...base, 'timeout'], message: `resilience.timeout ${formatMs(timeoutMs)} is shorter than the ${formatMs(need)} the hub's ${facts.retry.attempts} tries of a sink call (errors.retry) wait in backoff alone: the caller is cut off before the retries end; raise the timeout, or lower errors.retry.attempts or its backoff` });
    }
  }

  let circuitBreaker: CircuitBreakerPolicy | undefined;
  if (r.circuit_breaker) {
    const cb = r.circuit_breaker;
    circuitBreaker = {
      consecutiveErrors: cb.consecutive_errors ?? 5,
      intervalMs: ms(cb.interval) ?? 10_000,
      ejectionMs: ms(cb.ejection_time) ?? 30_000,
      maxEjectionPercent: cb.max_ejection_percent ?? 50,
    };
    if (circuitBreaker.ejectionMs === 0) report({ path: [...base, 'circuit_breaker', 'ejection_time'], message: 'ejection_time must be longer than 0: the circuit would never stay open' });
  }
  let connectionPool: ConnectionPoolPolicy | undefined;
  if (r.connection_pool) {
    connectionPool = { maxConnections: r.connection_pool.max_connections, maxPendingRequests: r.connection_pool.max_pending_requests };
    if (owners.circuit_breaking === 'hub') {
      report({ path: [...base, 'connection_pool'], message: `the hub owns circuit breaking, and connection_pool is the mesh's: the hub's bulkhead is the flow's concurrency (${facts.concurrency}) and queue (${facts.queue}); give circuit breaking to the mesh or remove connection_pool` });
    }
  }

  const name = s.name ?? facts.flow;
  if (s.name === undefined && name.length > 63) report({ path: ['name'], message: `the flow's name is its service name, and a Kubernetes name has at most 63 characters: shorten it or give service.name` });

  const def: ServiceDefinition = {
    declared: raw !== undefined,
    name,
    port: s.port ?? 8080,
    replicas: s.replicas ?? 1,
    resources: { cpu: s.resources?.cpu ?? '100m', memory: s.resources?.memory ?? '128Mi', cpuLimit: s.resources?.cpu_limit, memoryLimit: s.resources?.memory_limit },
    owner: owners,
    timeoutMs,
    retries,
    circuitBreaker,
    connectionPool,
    hops: [],
  };
  def.hops = hopsOf(def, facts);
  return def;
}

/**
 * Whether the mesh sees a sink's calls as HTTP requests: an HTTP adapter's, to a plain `http://` URL. Over
 * `https://` the hub itself speaks TLS, and the sidecar sees only a TCP stream it can neither retry nor read.
 */
export function meshSeesRequests(sink: ServiceFacts['sinks'][number]): boolean {
  return sink.transport === 'http' && !(sink.url ?? '').toLowerCase().startsWith('https:');
}

/** The flow's deadline as the hub enforces it: `resilience.timeout` when the hub owns timeouts, else the flow's own. */
export function hubDeadlineMs(service: ServiceDefinition, flowTimeoutMs: number): number {
  return service.owner.timeouts === 'hub' && service.timeoutMs !== undefined ? Math.min(service.timeoutMs, flowTimeoutMs) : flowTimeoutMs;
}

function peerOf(url: string | undefined): Hop['peer'] {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return { host: u.hostname, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
  } catch {
    return undefined;
  }
}

const retriesText = (p: MeshRetryPolicy): string => `${p.attempts} tries${p.perTryTimeoutMs === undefined ? '' : ` of ${formatMs(p.perTryTimeoutMs)}`} on ${p.retryOn.join(',')}`;
const breakerText = (p: CircuitBreakerPolicy, who: Owner): string =>
  who === 'hub' ? `opens after ${p.consecutiveErrors} failures, probe after ${formatMs(p.ejectionMs)}` : `ejects after ${p.consecutiveErrors} errors for ${formatMs(p.ejectionMs)} (max ${p.maxEjectionPercent}%)`;
const poolText = (p: ConnectionPoolPolicy | undefined): string => (p ? `; pool ${p.maxConnections ?? '-'} conn, ${p.maxPendingRequests ?? '-'} pending` : '');

/** Per hop: who owns retries, timeouts and circuit breaking, with the numbers in force. */
export function hopsOf(service: ServiceDefinition, facts: ServiceFacts): Hop[] {
  const { owner } = service;
  const deadline = hubDeadlineMs(service, facts.flowTimeoutMs);
  const inboundHttp = facts.source.transport === 'http';
  const meshRetriesInbound = inboundHttp && owner.retries === 'mesh' ? service.retries : undefined;
  // A request-reply flow re-run by the mesh runs its sink calls again, hub retries included.
  const inboundTries = meshRetriesInbound && facts.requestReply ? meshRetriesInbound.attempts : 1;

  const inbound: Hop = {
    name: 'inbound',
    kind: 'inbound',
    adapter: facts.source.adapter,
    transport: facts.source.transport,
    peer: undefined,
    retries: !inboundHttp
      ? { owner: facts.requestReply ? 'none' : 'hub', detail: facts.requestReply ? 'the caller\'s' : `broker redelivery; durable ${facts.durableAttempts} runs${owner.retries === 'mesh' ? ' (TCP: not the mesh\'s)' : ''}` }
      : meshRetriesInbound
        ? { owner: 'mesh', detail: retriesText(meshRetriesInbound) }
        : { owner: 'none', detail: 'the caller\'s (mesh retries off)' },
    timeouts:
      inboundHttp && owner.timeouts === 'mesh'
        ? { owner: 'mesh', detail: `${service.timeoutMs === undefined ? 'none' : formatMs(service.timeoutMs)} (hub backstop ${formatMs(deadline)})` }
        : { owner: 'hub', detail: `${formatMs(deadline)}${!inboundHttp && owner.timeouts === 'mesh' ? ' (TCP: not the mesh\'s)' : ''}` },
    circuitBreaking:
      inboundHttp && owner.circuit_breaking === 'mesh' && (service.circuitBreaker || service.connectionPool)
        ? { owner: 'mesh', detail: `${service.circuitBreaker ? breakerText(service.circuitBreaker, 'mesh') : 'no outlier detection'}${poolText(service.connectionPool)}` }
        : { owner: 'hub', detail: `bulkhead: concurrency ${facts.concurrency}, queue ${facts.queue}` },
    callsPerMessage: undefined,
    hubBreaker: undefined,
    mesh: {
      retries: meshRetriesInbound,
      timeoutMs: inboundHttp && owner.timeouts === 'mesh' ? service.timeoutMs : undefined,
      circuitBreaker: inboundHttp && owner.circuit_breaking === 'mesh' ? service.circuitBreaker : undefined,
      connectionPool: inboundHttp && owner.circuit_breaking === 'mesh' ? service.connectionPool : undefined,
    },
  };

  const sinks = facts.sinks.map((k): Hop => {
    const http = meshSeesRequests(k);
    const meshRetries = http && owner.retries === 'mesh' ? service.retries : undefined;
    const hubTries = facts.retry.attempts;
    const meshTries = meshRetries?.attempts ?? 1;
    const calls = inboundTries * hubTries * meshTries;
    const factors = [inboundTries > 1 ? `flow re-run ${inboundTries}` : '', hubTries > 1 ? `hub ${hubTries}` : '', meshTries > 1 ? `mesh ${meshTries}` : ''].filter(Boolean);
    let retries: HopCell;
    if (factors.length === 0) retries = { owner: 'none', detail: 'one try' };
    else if (factors.length > 1) retries = { owner: 'both', detail: `${factors.join(' x ')} = up to ${calls} calls per message` };
    else if (meshRetries && meshTries > 1) retries = { owner: 'mesh', detail: retriesText(meshRetries) };
    else if (hubTries > 1) retries = { owner: 'hub', detail: `${hubTries} tries (errors.retry)${!http && owner.retries === 'mesh' ? ' (TCP: not the mesh\'s)' : ''}` };
    else retries = { owner: 'mesh', detail: `flow re-run ${inboundTries}: up to ${calls} calls per message` };
    const hubTimeout = k.timeoutMs === undefined ? 'adapter default' : formatMs(k.timeoutMs);
    const meshTimeout = http && owner.timeouts === 'mesh' ? service.timeoutMs : undefined;
    // The hub's own per-try timeout stays on; shorter than the mesh's per try, it cuts first and the mesh never acts.
    const meshPerTry = meshRetries?.perTryTimeoutMs ?? meshTimeout;
    const timeouts: HopCell =
      meshTimeout !== undefined && meshPerTry !== undefined
        ? k.timeoutMs !== undefined && k.timeoutMs < meshPerTry
          ? { owner: 'both', detail: `mesh ${formatMs(meshPerTry)} per try, but the hub's ${hubTimeout} per try cuts first` }
          : { owner: 'mesh', detail: `${formatMs(meshTimeout)}${meshRetries?.perTryTimeoutMs === undefined ? '' : `, ${formatMs(meshRetries.perTryTimeoutMs)} per try`} (hub backstop ${hubTimeout} per try)` }
        : { owner: 'hub', detail: `${hubTimeout} per try${!http && owner.timeouts === 'mesh' ? ' (TCP: not the mesh\'s)' : ''}` };
    const meshBreaking = http && owner.circuit_breaking === 'mesh';
    const hubBreaker = !meshBreaking ? service.circuitBreaker : undefined;
    const circuitBreaking: HopCell = meshBreaking
      ? service.circuitBreaker || service.connectionPool
        ? { owner: 'mesh', detail: `${service.circuitBreaker ? breakerText(service.circuitBreaker, 'mesh') : 'no outlier detection'}${poolText(service.connectionPool)}` }
        : { owner: 'none', detail: 'no circuit_breaker given' }
      : hubBreaker
        ? { owner: 'hub', detail: `${breakerText(hubBreaker, 'hub')}${!http && owner.circuit_breaking === 'mesh' ? ' (TCP: not the mesh\'s)' : ''}` }
        : { owner: 'none', detail: 'no circuit_breaker given' };
    return {
      name: k.name,
      kind: 'sink',
      adapter: k.adapter,
      transport: http ? 'http' : 'tcp',
      peer: http ? peerOf(k.url) : undefined,
      retries,
      timeouts,
      circuitBreaking,
      callsPerMessage: calls,
      hubBreaker,
      mesh: { retries: meshRetries, timeoutMs: meshTimeout, circuitBreaker: meshBreaking ? service.circuitBreaker : undefined, connectionPool: meshBreaking ? service.connectionPool : undefined },
    };
  });
  return [inbound, ...sinks];
}

/** The stacked concerns worth a warning, per hop (the short form of `hub mesh lint` in `hub validate`). */
export function stackedWarnings(service: ServiceDefinition): { hop: Hop; message: string }[] {
  const out: { hop: Hop; message: string }[] = [];
  for (const hop of service.hops) {
    if (hop.retries.owner === 'both') {
      const advice = hop.retries.detail.includes('hub ')
        ? service.owner.retries === 'mesh'
          ? 'errors.retry.attempts: 1 leaves them to the mesh'
          : 'leave them to one owner'
        : 'the mesh retries both the call into this flow and its call out, so a failing sink is retried at both; give retries to the hub, or keep it for a cheap idempotent read';
      out.push({ hop, message: `retries stacked on sink "${hop.name}": ${hop.retries.detail}; ${advice}` });
    }
    if (hop.timeouts.owner === 'both') out.push({ hop, message: `timeouts stacked on sink "${hop.name}": ${hop.timeouts.detail}, so the mesh's retries never run; raise the sink's timeout above the mesh's` });
  }
  return out;
}
