/**
 * The downstream peers of a comparison, in a process of their own (so that their work is not counted as the hub's,
 * nor slows the load driver): the simulated legacy ERP (SOAP, sim/legacy-erp.ts) and shipping API (REST,
 * sim/shipping-api.ts), and one fault injector per flow in front of them. A flow reaches its injector through
 * ${env:HUB_COMPARE_DOWNSTREAM_<FLOW>}; the injector sends /legacy-erp... to the ERP and anything else to the
 * shipping API. compare sets the faults over the process's IPC channel.
 *
 * Messages: peers -> compare { type: 'ready', downstreams: { flow: url } }; compare -> peers { type: 'fault', flow,
 * fault } answered by { type: 'fault-set', flow, counts }.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startLegacyErp } from '../../../sim/legacy-erp.js';
import { startShippingApi } from '../../../sim/shipping-api.js';
import { FaultInjector, HEALTHY, type Fault } from './fault-injector.js';
import type { Managed, ProcessSet } from './processes.js';

const MAIN = fileURLToPath(new URL('./peers-main.js', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

type ToPeers = { type: 'fault'; flow: string; fault: Fault };
type FromPeers = { type: 'ready'; downstreams: Record<string, string> } | { type: 'fault-set'; flow: string; counts: FaultInjector['counts'] };

/** In the peers process: starts everything, reports ready, obeys fault messages until told to stop. */
export async function runPeers(flows: string[]): Promise<void> {
  const erp = await startLegacyErp({ port: 0, host: '127.0.0.1' });
  const shipping = await startShippingApi({ port: 0, host: '127.0.0.1' });
  const routes = [
    { prefix: '/legacy-erp', origin: new URL(erp.url).origin },
    { prefix: '/', origin: new URL(shipping.url).origin },
  ];
  const injectors = new Map<string, FaultInjector>();
  const downstreams: Record<string, string> = {};
  for (const flow of flows) {
    const injector = new FaultInjector(routes);
    downstreams[flow] = await injector.start();
    injectors.set(flow, injector);
  }
  const stop = async (): Promise<void> => {
    await Promise.allSettled([...injectors.values()].map((i) => i.close()));
    await Promise.allSettled([erp.close(), shipping.close()]);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.on('message', (m: ToPeers) => {
    if (m?.type !== 'fault') return;
    const injector = injectors.get(m.flow);
    if (injector) injector.fault = m.fault;
    process.send?.({ type: 'fault-set', flow: m.flow, counts: injector?.counts ?? { passed: 0, failed: 0, delayed: 0 } } satisfies FromPeers);
  });
  process.send?.({ type: 'ready', downstreams } satisfies FromPeers);
}

/** compare's side: the peers process and its controls. */
export class Peers {
  private constructor(
    readonly process: Managed,
    /** Each flow's downstream base URL (its fault injector). */
    readonly downstreams: Record<string, string>,
  ) {}

  static async start(set: ProcessSet, flows: string[], cwd: string): Promise<Peers> {
    const managed = set.start('peers', MAIN, flows, { cwd, env: { ...process.env, NODE_ENV: 'production' } });
    const ready = new Promise<Record<string, string>>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`the downstream simulators did not start within ${READY_TIMEOUT_MS / 1000} s:\n${managed.output()}`)), READY_TIMEOUT_MS);
      managed.child.on('message', (m: FromPeers) => {
        if (m?.type !== 'ready') return;
        clearTimeout(timer);
        resolveReady(m.downstreams);
      });
      managed.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the downstream simulators exited (${code}) before they were ready:\n${managed.output()}`));
      });
    });
    return new Peers(managed, await ready);
  }

  /** Sets one flow's fault; resolves when the injector has it, with its counts so far. */
  async setFault(flow: string, fault: Fault = HEALTHY): Promise<FaultInjector['counts']> {
    const child = this.process.child;
    const answer = (async () => {
      for (;;) {
        const [m] = (await once(child, 'message')) as [FromPeers];
        if (m.type === 'fault-set' && m.flow === flow) return m.counts;
      }
    })();
    child.send({ type: 'fault', flow, fault } satisfies ToPeers);
    return answer;
  }

  async healAll(): Promise<void> {
    for (const flow of Object.keys(this.downstreams)) await this.setFault(flow, HEALTHY);
  }
}
