import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { FlowDefinition } from '../config/load-flows.js';
import type { Sink, SourceContext } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { startTracing, type TracingSdk } from './tracing-sdk.js';
import { FlowRunner } from './flow-runner.js';
import { idleSource, testFlow } from './testing.js';
import { egressHeaders, extractContext } from './tracing.js';

// A real runner; the source and the sink are written here. Spans go to the SDK's in-memory exporter.
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER = 'b7ad6b7169203331';

async function rig(fail?: () => never): Promise<{ deliver: SourceContext['deliver']; seen: Message[]; runner: FlowRunner }> {
  const seen: Message[] = [];
  const out: Sink = {
    start: async () => {},
    stop: async () => {},
    ready: () => true,
    send: async (m) => {
      seen.push(m);
      if (fail) fail();
      return undefined;
    },
  };
  let ctx: SourceContext | undefined;
  const steps: FlowDefinition['steps'] = [{ label: '0:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] }];
  const runner = new FlowRunner(testFlow('trace-test', idleSource(async (c) => void (ctx = c)), { out }, { steps, retry: { attempts: 1, backoff: 'fixed', initialMs: 1, maxMs: 1 } }), pino({ level: 'silent' }));
  await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
  return { deliver: (m) => ctx!.deliver(m), seen, runner };
}

const msg = (headers: Record<string, string>): Message => new Message({ value: { a: 1 }, headers, meta: { flow: 'trace-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });

const B3_MULTI = { 'x-b3-traceid': TRACE, 'x-b3-spanid': CALLER, 'x-b3-parentspanid': '00f067aa0ba902b7', 'x-b3-sampled': '1' };

describe('trace headers without an SDK', () => {
  it('carries the incoming headers unchanged (the API is a no-op) and adds none to a message that came without', async () => {
    const { deliver, seen, runner } = await rig();
    const headers = { traceparent: `00-${TRACE}-${CALLER}-01`, tracestate: 'a=b', b3: `${TRACE}-${CALLER}-1`, 'x-request-id': 'r-1', ...B3_MULTI };
    await deliver(msg(headers));
    await deliver(msg({}));
    expect(seen[0]!.headers).toMatchObject(headers);
    expect(Object.keys(seen[1]!.headers).filter((h) => h.startsWith('x-b3') || h === 'traceparent' || h === 'b3')).toEqual([]);
    await runner.stop(100);
  });

  it('reads W3C before B3, and B3 single or multi when there is no traceparent', () => {
    const other = 'ffffffffffffffffffffffffffffffff';
    expect(trace.getSpanContext(extractContext({ traceparent: `00-${TRACE}-${CALLER}-01`, b3: `${other}-${CALLER}-1` }))?.traceId).toBe(TRACE);
    expect(trace.getSpanContext(extractContext({ b3: `${TRACE}-${CALLER}-1` }))).toMatchObject({ traceId: TRACE, spanId: CALLER, isRemote: true });
    expect(trace.getSpanContext(extractContext(B3_MULTI))).toMatchObject({ traceId: TRACE, spanId: CALLER });
    expect(trace.getSpanContext(extractContext({ traceparent: 'garbage' }))).toBeUndefined();
  });

  it('writes the new parent in every form the message came with, dropping the caller\'s stale x-b3-parentspanid', () => {
    const span = trace.wrapSpanContext({ traceId: TRACE, spanId: '1111111111111111', traceFlags: 1 });
    const out = egressHeaders({ ...B3_MULTI, 'x-request-id': 'r-1' }, span);
    expect(out).toEqual({ traceparent: `00-${TRACE}-1111111111111111-01`, 'x-b3-traceid': TRACE, 'x-b3-spanid': '1111111111111111', 'x-b3-sampled': '1', 'x-request-id': 'r-1' });
  });
});

describe('spans with the SDK registered', () => {
  const exporter = new InMemorySpanExporter();
  let sdk: TracingSdk | undefined;
  afterAll(async () => sdk?.shutdown());
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();

  it('parents the message span on the inbound B3 headers, the step on it, the sink call on the step, and sends the sink span as the parent', async () => {
    sdk = startTracing({ tracing: { endpoint: undefined, sampleRatio: 1 }, workload: { name: 'hub', namespace: 'unknown' }, version: 'test', spanProcessor: new SimpleSpanProcessor(exporter) });
    const { deliver, seen, runner } = await rig();
    await deliver(msg(B3_MULTI));
    await runner.stop(100);
    const [sinkSpan, step, flow] = spans();
    expect([flow!.name, step!.name, sinkSpan!.name]).toEqual(['flow trace-test', 'step 0:to', 'sink out']);
    expect(flow!.spanContext().traceId).toBe(TRACE);
    expect(flow!.parentSpanContext?.spanId).toBe(CALLER);
    expect(step!.parentSpanContext?.spanId).toBe(flow!.spanContext().spanId);
    expect(sinkSpan!.parentSpanContext?.spanId).toBe(step!.spanContext().spanId);
    const sent = seen[0]!.headers;
    expect(sent.traceparent).toBe(`00-${TRACE}-${sinkSpan!.spanContext().spanId}-01`);
    expect(sent['x-b3-spanid']).toBe(sinkSpan!.spanContext().spanId);
    expect(sent['x-b3-parentspanid']).toBeUndefined();
  });

  it('names the consumer a gateway let in on the message span (its name only)', async () => {
    exporter.reset();
    const { deliver, runner } = await rig();
    await deliver(new Message({ value: { a: 1 }, headers: { 'x-consumer': 'partner-a' }, meta: { flow: 'trace-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1, consumer: 'partner-a' } }));
    await runner.stop(100);
    expect(spans().find((s) => s.name === 'flow trace-test')!.attributes['hub.consumer']).toBe('partner-a');
  });

  it('marks the failing sink call, step and message with the error code; a message without trace headers starts a trace', async () => {
    exporter.reset();
    const { deliver, seen, runner } = await rig(() => {
      throw hubError('DOWNSTREAM_REJECTED', 'no such order');
    });
    await expect(deliver(msg({}))).rejects.toMatchObject({ code: 'DOWNSTREAM_REJECTED' });
    await runner.stop(100);
    expect(spans()).toHaveLength(3);
    for (const s of spans()) {
      expect(s.status, s.name).toMatchObject({ code: SpanStatusCode.ERROR });
      expect(s.attributes['error.type'], s.name).toBe('DOWNSTREAM_REJECTED');
    }
    const root = spans().find((s) => s.name === 'flow trace-test')!;
    expect(root.parentSpanContext).toBeUndefined();
    expect(seen[0]!.headers.traceparent).toMatch(new RegExp(`^00-${root.spanContext().traceId}-[0-9a-f]{16}-01$`));
  });

  it('sends a dead letter under the message span: the dead-letter sink call is its child and carries the trace', async () => {
    exporter.reset();
    const dir = await mkdtemp(join(tmpdir(), 'trace-journal-'));
    const journal = await openEmbeddedJournal({ dir });
    const dead: Message[] = [];
    const noop = { start: async () => {}, stop: async () => {}, ready: () => true };
    const sinks: Record<string, Sink> = { out: { ...noop, send: async () => Promise.reject(hubError('DOWNSTREAM_REJECTED', 'no')) }, dlq: { ...noop, send: async (m) => void dead.push(m) } };
    let ctx: SourceContext | undefined;
    const def = testFlow('trace-test', idleSource(async (c) => void (ctx = c)), sinks, { steps: [{ label: '0:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] }], deadLetterSink: 'dlq' });
    const runner = new FlowRunner(def, pino({ level: 'silent' }), journal);
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    try {
      expect((await ctx!.deliver(msg({ traceparent: `00-${TRACE}-${CALLER}-01` }))).parked).toBe('dead');
    } finally {
      await runner.stop(100);
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
    const flow = spans().find((s) => s.name === 'flow trace-test')!;
    const toDlq = spans().find((s) => s.name === 'sink dlq')!;
    expect(flow.kind).toBe(SpanKind.CONSUMER);
    expect(flow.attributes['hub.outcome']).toBe('dead');
    expect(toDlq.parentSpanContext?.spanId).toBe(flow.spanContext().spanId);
    expect(dead[0]!.headers.traceparent).toBe(`00-${TRACE}-${toDlq.spanContext().spanId}-01`);
    expect(dead[0]!.headers['x-error-code']).toBe('DOWNSTREAM_REJECTED');
  });
});
