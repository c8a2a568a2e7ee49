import { request } from 'undici';
import { expect } from 'vitest';
import { startHub, type HubProcess } from './processes.js';

/** The two ways to run the same flows: one hub process (ESB style), or one `hub run --flow` process per flow (mesh style). */
export type RunMode = 'hub' | 'flow';
export const RUN_MODES: RunMode[] = ['hub', 'flow'];

/** The flows of a test, running in one mode: where each flow is served, and its processes. */
export interface Deployment {
  mode: RunMode;
  /** The base URL of the process that serves `flow`. */
  url(flow: string): string;
  /** Each flow's process (in hub mode, the one process under every name). */
  processes: ReadonlyMap<string, HubProcess>;
  /** Every process, once each. */
  all(): HubProcess[];
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts `flows` in `mode` with the same arguments and environment: in hub mode one `hub run`, in flow mode one
 * `hub run --flow NAME` per flow, each on its own free port with its own journal, all started side by side and each
 * waited for until its own /readyz answers 200.
 */
export async function deploy(mode: RunMode, flows: string[], args: string[], options: Parameters<typeof startHub>[1] = {}): Promise<Deployment> {
  const processes = new Map<string, HubProcess>();
  if (mode === 'hub') {
    const hub = await startHub(args, options);
    for (const f of flows) processes.set(f, hub);
  } else {
    // Several processes start at once on a machine that may be busy: each gets longer than one hub would.
    const started = await Promise.allSettled(flows.map((f) => startHub([...args, '--flow', f], { readyTimeoutMs: 60_000, ...options })));
    started.forEach((s, i) => s.status === 'fulfilled' && processes.set(flows[i]!, s.value));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all([...processes.values()].map((p) => p.stop()));
      throw failed.reason;
    }
  }
  const all = (): HubProcess[] => [...new Set(processes.values())];
  return {
    mode,
    processes,
    all,
    url(flow) {
      const p = processes.get(flow);
      if (!p) throw new Error(`flow "${flow}" is not deployed (flows: ${flows.join(', ')})`);
      return p.url;
    },
    logs: () => all().map((p) => p.logs()).join('\n'),
    async stop() {
      await Promise.all(all().map((p) => p.stop()));
    },
  };
}

/**
 * What a flow service serves besides its flow: /healthz, its readiness, and /metrics when this build has it (it
 * arrives separately: until then the route is absent and answers 404 problem+json like any other unknown route).
 */
export async function expectFlowService(d: Deployment, flow: string): Promise<void> {
  const url = d.url(flow);
  expect((await request(`${url}/healthz`)).statusCode).toBe(200);
  const ready = await request(`${url}/readyz`);
  expect(ready.statusCode).toBe(200);
  expect(await ready.body.json()).toMatchObject({ status: 'ready', service: flow, flows: { [flow]: 'ready' }, source: 'ready' });
  const metrics = await request(`${url}/metrics`);
  const text = await metrics.body.text();
  if (metrics.statusCode === 404) expect(metrics.headers['content-type']).toMatch(/^application\/problem\+json/);
  else expect([metrics.statusCode, metrics.headers['content-type']], text).toEqual([200, expect.stringMatching(/^text\/plain|^application\/openmetrics-text/)]);
}

/** A request to a route of another flow, sent to `flow`'s own service: 404 problem+json there. */
export async function expectNotServed(d: Deployment, flow: string, method: 'GET' | 'POST', path: string): Promise<void> {
  const res = await request(`${d.url(flow)}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
  expect(res.statusCode).toBe(404);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(await res.body.json()).toMatchObject({ code: 'NOT_FOUND', status: 404, detail: expect.stringContaining(`flow "${flow}"`) });
}
