/**
 * The OpenTelemetry SDK, registered by `hub run` only when OTLP is configured. The runtime itself speaks to
 * @opentelemetry/api alone (src/runtime/tracing.ts), so an application that embeds the hub brings its own SDK,
 * and a hub without one pays for no-op spans only.
 */
import { context, diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { HubConfig } from '../config/hub-config.js';
import type { Workload } from './metrics.js';

export interface TracingSdkOptions {
  tracing: NonNullable<HubConfig['tracing']>;
  workload: Workload;
  version: string;
  /** Replaces the batch processor with its OTLP exporter (tests: a SimpleSpanProcessor over an InMemorySpanExporter). */
  spanProcessor?: SpanProcessor;
  env?: NodeJS.ProcessEnv;
  /** Where the SDK's own warnings go (an export that failed, a full queue). */
  logger?: Logger;
}

/** The longest a stopping hub waits for its last spans to be exported: an unreachable collector must not hold the exit. */
const FLUSH_MS = 5_000;

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
  const log = options.logger;
  if (log) {
    const warn = (message: string, ...args: unknown[]): void => log.warn({ args }, `tracing: ${message}`);
    const quiet = (): void => {};
    diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
  }
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
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([provider.shutdown(), new Promise<void>((resolve) => (timer = setTimeout(() => (log?.warn(`tracing: spans not exported within ${FLUSH_MS} ms of the stop were dropped`), resolve()), FLUSH_MS)))]);
      } finally {
        clearTimeout(timer);
        trace.disable();
        context.disable();
        diag.disable();
      }
    },
  };
}
