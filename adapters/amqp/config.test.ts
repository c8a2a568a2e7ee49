import { describe, expect, it } from 'vitest';
import { buildFlowSchema } from '../../src/config/flow-schema.js';
import { compileFlowSchema } from '../../src/config/schema-validator.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import { compileStrict, expectDurations, expectKeys, expectWellFormed, type Keys } from '../../test/support/config-schema.js';
import { registryWith } from '../../test/support/lint.js';
import { sinkSchema, sourceSchema, type AmqpSinkConfig, type AmqpSourceConfig, type BindConfig, type ConnectionConfig, type DeadLetterConfig, type ExchangeConfig, type QueueConfig, type ReconnectConfig, type RetryConfig } from './config.js';
import amqp from './index.js';
import { sourcePlan } from './topology.js';
import { adapterCtx } from './test-support.js';

const source = compileStrict(sourceSchema);
const sink = compileStrict(sinkSchema);

// Every key of the TypeScript config types, and whether it is required: a key added to one side only fails here.
const CONNECTION: Keys<ConnectionConfig> = { url: 'required', username: 'optional', password: 'optional', heartbeat: 'optional', reconnect: 'optional' };
const SOURCE: Keys<AmqpSourceConfig> = { ...CONNECTION, queue: 'required', queue_type: 'optional', durable: 'optional', arguments: 'optional', bind: 'optional', dead_letter: 'optional', retry: 'optional', prefetch: 'optional', content_type: 'optional', headers: 'optional', exchanges: 'optional', queues: 'optional' };
const SINK: Keys<AmqpSinkConfig> = { ...CONNECTION, exchange: 'optional', routing_key: 'optional', mandatory: 'optional', unroutable: 'optional', persistent: 'optional', headers: 'optional', exchanges: 'optional', queues: 'optional' };
const NESTED: [string, Record<string, 'required' | 'optional'>][] = [
  ['$defs.exchange', { type: 'optional', durable: 'optional', auto_delete: 'optional', arguments: 'optional' } satisfies Keys<ExchangeConfig>],
  ['$defs.binding', { exchange: 'required', routing_key: 'optional', arguments: 'optional' } satisfies Keys<BindConfig>],
  ['$defs.queue', { type: 'optional', durable: 'optional', arguments: 'optional', bind: 'optional' } satisfies Keys<QueueConfig>],
  ['$defs.reconnect', { initial: 'optional', max: 'optional' } satisfies Keys<ReconnectConfig>],
  ['properties.dead_letter', { exchange: 'required', type: 'optional', routing_key: 'optional', queue: 'optional' } satisfies Keys<DeadLetterConfig>],
  ['properties.retry', { delay: 'optional', max_retries: 'optional', queue: 'optional' } satisfies Keys<RetryConfig>],
];

describe('amqp config schemas', () => {
  it.each([['source', sourceSchema], ['sink', sinkSchema]] as const)('the %s schema compiles strictly, describes every property with examples, rejects unknown keys and accepts its examples', (_side, schema) => {
    expectWellFormed(schema);
  });

  it('keep the TypeScript types in step', () => {
    expectKeys(sourceSchema, '', SOURCE);
    expectKeys(sinkSchema, '', SINK);
    for (const [path, keys] of NESTED) expectKeys(sourceSchema, path, keys);
  });

  it('share one definition of connections, exchanges, queues and bindings', () => {
    expect(sinkSchema.$defs).toEqual(sourceSchema.$defs);
    const [s, k] = [sourceSchema.properties as Record<string, unknown>, sinkSchema.properties as Record<string, unknown>];
    for (const key of [...Object.keys(CONNECTION), 'exchanges', 'queues']) expect(k[key], key).toEqual(s[key]);
  });

  it('use the hub duration syntax', () => {
    expectDurations(sourceSchema, ['properties.heartbeat', 'properties.retry.properties.delay', '$defs.reconnect.properties.initial', '$defs.reconnect.properties.max']);
    expectDurations(sinkSchema, ['properties.heartbeat', '$defs.reconnect.properties.initial', '$defs.reconnect.properties.max']);
  });

  it('reject wrong shapes', () => {
    const url = 'amqp://x';
    expect(source({ url })).toBe(false);
    expect(source({ url, queue: 'q', queue_type: 'stream' })).toBe(false);
    expect(source({ url, queue: 'q', bind: { routing_key: 'x' } })).toBe(false);
    expect(source({ url, queue: 'q', dead_letter: { queue: 'x' } })).toBe(false);
    expect(source({ url, queue: 'q', dead_letter: { exchange: 'd', queue: true } })).toBe(false);
    expect(source({ url, queue: 'q', retry: { delay: 'soon' } })).toBe(false);
    expect(source({ url, queue: 'q', prefetch: 0 })).toBe(false);
    expect(source({ url, queue: 'q', arguments: { 'x-max-length': { deep: 1 } } })).toBe(false);
    expect(source({ url, queue: 'q', exchanges: { e: { type: 'x-delayed-message' } } })).toBe(false);
    expect(source({ url, queue: 'has space' })).toBe(false);
    expect(sink({ url })).toBe(false);
    expect(sink({ url, exchange: 'e', unroutable: 'drop' })).toBe(false);
    expect(sink({ url, routing_key: 'q', headers: { a: 1 } })).toBe(false);
    expect(source({ url, queue: 'q', bind: [{ exchange: 'e', routing_key: ['a', 'b'] }], dead_letter: { exchange: 'd', queue: false } })).toBe(true);
  });

  it('fit into the assembled flow schema', () => {
    expect(() => compileFlowSchema(buildFlowSchema(registryWith([amqp])))).not.toThrow();
  });

  it('are those of the one registration, named amqp, neither side request-reply', () => {
    expect(amqp.name).toBe('amqp');
    expect(amqp.source!.schema).toBe(sourceSchema);
    expect(amqp.sink!.schema).toBe(sinkSchema);
    expect(amqp.source!.requestReply ?? false).toBe(false);
    expect(amqp.sink!.requestReply ?? false).toBe(false);
  });
});

describe('amqp topology', () => {
  it('makes the short form into exchange, queue, binding, dead-letter and retry queues', () => {
    const issues: ConfigIssue[] = [];
    const plan = sourcePlan({ url: 'amqp://x', queue: 'orders.eu', bind: { exchange: 'orders', routing_key: 'eu.#' }, dead_letter: { exchange: 'orders.dead' } }, (i) => issues.push(i));
    expect(issues).toEqual([]);
    expect(plan.topology.exchanges).toEqual([
      { name: 'orders.dead', type: 'direct', durable: true, autoDelete: false, arguments: {} },
      { name: 'orders', type: 'topic', durable: true, autoDelete: false, arguments: {} },
    ]);
    expect(plan.topology.queues).toEqual([
      { name: 'orders.eu.dead', durable: true, arguments: {} },
      { name: 'orders.eu', durable: true, arguments: { 'x-dead-letter-exchange': 'orders.dead', 'x-dead-letter-routing-key': 'orders.eu' } },
      { name: 'orders.eu.retry', durable: true, arguments: { 'x-message-ttl': 5000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'orders.eu' } },
    ]);
    expect(plan.topology.bindings).toEqual([
      { queue: 'orders.eu.dead', exchange: 'orders.dead', routingKey: 'orders.eu', arguments: {} },
      { queue: 'orders.eu', exchange: 'orders', routingKey: 'eu.#', arguments: {} },
    ]);
    expect(plan.deadLetter).toEqual({ exchange: 'orders.dead', routingKey: 'orders.eu' });
    expect(plan.retry).toEqual({ queue: 'orders.eu.retry', delayMs: 5000, maxRetries: undefined });
  });

  it('needs no dead letter (the hub parks dead messages in its journal), and reports contradictions at their paths', () => {
    const issues: ConfigIssue[] = [];
    sourcePlan({ url: 'amqp://x', queue: 'q' }, (i) => issues.push(i));
    expect(issues).toEqual([]);

    const bad: ConfigIssue[] = [];
    amqp.source!.create({ url: 'amqp://x', queue: 'q', queue_type: 'quorum', durable: false, arguments: { 'x-dead-letter-exchange': 'd' }, exchanges: { 'amq.topic': {}, d: { type: 'fanout' } }, bind: { exchange: '' }, dead_letter: { exchange: 'd', type: 'direct' }, retry: { queue: 'q' }, heartbeat: 'x' } as never, adapterCtx(bad));
    expect(bad.filter((i) => i.severity !== 'warning').map((i) => i.path.join('.')).sort()).toEqual(['arguments.x-dead-letter-exchange', 'bind.exchange', 'dead_letter.type', 'durable', 'exchanges.amq.topic', 'heartbeat', 'retry.queue'].sort());
  });
});
