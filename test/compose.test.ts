/**
 * compose.yaml is for users with Docker (not run here): keep it in step with the flows it runs. Every
 * environment variable a flow needs without a default must be set for the hub service that runs it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/processes.js';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
}
const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, Service> };

function requiredEnv(dir: string): string[] {
  const names = new Set<string>();
  for (const f of readdirSync(join(ROOT, dir)).filter((x) => x.endsWith('.yaml'))) {
    for (const m of readFileSync(join(ROOT, dir, f), 'utf8').matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(m[1]!);
  }
  return [...names].sort();
}

describe('compose.yaml', () => {
  it('runs the hub, the broker flows, RabbitMQ, Kafka (KRaft), Redis and the demo peers', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['hub', 'hub-brokers', 'kafka', 'legacy-erp', 'rabbitmq', 'redis', 'shipping-api']);
    expect(compose.services.kafka!.image).toMatch(/^apache\/kafka:4\./);
    expect(compose.services['hub-brokers']!.command).toEqual(['node', 'bin/hub.js', 'run', '--flows', 'flows/brokers']);
  });

  it.each([
    ['hub', 'flows'],
    ['hub-brokers', 'flows/brokers'],
  ])('gives %s every environment variable its flows need', (service, dir) => {
    const env = compose.services[service]!.environment ?? {};
    for (const name of requiredEnv(dir)) expect(env, `${service} needs ${name}`).toHaveProperty(name);
  });

  it('starts the simulators the way the demo does', () => {
    expect(compose.services['legacy-erp']!.command).toEqual(['node', 'dist/sim/legacy-erp.js']);
    expect(compose.services['shipping-api']!.command).toEqual(['node', 'dist/sim/shipping-api.js']);
  });
});
