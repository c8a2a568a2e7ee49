import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FlowDefinition } from '../config/load-flows.js';

/**
 * The workload that serves the flows, named as a mesh names it: `hub` in hub mode, the flow's name in flow mode
 * (the name its Kubernetes Deployment gets), unless HUB_WORKLOAD says otherwise; the namespace from POD_NAMESPACE
 * (the downward API), else `unknown`, Istio's word for a side it cannot name.
 */
export interface Workload {
  name: string;
  namespace: string;
}

export const UNKNOWN = 'unknown';

export function hubWorkload(flow: string | undefined, env: NodeJS.ProcessEnv = process.env): Workload {
  return { name: env.HUB_WORKLOAD || flow || 'hub', namespace: env.POD_NAMESPACE || UNKNOWN };
}

/** Seconds; from well under a millisecond (an in-memory flow) to the slowest sink timeouts. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Istio's standard metrics put these on every request, so a mesh dashboard (Kiali, Grafana's Istio boards) can
 * draw the hub's flows as edges. The workload serving a flow is the destination of its inbound messages and the
 * source of its sink calls; the other side is one the hub cannot name.
 */
const WORKLOAD_LABELS = ['source_workload', 'source_workload_namespace', 'destination_workload', 'destination_workload_namespace'] as const;
const FLOW_LABELS = ['flow', ...WORKLOAD_LABELS] as const;

/**
 * The Prometheus metrics of one hub: its own Registry (never prom-client's global one, so that several hubs in one
 * process, as in tests, count apart), Node's process metrics, and per flow, step and sink the counters and
 * histograms below. `forFlow` binds each label set once; the message path then only increments bound children.
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly #received: Counter<string>;
  readonly #delivered: Counter<string>;
  readonly #failed: Counter<string>;
  readonly #dead: Counter<string>;
  readonly #retries: Counter<string>;
  readonly #inFlight: Gauge<string>;
  readonly #duration: Histogram<string>;
  readonly #stepDuration: Histogram<string>;
  readonly #sinkCalls: Counter<string>;
  readonly #sinkDuration: Histogram<string>;

  constructor(readonly workload: Workload, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#received = new Counter({ name: 'hub_messages_received_total', help: 'Messages a flow took from its source.', labelNames: FLOW_LABELS, registers });
    this.#delivered = new Counter({ name: 'hub_messages_delivered_total', help: 'Messages a flow delivered to all its sinks (first runs, durable retries and replays).', labelNames: FLOW_LABELS, registers });
    this.#failed = new Counter({ name: 'hub_messages_failed_total', help: 'Runs of a message that failed, by error code (a failed run may still be retried).', labelNames: [...FLOW_LABELS, 'code'], registers });
    this.#dead = new Counter({ name: 'hub_messages_dead_total', help: 'Messages parked as dead in the journal.', labelNames: FLOW_LABELS, registers });
    this.#retries = new Counter({ name: 'hub_retries_total', help: 'Retries: kind="sink" a sink call retried in process, kind="durable" a message run again from the journal.', labelNames: [...FLOW_LABELS, 'kind'], registers });
    this.#inFlight = new Gauge({ name: 'hub_messages_in_flight', help: 'Messages a flow is working on now.', labelNames: FLOW_LABELS, registers });
    this.#duration = new Histogram({ name: 'hub_message_duration_seconds', help: 'Time from a flow taking a message to its outcome (end to end through the flow), by outcome.', labelNames: [...FLOW_LABELS, 'outcome'], buckets: DURATION_BUCKETS, registers });
    this.#stepDuration = new Histogram({ name: 'hub_step_duration_seconds', help: 'Time one step took for one message (its sink calls included).', labelNames: [...FLOW_LABELS, 'step'], buckets: DURATION_BUCKETS, registers });
    this.#sinkCalls = new Counter({ name: 'hub_sink_calls_total', help: 'Calls of a sink (each attempt), by outcome ("ok" or the error code).', labelNames: [...FLOW_LABELS, 'sink', 'outcome'], registers });
    this.#sinkDuration = new Histogram({ name: 'hub_sink_call_duration_seconds', help: 'Time one sink call (one attempt) took.', labelNames: [...FLOW_LABELS, 'sink'], buckets: DURATION_BUCKETS, registers });
  }

  /** The text exposition format, for GET /metrics. */
  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** The bound children of one flow: built once when the runner is made. */
  forFlow(def: Pick<FlowDefinition, 'name' | 'steps' | 'sinks'>): FlowMetrics {
    const { name, namespace } = this.workload;
    const inbound = { flow: def.name, source_workload: UNKNOWN, source_workload_namespace: UNKNOWN, destination_workload: name, destination_workload_namespace: namespace };
    const outbound = { flow: def.name, source_workload: name, source_workload_namespace: namespace, destination_workload: UNKNOWN, destination_workload_namespace: UNKNOWN };
    const failed = this.#failed;
    const sinkCalls = this.#sinkCalls;
    return {
      received: counter(this.#received, inbound),
      delivered: counter(this.#delivered, inbound),
      dead: counter(this.#dead, inbound),
      sinkRetries: counter(this.#retries, { ...inbound, kind: 'sink' }),
      durableRetries: counter(this.#retries, { ...inbound, kind: 'durable' }),
      inFlight: gauge(this.#inFlight, inbound),
      deliveredIn: histogram(this.#duration, { ...inbound, outcome: 'delivered' }),
      failedIn: histogram(this.#duration, { ...inbound, outcome: 'failed' }),
      failed: cached((code) => counter(failed, { ...inbound, code })),
      steps: def.steps.map((s) => histogram(this.#stepDuration, { ...inbound, step: s.label })),
      sinks: new Map(
        [...def.sinks.keys()].map((sink) => {
          const labels = { ...outbound, sink };
          return [sink, { ok: counter(sinkCalls, { ...labels, outcome: 'ok' }), failed: cached((code) => counter(sinkCalls, { ...labels, outcome: code })), duration: histogram(this.#sinkDuration, labels) }];
        }),
      ),
    };
  }
}

type CounterChild = ReturnType<Counter<string>['labels']>;
type GaugeChild = ReturnType<Gauge<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

// Bound children start at zero, so a flow's series exist (and rate() has a first sample) before its first message.
function counter(metric: Counter<string>, labels: Record<string, string>): CounterChild {
  const child = metric.labels(labels);
  child.inc(0);
  return child;
}

function gauge(metric: Gauge<string>, labels: Record<string, string>): GaugeChild {
  const child = metric.labels(labels);
  child.set(0);
  return child;
}

function histogram(metric: Histogram<string>, labels: Record<string, string>): HistogramChild {
  metric.zero(labels);
  return metric.labels(labels);
}

/** One child per error code, bound the first time that code is seen (codes come from one finite table). */
function cached(bind: (code: string) => CounterChild): (code: string) => CounterChild {
  const children = new Map<string, CounterChild>();
  return (code) => {
    let child = children.get(code);
    if (!child) children.set(code, (child = bind(code)));
    return child;
  };
}

export interface SinkMetrics {
  ok: CounterChild;
  failed: (code: string) => CounterChild;
  duration: HistogramChild;
}

/** A flow's metrics, label sets bound: what FlowRunner updates on the message path. */
export interface FlowMetrics {
  received: CounterChild;
  delivered: CounterChild;
  dead: CounterChild;
  sinkRetries: CounterChild;
  durableRetries: CounterChild;
  inFlight: GaugeChild;
  deliveredIn: HistogramChild;
  failedIn: HistogramChild;
  failed: (code: string) => CounterChild;
  /** By step index. */
  steps: HistogramChild[];
  sinks: ReadonlyMap<string, SinkMetrics>;
}
