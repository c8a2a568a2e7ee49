/**
 * The adapter conformance suite's one contract: each adapter has a driver that says honestly what it offers and
 * knows how to put messages in front of its source and read what its sink wrote, over the real transport. The
 * cases in conformance.test.ts and fault-cases.ts run for every driver, inside a real hub process.
 */
export interface Features {
  source: boolean;
  sink: boolean;
  /** Messages reach the flow in the order they were sent (per queue or partition). */
  ordered: boolean;
  /**
   * A message the transport accepted survives a hub crash: the broker redelivers it after a restart. (The
   * opposite is request-reply: the caller is told of the failure and owns the retry.)
   */
  persistent: boolean;
  /** Several hub replicas share the work of one source (consumer groups, competing consumers). */
  consumerGroups: boolean;
  /** The source answers its caller (HTTP, SOAP); a crash shows up there as a failed request, never as a success. */
  requestReply: boolean;
  /** The broker behind the adapter, which fault tests restart and take away (absent for HTTP and SOAP). */
  broker?: BrokerControl;
}

export interface BrokerControl {
  /** Stops the broker and starts it again, waiting until it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface Received {
  body: string;
  headers: Record<string, string>;
}

/** Resources of one test case, with names no other test uses. */
export interface Endpoint {
  /** `source: { [adapter]: sourceConfig }` reads what `send` puts in. */
  sourceConfig: Record<string, unknown>;
  /** `sinks: { out: { [adapter]: sinkConfig } }` writes where `receive` reads. */
  sinkConfig: Record<string, unknown>;
  /**
   * Puts one message in front of the source: publishes it, or calls the hub (at `hubUrl`) for request-reply
   * transports, resolving with the answer's status, or rejecting when the connection failed.
   */
  send(body: string, headers: Record<string, string>, hubUrl: string): Promise<{ status?: number }>;
  /** What the sink wrote so far, waiting until there are at least `n` (rejects after `timeoutMs`). */
  receive(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
  /** For a sink that calls a test server: makes it hold its answers, so the sink cannot confirm yet. */
  hold?(): { held(): number; release(): void };
}

export interface Driver {
  /** The adapter's name, as in flow YAML. */
  adapter: string;
  features: Features;
  /** Environment the hub process needs for this adapter (broker addresses). */
  env?(): Record<string, string>;
  open(): Promise<Endpoint>;
}

/** The headers every adapter carries both ways. */
export const TRACE_HEADERS = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=abc',
  b3: '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
  'x-request-id': 'req-7f3a',
  'correlation-id': 'corr-conformance-1',
};
