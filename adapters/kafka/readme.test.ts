import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintFlows } from '../../test/support/lint.js';
import { describe, expect, it } from 'vitest';
import amqp from '../amqp/index.js';
import { sinkSchema, sourceSchema } from './config.js';
import kafka from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

function lint(files: Record<string, string>) {
  // amqp too: the pipelining example writes to RabbitMQ.
  return lintFlows(files, { adapters: [kafka, amqp], env: { KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092', KAFKA_USER: 'hub', KAFKA_PASSWORD: 'secret', AMQP_URL: 'amqp://hub@rabbit:5672' } });
}

describe('kafka adapter: README examples', () => {
  const readme = readFileSync(join(here, 'README.md'), 'utf8');
  const flows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has an example for every source and sink option', () => {
    const all = flows.join('\n');
    for (const key of Object.keys(sourceSchema.properties as object)) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    for (const key of Object.keys(sinkSchema.properties as object)) expect(all, key).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
  });

  it('lints every example flow without errors', () => {
    expect(flows.length).toBeGreaterThanOrEqual(5);
    const result = lint(Object.fromEntries(flows.map((text, i) => [`example-${i}.yaml`, text])));
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(result.flows).toHaveLength(flows.length);
  });
});
