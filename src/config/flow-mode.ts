/**
 * Flow mode (mesh style): `hub run --flow NAME` runs one flow as a service of its own, with hub mode's runtime.
 * What differs is decided here: which flow is picked, and where its embedded journal lives so that several flow
 * services run side by side on one machine.
 */
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { closest, type FlowDefinition } from './load-flows.js';
import type { HubConfig } from './hub-config.js';

/** `--flow NAME` names no flow in the flows folder. */
export class UnknownFlowError extends ConfigError {
  override readonly name = 'UnknownFlowError';
  constructor(
    readonly flow: string,
    readonly known: string[],
    readonly flowsDir: string,
  ) {
    const suggestion = closest(flow, known);
    super('FLOW_UNKNOWN', `no flow named "${flow}" in ${flowsDir}${suggestion ? `; did you mean "${suggestion}"?` : ''} (flows: ${known.join(', ') || 'none'})`);
  }
}

/** The one flow named `name`; throws UnknownFlowError with the flows there are. */
export function selectFlow(flows: FlowDefinition[], name: string, flowsDir: string): FlowDefinition {
  const flow = flows.find((f) => f.name === name);
  if (!flow) throw new UnknownFlowError(name, flows.map((f) => f.name).sort(), flowsDir);
  return flow;
}

/**
 * The port a flow service listens on: `--port` or HUB_PORT when given; else the flow's own port when it names one
 * (`flowPort`); else hub.yaml's or the default. The flow's own beats hub.yaml's, which every flow service started
 * from that file shares.
 */
export function servicePort(config: HubConfig, flowPort?: number): number {
  if (flowPort === undefined || config.portFrom === 'flag' || config.portFrom === 'env') return config.port;
  return flowPort;
}

/**
 * The embedded journal's folder for one flow service: `<journal dir>/<flow>`, so that flow services sharing a hub.yaml
 * (or its default) each have their own store and lock, unless HUB_JOURNAL_DIR named this process's folder exactly.
 */
export function flowJournalDir(journal: HubConfig['journal'], flow: string): string {
  return journal.dirExact ? journal.dir : join(journal.dir, flow);
}
