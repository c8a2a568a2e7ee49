import { ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Context, type Span, type SpanOptions, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import type { FlowDefinition } from '../config/load-flows.js';
import type { HubError } from '../core/errors.js';
import type { Message } from '../core/message.js';

/** The instrumentation scope of the hub's spans. */
export const TRACER_NAME = 'integration-hub';

// Propagators of our own rather than the global one: the hub reads W3C and B3 on every ingress whether or not an
// SDK (and with it a global propagator) is registered, and writes the format the message came with.
const W3C = new W3CTraceContextPropagator();
const B3_SINGLE = new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER });
const B3_MULTI = new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });
const B3_MULTI_HEADERS = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/** Message headers are lower-case already (Message normalizes them). */
const getter: TextMapGetter<Readonly<Record<string, string>>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};
const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => void (carrier[key] = value),
};

/** What the API hands out while no SDK is registered: a provider without a delegate answers with it. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Whether an SDK is registered. Without one every span is a no-op, so the runner skips even reading the trace
 * headers (parsing a traceparent and its tracestate costs microseconds a message, measured).
 */
function sdkRegistered(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** The trace context a message came with: W3C traceparent/tracestate, else B3 (single `b3` or the x-b3-* headers). */
export function extractContext(headers: Readonly<Record<string, string>>): Context {
  let ctx = ROOT_CONTEXT;
  if (headers.b3 !== undefined || headers['x-b3-traceid'] !== undefined) ctx = B3_SINGLE.extract(ctx, headers, getter);
  return headers.traceparent !== undefined ? W3C.extract(ctx, headers, getter) : ctx;
}

/**
 * The headers to send downstream with `span` as the new parent: traceparent (and tracestate) always, b3 in the
 * form the message came with. Everything else is kept as it is (x-request-id, baggage, correlation-id).
 */
export function egressHeaders(headers: Readonly<Record<string, string>>, span: Span): Record<string, string> {
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  const out = { ...headers };
  W3C.inject(ctx, out, setter);
  if (out.b3 !== undefined) B3_SINGLE.inject(ctx, out, setter);
  if (out['x-b3-traceid'] !== undefined) {
    for (const h of B3_MULTI_HEADERS) delete out[h];
    B3_MULTI.inject(ctx, out, setter);
  }
  return out;
}

/** Marks a span failed with the hub's error code (`error.type`, as OpenTelemetry's conventions name it). */
export function failSpan(span: Span, e: HubError): void {
  span.setAttribute('error.type', e.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message.slice(0, 500) });
}

/**
 * The spans of one flow, through @opentelemetry/api only: one per message run (SERVER for a source that waits for a
 * reply, CONSUMER for a broker's), a child per step, a CLIENT (request-reply) or PRODUCER (one-way) span per sink
 * call, whose context the message carries downstream. With no SDK registered the API hands out non-recording
 * spans: then nothing below the message span is made and the message's own trace headers go on unchanged.
 */
export class FlowTracing {
  // A ProxyTracer: it starts delegating once an SDK registers, even if that happens after the runner was made.
  readonly #tracer = trace.getTracer(TRACER_NAME);
  readonly #messageOptions: SpanOptions;
  readonly #messageName: string;
  readonly #steps: { name: string; options: SpanOptions }[];
  readonly #sinks: Map<string, { name: string; options: SpanOptions }>;

  constructor(def: Pick<FlowDefinition, 'name' | 'steps' | 'sinks' | 'source'>) {
    this.#messageName = `flow ${def.name}`;
    this.#messageOptions = { kind: def.source.requestReply ? SpanKind.SERVER : SpanKind.CONSUMER, attributes: { 'hub.flow': def.name, 'hub.source': def.source.adapter } };
    this.#steps = def.steps.map((s) => ({ name: `step ${s.label}`, options: { attributes: { 'hub.flow': def.name, 'hub.step': s.label } } }));
    this.#sinks = new Map(
      [...def.sinks].map(([name, s]) => [name, { name: `sink ${name}`, options: { kind: s.requestReply ? SpanKind.CLIENT : SpanKind.PRODUCER, attributes: { 'hub.flow': def.name, 'hub.sink': name, 'hub.sink.adapter': s.adapter } } }]),
    );
  }

  /** The span of one run of `message`, parented on its inbound trace headers; undefined when nothing records it. */
  message(message: Message): Span | undefined {
    if (!sdkRegistered()) return undefined;
    const span = this.#tracer.startSpan(this.#messageName, this.#messageOptions, extractContext(message.headers));
    if (!span.isRecording()) return undefined;
    span.setAttribute('hub.message.id', message.id);
    span.setAttribute('hub.attempt', message.meta.attempt ?? 1);
    if (message.meta.replayOf) span.setAttribute('hub.replay_of', message.meta.replayOf);
    // The caller a gateway let in (src/kit/gateway): its name, never its credential.
    if (typeof message.meta.consumer === 'string') span.setAttribute('hub.consumer', message.meta.consumer);
    return span;
  }

  /** A child of the active span (the message's) for step `index`; undefined when the message is not traced. */
  step(index: number): Span | undefined {
    const parent = context.active();
    if (!trace.getSpan(parent)?.isRecording()) return undefined;
    const s = this.#steps[index]!;
    return this.#tracer.startSpan(s.name, s.options, parent);
  }

  /** A child of the active span (a step's) for one call of `sink`; undefined when the message is not traced. */
  sink(sink: string, attempt: number): Span | undefined {
    const parent = context.active();
    if (!trace.getSpan(parent)?.isRecording()) return undefined;
    const s = this.#sinks.get(sink);
    const span = this.#tracer.startSpan(s?.name ?? `sink ${sink}`, s?.options ?? { kind: SpanKind.CLIENT }, parent);
    span.setAttribute('hub.attempt', attempt);
    return span;
  }

  /** True when a message without `span` runs as it is: within(span, fn, true) would only call fn (no closure needed). */
  untraced(span: Span | undefined): boolean {
    return !span && !trace.getSpan(context.active());
  }

  /**
   * Runs `fn` with `span` active, so the spans it starts (and the sinks it calls) are its children. A message's
   * span (`root`) starts from an empty context: whatever was active where the bulkhead let it run (another
   * message's step, as a freed slot runs the next in line) is no parent of it.
   */
  within<T>(span: Span | undefined, fn: () => T, root = false): T {
    if (span) return context.with(trace.setSpan(root ? ROOT_CONTEXT : context.active(), span), fn);
    // An untraced message must not become a child of the span it happened to be let in under either.
    if (root && trace.getSpan(context.active())) return context.with(ROOT_CONTEXT, fn);
    return fn();
  }
}
