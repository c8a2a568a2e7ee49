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
  volumes?: string[];
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

  it('keeps the journal: the embedded one on a volume the hub may write, the broker flows on Redis with AOF', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/HUB_JOURNAL_DIR=\/var\/lib\/hub\/journal/);
    expect(dockerfile).toMatch(/chown -R node:node \/var\/lib\/hub/);
    expect(compose.services.hub!.volumes).toEqual(['hub-journal:/var/lib/hub']);
    expect(compose.services['hub-brokers']!.environment).toMatchObject({ REDIS_URL: 'redis://redis:6379' });
    expect(compose.services.redis!.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
  });

  it('builds with every file `npm run build` reads', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const build = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build;
    for (const script of build.match(/scripts\/[\w.-]+/g) ?? []) expect(dockerfile, script).toContain(`COPY ${script} `);
  });

  it('starts the simulators the way the demo does', () => {
    expect(compose.services['legacy-erp']!.command).toEqual(['node', 'dist/sim/legacy-erp.js']);
    expect(compose.services['shipping-api']!.command).toEqual(['node', 'dist/sim/shipping-api.js']);
  });
});
