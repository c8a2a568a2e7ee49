/** Flow definitions for runtime tests: a source and sinks written by the test, every other setting a small default. */
import type { FlowDefinition } from '../config/load-flows.js';
import type { Logger } from 'pino';
import type { SendContext, Sink, Source } from '../core/contracts.js';

/** A source that does nothing by itself: the test calls the `deliver` its start() receives. */
export function idleSource(onStart: Source['start'] = async () => {}): Source {
  return { start: onStart, stop: async () => {}, ready: () => true };
}

/** A flow named `name` whose sinks (one-way unless listed in `requestReply`) are the given ones; `over` replaces any field. */
export function testFlow(name: string, source: Source, sinks: Record<string, Sink>, over: Partial<FlowDefinition> = {}, requestReply: { source?: boolean; sinks?: string[] } = {}): FlowDefinition {
  return {
    name,
    description: undefined,
    file: `${name}.yaml`,
    source: { adapter: 'test', instance: source, requestReply: requestReply.source ?? false, claims: [], config: {} },
    sinks: new Map(Object.entries(sinks).map(([n, s]) => [n, { adapter: 'test', instance: s, requestReply: requestReply.sinks?.includes(n) ?? false, config: {} }])),
    steps: [],
    reply: { expression: undefined, status: undefined },
    concurrency: 4,
    queue: 100,
    timeoutMs: 5_000,
    retry: { attempts: 3, backoff: 'fixed', initialMs: 1, maxMs: 1 },
    durable: { attempts: 0, backoff: 'exponential', initialMs: 1, maxMs: 1 },
    deadLetterSink: undefined,
    journal: { record: 'failures', maxBodyBytes: 65536 },
    ...over,
  };
}

/** A sink's SendContext for calling a sink directly, cut short by `signal` (never, by default). */
export function sendContext(flow: string, logger: Logger, signal: AbortSignal = new AbortController().signal): SendContext {
  return {
    flow,
    logger,
    signal,
    get aborted() {
      return signal.aborted;
    },
  };
}
