import type { FlowDefinition } from '../config/load-flows.js';
import type { Hop, HopCell } from '../config/service.js';
import type { GatewayDefaults } from '../kit/gateway/guard.js';
import { gatewayOwnershipOf, type GatewayOwnership } from './gateway.js';

/** One flow's row of `hub mesh lint`: who owns retries, timeouts and circuit breaking on each hop. */
export interface FlowOwnership {
  flow: string;
  service: string;
  owner: { retries: string; timeouts: string; circuit_breaking: string };
  hops: { hop: string; adapter: string; transport: string; retries: HopCell; timeouts: HopCell; circuit_breaking: HopCell; calls_per_message?: number }[];
  /** Who checks callers and counts their rate on the inbound hop (HTTP sources only). */
  inbound_gateway?: GatewayOwnership;
}

export function ownershipOf(flow: FlowDefinition, httpSources?: GatewayDefaults): FlowOwnership | undefined {
  const service = flow.service;
  if (!service) return undefined;
  const gateway = gatewayOwnershipOf(flow, httpSources);
  return {
    flow: flow.name,
    service: service.name,
    owner: { ...service.owner },
    hops: service.hops.map((h: Hop) => ({
      hop: h.kind === 'inbound' ? 'inbound' : `sink ${h.name}`,
      adapter: h.adapter,
      transport: h.transport,
      retries: h.retries,
      timeouts: h.timeouts,
      circuit_breaking: h.circuitBreaking,
      ...(h.callsPerMessage === undefined ? {} : { calls_per_message: h.callsPerMessage }),
    })),
    ...(gateway ? { inbound_gateway: gateway } : {}),
  };
}

const cell = (c: HopCell): string => `${c.owner === 'both' ? 'BOTH' : c.owner}: ${c.detail}`;

/** The table `hub mesh lint` prints for a flow: hop x {retries, timeouts, circuit breaking}. */
export function formatOwnership(o: FlowOwnership): string {
  const owners = o.owner.retries === o.owner.timeouts && o.owner.timeouts === o.owner.circuit_breaking ? `owner: ${o.owner.retries}` : `owners: retries ${o.owner.retries}, timeouts ${o.owner.timeouts}, circuit breaking ${o.owner.circuit_breaking}`;
  const header = ['hop', 'retries', 'timeouts', 'circuit breaking'];
  const rows = o.hops.map((h) => [`${h.hop} (${h.adapter}, ${h.transport})`, cell(h.retries), cell(h.timeouts), cell(h.circuit_breaking)]);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const stacked = o.hops.filter((h) => h.retries.owner === 'both' || h.timeouts.owner === 'both');
  return [
    `${o.flow} (service ${o.service}; ${owners})`,
    line(header),
    ...rows.map(line),
    ...(o.inbound_gateway
      ? [
          `  inbound authentication: ${o.inbound_gateway.authentication.owner}: ${o.inbound_gateway.authentication.detail}`,
          `  inbound rate limiting:  ${o.inbound_gateway.rate_limiting.owner}: ${o.inbound_gateway.rate_limiting.detail}`,
        ]
      : []),
    ...stacked.map((h) => `  warning: ${h.hop}: ${h.retries.owner === 'both' ? `retries stacked (${h.retries.detail})` : `timeouts stacked (${h.timeouts.detail})`}`),
  ].join('\n');
}
