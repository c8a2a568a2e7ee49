/**
 * The OpenTelemetry SDK, registered by `hub run` only when OTLP is configured. The runtime itself speaks to
 * @opentelemetry/api alone (src/runtime/tracing.ts), so an application that embeds the hub brings its own SDK,
 * and a hub without one pays for no-op spans only.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { HubConfig } from './config/hub-config.js';
import type { Workload } from './runtime/metrics.js';

export interface TracingSdkOptions {
  tracing: NonNullable<HubConfig['tracing']>;
  workload: Workload;
  version: string;
  /** Replaces the batch processor with its OTLP exporter (tests: a SimpleSpanProcessor over an InMemorySpanExporter). */
  spanProcessor?: SpanProcessor;
  env?: NodeJS.ProcessEnv;
}

export interface TracingSdk {
  /** Exports the spans still buffered, then unregisters the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Registers a tracer provider with a batch span processor exporting over OTLP/HTTP (JSON) to
 * `tracing.endpoint`, and an AsyncLocalStorage context manager (the runner starts step and sink spans under the
 * active span). service.name is the workload (OTEL_SERVICE_NAME overrides it); sampling follows the parent's
 * decision, else `tracing.sampleRatio`.
 */
export function startTracing(options: TracingSdkOptions): TracingSdk {
  const { tracing, workload } = options;
  const env = options.env ?? process.env;
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const processor = options.spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter({ ...(tracing.endpoint ? { url: tracing.endpoint } : {}) }));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME || workload.name,
      'service.version': options.version,
      ...(workload.namespace !== 'unknown' ? { 'service.namespace': workload.namespace, 'k8s.namespace.name': workload.namespace } : {}),
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(tracing.sampleRatio) }),
    spanProcessors: [processor],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
      }
    },
  };
}
