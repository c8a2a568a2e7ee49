import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
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
 * One series' value in a plain field. prom-client's bound children (`labels()`) hash their label set on every
 * call (several µs with these nine labels, measured); the message path here only adds to a number, and the
 * metric reads the tallies when scraped (its `collect`).
 */
export class Tally {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

/** A histogram series: a count per bucket (not cumulative until scraped), the sum and the count. */
export class Durations {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

type Labels = Record<string, string>;

/** A counter or gauge whose series are tallies, read into prom-client's own metric at scrape time. */
class TallyFamily {
  readonly #series: { labels: Labels; tally: Tally }[] = [];
  constructor(readonly metric: Counter<string> | Gauge<string>) {}
  bind(labels: Labels): Tally {
    const tally = new Tally();
    this.#series.push({ labels, tally });
    return tally;
  }
  /** The metric's `collect`: its values are the tallies'. */
  collect(): void {
    if (this.metric instanceof Gauge) for (const { labels, tally } of this.#series) this.metric.set(labels, tally.value);
    else {
      this.metric.reset();
      for (const { labels, tally } of this.#series) this.metric.inc(labels, tally.value);
    }
  }
}

function tallies(kind: 'counter' | 'gauge', config: { name: string; help: string; labelNames: readonly string[]; registers: Registry[] }): TallyFamily {
  let family: TallyFamily | undefined;
  const collect = (): void => family?.collect();
  family = new TallyFamily(kind === 'counter' ? new Counter({ ...config, collect }) : new Gauge({ ...config, collect }));
  return family;
}

/**
 * A histogram family of Durations, exposed through prom-client's registry like its own Histogram (`get()` gives
 * the same _bucket/_sum/_count values), without its per-observation label hashing.
 */
class DurationFamily {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series: { labels: Labels; durations: Durations }[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }
  bind(labels: Labels): Durations {
    const durations = new Durations(DURATION_BUCKETS);
    this.#series.push({ labels, durations });
    return durations;
  }
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, durations } of this.#series) {
      let cumulative = 0;
      durations.bounds.forEach((le, i) => {
        cumulative += durations.counts[i]!;
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: durations.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: durations.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: durations.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
  reset(): void {
    for (const { durations } of this.#series) {
      durations.counts.fill(0);
      durations.sum = 0;
      durations.count = 0;
    }
  }
}

/**
 * The Prometheus metrics of one hub: its own Registry (never prom-client's global one, so that several hubs in one
 * process, as in tests, count apart), Node's process metrics, and per flow, step and sink the counters and
 * histograms below. `forFlow` binds each label set once, when the runner is made; the message path then adds to
 * plain numbers (Tally, Durations), which the registry reads when scraped.
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly #received: TallyFamily;
  readonly #delivered: TallyFamily;
  readonly #failed: TallyFamily;
  readonly #dead: TallyFamily;
  readonly #retries: TallyFamily;
  readonly #inFlight: TallyFamily;
  readonly #duration: DurationFamily;
  readonly #stepDuration: DurationFamily;
  readonly #sinkCalls: TallyFamily;
  readonly #sinkDuration: DurationFamily;

  constructor(readonly workload: Workload, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#received = tallies('counter', { name: 'hub_messages_received_total', help: 'Messages a flow took from its source.', labelNames: FLOW_LABELS, registers });
    this.#delivered = tallies('counter', { name: 'hub_messages_delivered_total', help: 'Messages a flow delivered to all its sinks (first runs, durable retries and replays).', labelNames: FLOW_LABELS, registers });
    this.#failed = tallies('counter', { name: 'hub_messages_failed_total', help: 'Runs of a message that failed, by error code (a failed run may still be retried).', labelNames: [...FLOW_LABELS, 'code'], registers });
    this.#dead = tallies('counter', { name: 'hub_messages_dead_total', help: 'Messages parked as dead in the journal.', labelNames: FLOW_LABELS, registers });
    this.#retries = tallies('counter', { name: 'hub_retries_total', help: 'Retries: kind="sink" a sink call retried in process, kind="durable" a message run again from the journal.', labelNames: [...FLOW_LABELS, 'kind'], registers });
    this.#inFlight = tallies('gauge', { name: 'hub_messages_in_flight', help: 'Messages a flow is working on now.', labelNames: FLOW_LABELS, registers });
    this.#duration = new DurationFamily('hub_message_duration_seconds', 'Time from a flow taking a message to its outcome (end to end through the flow), by outcome.', this.registry);
    this.#stepDuration = new DurationFamily('hub_step_duration_seconds', 'Time one step took for one message (its sink calls included).', this.registry);
    this.#sinkCalls = tallies('counter', { name: 'hub_sink_calls_total', help: 'Calls of a sink (each attempt), by outcome ("ok" or the error code).', labelNames: [...FLOW_LABELS, 'sink', 'outcome'], registers });
    this.#sinkDuration = new DurationFamily('hub_sink_call_duration_seconds', 'Time one sink call (one attempt) took.', this.registry);
  }

  /** The text exposition format, for GET /metrics. */
  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** The series of one flow, bound once when its runner is made; they start at zero, so they exist before its first message. */
  forFlow(def: Pick<FlowDefinition, 'name' | 'steps' | 'sinks'>): FlowMetrics {
    const { name, namespace } = this.workload;
    const inbound = { flow: def.name, source_workload: UNKNOWN, source_workload_namespace: UNKNOWN, destination_workload: name, destination_workload_namespace: namespace };
    const outbound = { flow: def.name, source_workload: name, source_workload_namespace: namespace, destination_workload: UNKNOWN, destination_workload_namespace: UNKNOWN };
    const failed = this.#failed;
    const sinkCalls = this.#sinkCalls;
    return {
      received: this.#received.bind(inbound),
      delivered: this.#delivered.bind(inbound),
      dead: this.#dead.bind(inbound),
      sinkRetries: this.#retries.bind({ ...inbound, kind: 'sink' }),
      durableRetries: this.#retries.bind({ ...inbound, kind: 'durable' }),
      inFlight: this.#inFlight.bind(inbound),
      deliveredIn: this.#duration.bind({ ...inbound, outcome: 'delivered' }),
      failedIn: this.#duration.bind({ ...inbound, outcome: 'failed' }),
      failed: cached((code) => failed.bind({ ...inbound, code })),
      steps: def.steps.map((s) => this.#stepDuration.bind({ ...inbound, step: s.label })),
      sinks: new Map(
        [...def.sinks.keys()].map((sink) => {
          const labels = { ...outbound, sink };
          return [sink, { ok: sinkCalls.bind({ ...labels, outcome: 'ok' }), failed: cached((code) => sinkCalls.bind({ ...labels, outcome: code })), duration: this.#sinkDuration.bind(labels) }];
        }),
      ),
    };
  }
}

/** One series per error code, bound the first time that code is seen (codes come from one finite table). */
function cached(bind: (code: string) => Tally): (code: string) => Tally {
  const series = new Map<string, Tally>();
  return (code) => {
    let tally = series.get(code);
    if (!tally) series.set(code, (tally = bind(code)));
    return tally;
  };
}

export interface SinkMetrics {
  ok: Tally;
  failed: (code: string) => Tally;
  duration: Durations;
}

/** A flow's metrics, label sets bound: what FlowRunner updates on the message path. */
export interface FlowMetrics {
  received: Tally;
  delivered: Tally;
  dead: Tally;
  sinkRetries: Tally;
  durableRetries: Tally;
  inFlight: Tally;
  deliveredIn: Durations;
  failedIn: Durations;
  failed: (code: string) => Tally;
  /** By step index. */
  steps: Durations[];
  sinks: ReadonlyMap<string, SinkMetrics>;
}
