import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../builtins.js';
import { defaultHubConfig } from '../config/hub-config.js';
import { PROJECT_ROOT } from '../config/paths.js';
import type { FlowDefinition } from '../config/load-flows.js';
import type { Sink, SourceContext } from '../core/contracts.js';
import { hubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import { openEmbeddedJournal } from '../journal/embedded.js';
import { FlowRunner } from './flow-runner.js';
import { Hub } from '../hub.js';
import { HubMetrics, hubWorkload } from './metrics.js';
import { RetryPoller } from './retry-poller.js';
import { idleSource, testFlow } from './testing.js';

// Real runners (and a real hub) counting into a real prom-client registry; only the source and sinks are written here.
const logger = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The value of one series of a metric, found by the labels given (others ignored); 0 when absent. */
async function value(metrics: HubMetrics, name: string, labels: Record<string, string> = {}, suffix = ''): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.filter((v) => (suffix ? (v as { metricName?: string }).metricName === `${name}${suffix}` : true) && Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l));
  return found.reduce((sum, v) => sum + v.value, 0);
}

const msg = (value: unknown, flow = 'metrics-test'): Message => new Message({ value, meta: { flow, source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });

describe('HubMetrics with a FlowRunner', () => {
  it('counts exactly: received, delivered, failed by code, sink retries, sink calls by outcome, latencies, nothing left in flight', async () => {
    const metrics = new HubMetrics({ name: 'hub', namespace: 'unknown' }, { processMetrics: false });
    const flaky = new Set<string>();
    const out: Sink = {
      start: async () => {},
      stop: async () => {},
      ready: () => true,
      send: async (m) => {
        const { kind, n } = m.json() as { kind: string; n: number };
        if (kind === 'bad') throw hubError('DOWNSTREAM_REJECTED', 'no');
        if (kind === 'flaky' && !flaky.has(String(n))) {
          flaky.add(String(n));
          throw hubError('DOWNSTREAM_UNAVAILABLE', 'down once');
        }
        return undefined;
      },
    };
    let ctx: SourceContext | undefined;
    const steps: FlowDefinition['steps'] = [
      { label: '0:mark', kind: 'set_headers', run: (m) => [m.with({ headers: { ...m.headers, 'x-mark': '1' } })] },
      { label: '1:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] },
    ];
    const def = testFlow('metrics-test', idleSource(async (c) => void (ctx = c)), { out }, { steps }, { source: true });
    const runner = new FlowRunner(def, logger, undefined, { metrics: metrics.forFlow(def) });
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    cleanup.push(() => runner.stop(100));

    for (let n = 0; n < 3; n++) await ctx!.deliver(msg({ kind: 'ok', n }));
    await ctx!.deliver(msg({ kind: 'flaky', n: 3 }));
    await expect(ctx!.deliver(msg({ kind: 'bad', n: 4 }))).rejects.toMatchObject({ code: 'DOWNSTREAM_REJECTED' });

    const flow = { flow: 'metrics-test' };
    expect(await value(metrics, 'hub_messages_received_total', { ...flow, source_workload: 'unknown', destination_workload: 'hub' })).toBe(5);
    expect(await value(metrics, 'hub_messages_delivered_total', flow)).toBe(4);
    expect(await value(metrics, 'hub_messages_failed_total', { ...flow, code: 'DOWNSTREAM_REJECTED' })).toBe(1);
    expect(await value(metrics, 'hub_messages_failed_total', flow)).toBe(1);
    expect(await value(metrics, 'hub_messages_dead_total', flow)).toBe(0);
    expect(await value(metrics, 'hub_retries_total', { ...flow, kind: 'sink' })).toBe(1);
    expect(await value(metrics, 'hub_retries_total', { ...flow, kind: 'durable' })).toBe(0);
    expect(await value(metrics, 'hub_messages_in_flight', flow)).toBe(0);
    const sinkSide = { ...flow, sink: 'out', source_workload: 'hub', destination_workload: 'unknown' };
    expect(await value(metrics, 'hub_sink_calls_total', { ...sinkSide, outcome: 'ok' })).toBe(4);
    expect(await value(metrics, 'hub_sink_calls_total', { ...sinkSide, outcome: 'DOWNSTREAM_UNAVAILABLE' })).toBe(1);
    expect(await value(metrics, 'hub_sink_calls_total', { ...sinkSide, outcome: 'DOWNSTREAM_REJECTED' })).toBe(1);
    expect(await value(metrics, 'hub_sink_call_duration_seconds', sinkSide, '_count')).toBe(6);
    expect(await value(metrics, 'hub_message_duration_seconds', { ...flow, outcome: 'delivered' }, '_count')).toBe(4);
    expect(await value(metrics, 'hub_message_duration_seconds', { ...flow, outcome: 'failed' }, '_count')).toBe(1);
    expect(await value(metrics, 'hub_step_duration_seconds', { ...flow, step: '0:mark' }, '_count')).toBe(5);
    expect(await value(metrics, 'hub_step_duration_seconds', { ...flow, step: '1:to' }, '_count')).toBe(5);
    // Every message is inside the largest finite bucket: the observations are seconds, not milliseconds.
    expect(await value(metrics, 'hub_message_duration_seconds', { ...flow, outcome: 'delivered', le: '30' }, '_bucket')).toBe(4);
  });

  it('counts durable retries apart from sink retries, and a message that runs out of them as dead', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'metrics-journal-'));
    const journal = await openEmbeddedJournal({ dir });
    cleanup.push(async () => {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    });
    const metrics = new HubMetrics({ name: 'orders', namespace: 'shop' }, { processMetrics: false });
    const out: Sink = { start: async () => {}, stop: async () => {}, ready: () => true, send: async () => Promise.reject(hubError('DOWNSTREAM_UNAVAILABLE', 'down')) };
    let ctx: SourceContext | undefined;
    const def = testFlow('durable-test', idleSource(async (c) => void (ctx = c)), { out }, {
      steps: [{ label: '0:to', kind: 'to', run: async (m, c) => [(await c.send('out', m)) ?? m] }],
      retry: { attempts: 2, backoff: 'fixed', initialMs: 1, maxMs: 1 },
      durable: { attempts: 1, backoff: 'exponential', initialMs: 10, maxMs: 10 },
    });
    const runner = new FlowRunner(def, logger, journal, { metrics: metrics.forFlow(def) });
    await runner.start({} as never, { bodyBytes: 1 << 20, maxDepth: 64 });
    const poller = new RetryPoller(journal, new Map([[runner.name, runner]]), logger, { pollMs: 10 });
    poller.start();
    cleanup.push(async () => {
      poller.halt();
      await runner.stop(100);
      await poller.drained();
    });
    const m = msg({ kind: 'any' }, 'durable-test');
    expect((await ctx!.deliver(m)).parked).toBe('waiting-for-retry');
    for (let i = 0; i < 500 && (await journal.get(m.id))?.status !== 'dead'; i++) await sleep(10);
    await sleep(50);

    const flow = { flow: 'durable-test', destination_workload: 'orders', destination_workload_namespace: 'shop' };
    expect(await value(metrics, 'hub_messages_received_total', flow)).toBe(1);
    expect(await value(metrics, 'hub_retries_total', { ...flow, kind: 'durable' })).toBe(1);
    expect(await value(metrics, 'hub_retries_total', { ...flow, kind: 'sink' })).toBe(2);
    expect(await value(metrics, 'hub_messages_failed_total', { ...flow, code: 'DOWNSTREAM_UNAVAILABLE' })).toBe(2);
    expect(await value(metrics, 'hub_messages_dead_total', flow)).toBe(1);
    expect(await value(metrics, 'hub_messages_delivered_total', flow)).toBe(0);
    expect(await value(metrics, 'hub_messages_in_flight', flow)).toBe(0);
    expect(await value(metrics, 'hub_sink_calls_total', { sink: 'out', source_workload: 'orders', source_workload_namespace: 'shop', outcome: 'DOWNSTREAM_UNAVAILABLE' })).toBe(4);
  });

  it('names the workload hub, the flow in flow mode, or HUB_WORKLOAD; the namespace from POD_NAMESPACE', () => {
    expect(hubWorkload(undefined, {})).toEqual({ name: 'hub', namespace: 'unknown' });
    expect(hubWorkload('orders', {})).toEqual({ name: 'orders', namespace: 'unknown' });
    expect(hubWorkload('orders', { HUB_WORKLOAD: 'orders-v2', POD_NAMESPACE: 'shop' })).toEqual({ name: 'orders-v2', namespace: 'shop' });
  });
});

describe('GET /metrics on a real hub', () => {
  async function hubWith(options: { flow?: string; env?: NodeJS.ProcessEnv; token?: string } = {}): Promise<Hub> {
    const dir = await mkdtemp(join(tmpdir(), 'metrics-hub-'));
    await writeFile(
      join(dir, 'echo.yaml'),
      ['name: echo', 'source:', '  rest: { method: POST, path: /echo }', 'steps:', "  - transform: { jsonata: '{ \"got\": n }' }", ''].join('\n'),
    );
    await writeFile(join(dir, 'other.yaml'), ['name: other', 'source:', '  rest: { method: POST, path: /other }', 'steps:', "  - transform: { jsonata: '$' }", ''].join('\n'));
    const hub = await Hub.build({
      config: defaultHubConfig({ port: 0, flowsDir: dir, schemasDir: join(PROJECT_ROOT, 'schemas'), logLevel: 'silent', shutdownGraceMs: 500, journal: { dir: join(dir, '.journal') }, ...(options.token ? { admin: { token: options.token } } : {}) }),
      registry: builtinRegistry(),
      logger,
      env: options.env ?? {},
      ...(options.flow ? { flow: options.flow } : {}),
    });
    cleanup.push(async () => {
      await hub.stop();
      await rm(dir, { recursive: true, force: true });
    });
    return hub;
  }

  it('serves the text exposition format without a login: process metrics and the flows\' counts and latencies', async () => {
    const hub = await hubWith({ token: 'metrics-test-token-0123456789abcdef' });
    expect((await hub.app.inject({ method: 'GET', url: '/admin/api/flows' })).statusCode).toBe(401);
    for (let n = 0; n < 3; n++) expect((await hub.app.inject({ method: 'POST', url: '/echo', payload: { n } })).statusCode).toBe(200);
    const res = await hub.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const inbound = 'source_workload="unknown",source_workload_namespace="unknown",destination_workload="hub",destination_workload_namespace="unknown"';
    expect(res.body).toContain(`hub_messages_received_total{flow="echo",${inbound}} 3`);
    expect(res.body).toContain(`hub_messages_delivered_total{flow="echo",${inbound}} 3`);
    expect(res.body).toContain(`hub_messages_received_total{flow="other",${inbound}} 0`);
    expect(res.body).toContain(`hub_message_duration_seconds_count{flow="echo",${inbound},outcome="delivered"} 3`);
    expect(res.body).toContain(`hub_step_duration_seconds_count{flow="echo",${inbound},step="0:transform"} 3`);
    expect(res.body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(res.body).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('in flow mode names the flow as the workload (HUB_WORKLOAD and POD_NAMESPACE override), and serves only that flow', async () => {
    const alone = await hubWith({ flow: 'echo' });
    expect((await alone.app.inject({ method: 'POST', url: '/echo', payload: { n: 1 } })).statusCode).toBe(200);
    const body = (await alone.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toContain('hub_messages_received_total{flow="echo",source_workload="unknown",source_workload_namespace="unknown",destination_workload="echo",destination_workload_namespace="unknown"} 1');
    expect(body).not.toContain('flow="other"');

    const named = await hubWith({ flow: 'echo', env: { HUB_WORKLOAD: 'echo-v2', POD_NAMESPACE: 'shop' } });
    expect((await named.app.inject({ method: 'GET', url: '/metrics' })).body).toContain('destination_workload="echo-v2",destination_workload_namespace="shop"');
  });
});
