import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { ANNOTATION_KEYWORDS } from '../../src/config/flow-schema.js';
import { DURATION_PATTERN } from '../../src/core/duration.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import type { AmqpSinkConfig, AmqpSourceConfig, BindConfig, DeadLetterConfig, ExchangeConfig, QueueConfig, ReconnectConfig, RetryConfig } from './config.js';
import amqp from './index.js';
import sinkSchema from './sink.schema.json' with { type: 'json' };
import sourceSchema from './source.schema.json' with { type: 'json' };
import { sourcePlan } from './topology.js';
import { adapterCtx } from './test-support.js';

const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
for (const keyword of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string'] });
const source = ajv.compile(sourceSchema);
const sink = ajv.compile(sinkSchema);

// Every key of the TypeScript config types, so a property added to one side only fails here.
const CONNECTION = { url: true, username: true, password: true, heartbeat: true, reconnect: true } as const;
const SOURCE_KEYS: Record<keyof AmqpSourceConfig, true> = { ...CONNECTION, queue: true, queue_type: true, durable: true, arguments: true, bind: true, dead_letter: true, retry: true, prefetch: true, content_type: true, headers: true, exchanges: true, queues: true };
const SINK_KEYS: Record<keyof AmqpSinkConfig, true> = { ...CONNECTION, exchange: true, routing_key: true, mandatory: true, unroutable: true, persistent: true, headers: true, exchanges: true, queues: true };
const NESTED: [string, Record<string, true>][] = [
  ['$defs.exchange', { type: true, durable: true, auto_delete: true, arguments: true } satisfies Record<keyof ExchangeConfig, true>],
  ['$defs.binding', { exchange: true, routing_key: true, arguments: true } satisfies Record<keyof BindConfig, true>],
  ['$defs.queue', { type: true, durable: true, arguments: true, bind: true } satisfies Record<keyof QueueConfig, true>],
  ['$defs.reconnect', { initial: true, max: true } satisfies Record<keyof ReconnectConfig, true>],
  ['properties.dead_letter', { exchange: true, type: true, routing_key: true, queue: true } satisfies Record<keyof DeadLetterConfig, true>],
  ['properties.retry', { delay: true, max_retries: true, queue: true } satisfies Record<keyof RetryConfig, true>],
];

type Node = { description?: string; properties?: Record<string, Node>; $defs?: Record<string, Node>; oneOf?: Node[]; pattern?: string; [k: string]: unknown };

function at(schema: Node, path: string): Node {
  return path.split('.').reduce<Node>((n, k) => n[k] as Node, schema);
}

/** Every object property anywhere in the schema, with where it is. */
function properties(node: Node, path = ''): [string, Node][] {
  const out: [string, Node][] = [];
  for (const [k, v] of Object.entries(node.properties ?? {})) out.push([`${path}.${k}`, v], ...properties(v, `${path}.${k}`));
  for (const [k, v] of Object.entries(node.$defs ?? {})) out.push(...properties(v, `${path}.$defs.${k}`));
  return out;
}

describe('amqp config schemas', () => {
  it('keep the TypeScript types in step', () => {
    expect(Object.keys(sourceSchema.properties).sort()).toEqual(Object.keys(SOURCE_KEYS).sort());
    expect(Object.keys(sinkSchema.properties).sort()).toEqual(Object.keys(SINK_KEYS).sort());
    for (const [path, keys] of NESTED) expect(Object.keys(at(sourceSchema as Node, path).properties!).sort(), path).toEqual(Object.keys(keys).sort());
  });

  it('share one definition of connections, exchanges, queues and bindings', () => {
    expect(sinkSchema.$defs).toEqual(sourceSchema.$defs);
    for (const key of [...Object.keys(CONNECTION), 'exchanges', 'queues']) expect((sinkSchema.properties as Record<string, unknown>)[key], key).toEqual((sourceSchema.properties as Record<string, unknown>)[key]);
  });

  it.each([['source', sourceSchema], ['sink', sinkSchema]] as const)('the %s schema describes every property, rejects unknown keys and accepts its examples', (_side, schema) => {
    for (const [path, prop] of properties(schema as unknown as Node)) expect(prop.description, path).toMatch(/\S{3,}/);
    expect(schema.additionalProperties).toBe(false);
    const validate = _side === 'source' ? source : sink;
    for (const example of schema.examples) expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...schema.examples[0], nope: 1 })).toBe(false);
  });

  it('use the hub duration syntax', () => {
    for (const path of ['properties.heartbeat', '$defs.reconnect.properties.initial', 'properties.retry.properties.delay']) {
      expect(at(sourceSchema as unknown as Node, path).oneOf![1]!.pattern, path).toBe(DURATION_PATTERN);
    }
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

  it('is one registration named amqp, neither side request-reply', () => {
    expect(amqp.name).toBe('amqp');
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
