/**
 * The broker objects a flow needs (exchanges, queues, bindings), worked out once from its config and declared on
 * every (re)connect. Declaring is idempotent on the broker; a declaration that contradicts an existing object
 * (another exchange type, other queue arguments) fails with the broker's PRECONDITION_FAILED, which the caller logs.
 */
import type { Channel } from 'amqplib';
import type { ConfigIssue } from '../../src/core/errors.js';
import { durationOption } from '../../src/core/duration.js';
import type { AmqpSinkConfig, AmqpSourceConfig, Arguments, BindConfig, ExchangeConfig, ExchangeType, QueueConfig, QueueType } from './config.js';
import { DEFAULTS } from './config.js';

export interface ExchangeDecl {
  name: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  arguments: Arguments;
}

export interface QueueDecl {
  name: string;
  durable: boolean;
  arguments: Arguments;
}

export interface BindingDecl {
  queue: string;
  exchange: string;
  routingKey: string;
  arguments: Arguments;
}

export interface Topology {
  exchanges: ExchangeDecl[];
  queues: QueueDecl[];
  bindings: BindingDecl[];
}

/** What the source needs to know besides the declarations. */
export interface SourcePlan {
  topology: Topology;
  queue: string;
  /** Where the source publishes a message the flow rejected permanently, with the reason in its headers. */
  deadLetter: { exchange: string; routingKey: string } | undefined;
  /** The delay queue a retryable failure waits in before it goes back to `queue`. */
  retry: { queue: string; delayMs: number; maxRetries: number | undefined };
}

type Report = (issue: ConfigIssue) => void;

/** Arguments the adapter sets from dedicated options; writing them under `arguments` would contradict those. */
const MANAGED_ARGUMENTS: Record<string, string> = {
  'x-queue-type': 'queue_type (or type under queues)',
  'x-dead-letter-exchange': 'dead_letter.exchange',
  'x-dead-letter-routing-key': 'dead_letter.routing_key',
};

/** True for the exchanges every broker has and no client may declare: the default one ("") and `amq.*`. */
export function isPredeclared(exchange: string): boolean {
  return exchange === '' || exchange.startsWith('amq.');
}

class Builder {
  readonly exchanges = new Map<string, ExchangeDecl>();
  readonly queues = new Map<string, QueueDecl>();
  readonly bindings: BindingDecl[] = [];
  /** Exchanges named somewhere (bindings, dead letters, the sink's target) that may need an implicit declaration. */
  readonly #named = new Map<string, ExchangeType>();

  readonly report: Report;

  constructor(report: Report) {
    const seen = new Set<string>();
    // Derived queues share the source queue's settings; one mistake is reported once.
    this.report = (issue) => {
      const key = `${issue.path.join('\u0000')}\u0001${issue.message}`;
      if (seen.has(key)) return;
      seen.add(key);
      report(issue);
    };
  }

  explicitExchanges(exchanges: Record<string, ExchangeConfig> | undefined): void {
    for (const [name, e] of Object.entries(exchanges ?? {})) {
      if (isPredeclared(name)) {
        this.report({ path: ['exchanges', name], message: `"${name || '(default)'}" is predeclared by the broker and cannot be declared; remove it from exchanges` });
        continue;
      }
      this.exchanges.set(name, { name, type: e.type ?? 'topic', durable: e.durable ?? true, autoDelete: e.auto_delete ?? false, arguments: { ...e.arguments } });
    }
  }

  nameExchange(name: string, type: ExchangeType): void {
    if (!isPredeclared(name) && !this.#named.has(name)) this.#named.set(name, type);
  }

  /** `at` says where the queue's name, `durable` and `arguments` are written, for the linter. */
  queue(name: string, type: QueueType, durable: boolean, args: Arguments | undefined, at: { name: (string | number)[]; durable: (string | number)[]; arguments: (string | number)[] }, extra: Arguments = {}): void {
    const path = at.name;
    const durablePath = at.durable;
    for (const key of Object.keys(args ?? {})) {
      const option = MANAGED_ARGUMENTS[key.toLowerCase()];
      if (option) this.report({ path: [...at.arguments, key], message: `set ${key} through ${option}, not under arguments` });
    }
    if (type === 'quorum' && !durable) this.report({ path: durablePath, message: 'a quorum queue is always durable; remove durable: false or use a classic queue' });
    if (this.queues.has(name)) {
      this.report({ path, message: `queue "${name}" is declared twice in this config` });
      return;
    }
    this.queues.set(name, { name, durable, arguments: { ...args, ...(type === 'quorum' ? { 'x-queue-type': 'quorum' } : {}), ...extra } });
  }

  bind(queue: string, bind: BindConfig | BindConfig[] | undefined, path: (string | number)[]): void {
    const list = bind === undefined ? [] : Array.isArray(bind) ? bind : [bind];
    list.forEach((b, i) => {
      const at = Array.isArray(bind) ? [...path, i] : path;
      if (b.exchange === '') {
        this.report({ path: [...at, 'exchange'], message: 'the default exchange cannot be bound: it already routes to every queue by its name' });
        return;
      }
      this.nameExchange(b.exchange, 'topic');
      const keys = b.routing_key === undefined ? [''] : Array.isArray(b.routing_key) ? b.routing_key : [b.routing_key];
      for (const routingKey of keys) this.bindings.push({ queue, exchange: b.exchange, routingKey, arguments: { ...b.arguments } });
    });
  }

  extraQueues(queues: Record<string, QueueConfig> | undefined): void {
    for (const [name, q] of Object.entries(queues ?? {})) {
      this.queue(name, q.type ?? 'classic', q.durable ?? true, q.arguments, { name: ['queues', name], durable: ['queues', name, 'durable'], arguments: ['queues', name, 'arguments'] });
      this.bind(name, q.bind, ['queues', name, 'bind']);
    }
  }

  build(): Topology {
    for (const [name, type] of this.#named) {
      if (!this.exchanges.has(name)) this.exchanges.set(name, { name, type, durable: true, autoDelete: false, arguments: {} });
    }
    return { exchanges: [...this.exchanges.values()], queues: [...this.queues.values()], bindings: this.bindings };
  }
}


/** The source's queue with its bindings, dead-letter exchange and queue, and retry queue, plus any further objects. */
export function sourcePlan(config: AmqpSourceConfig, report: Report): SourcePlan {
  const b = new Builder(report);
  b.explicitExchanges(config.exchanges);
  const type = config.queue_type ?? 'classic';
  const durable = config.durable ?? true;

  let deadLetter: SourcePlan['deadLetter'];
  const extra: Arguments = {};
  if (config.dead_letter) {
    const dl = config.dead_letter;
    if (dl.exchange === '') report({ path: ['dead_letter', 'exchange'], message: 'name a dead-letter exchange: the default exchange cannot be bound to a dead-letter queue' });
    const routingKey = dl.routing_key ?? config.queue;
    deadLetter = { exchange: dl.exchange, routingKey };
    extra['x-dead-letter-exchange'] = dl.exchange;
    extra['x-dead-letter-routing-key'] = routingKey;
    const explicit = config.exchanges?.[dl.exchange];
    if (explicit && dl.type && (explicit.type ?? 'topic') !== dl.type) {
      report({ path: ['dead_letter', 'type'], message: `exchange "${dl.exchange}" is described under exchanges as ${explicit.type ?? 'topic'}; drop dead_letter.type or make them agree` });
    }
    b.nameExchange(dl.exchange, dl.type ?? 'direct');
    const dlQueue = dl.queue === undefined ? `${config.queue}.dead` : dl.queue;
    if (dlQueue !== false) {
      b.queue(dlQueue, type, durable, undefined, { name: ['dead_letter', 'queue'], durable: ['durable'], arguments: ['arguments'] });
      if (dl.exchange !== '') b.bindings.push({ queue: dlQueue, exchange: dl.exchange, routingKey, arguments: {} });
    }
  }
  b.queue(config.queue, type, durable, config.arguments, { name: ['queue'], durable: ['durable'], arguments: ['arguments'] }, extra);
  b.bind(config.queue, config.bind, ['bind']);

  const retryQueue = config.retry?.queue ?? `${config.queue}.retry`;
  const delayMs = durationOption(config.retry?.delay, DEFAULTS.retryDelay, ['retry', 'delay'], report);
  if (delayMs < 1) report({ path: ['retry', 'delay'], message: 'retry.delay must be at least 1ms' });
  // Messages wait out the delay in the retry queue (its TTL), then the broker dead-letters them back to the source
  // queue through the default exchange. Quorum queues do that at least once only with these two arguments.
  if (retryQueue === config.queue) report({ path: ['retry', 'queue'], message: 'the retry queue must not be the source queue itself' });
  else {
    b.queue(retryQueue, type, durable, undefined, { name: ['retry', 'queue'], durable: ['durable'], arguments: ['arguments'] }, {
      'x-message-ttl': delayMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': config.queue,
      ...(type === 'quorum' ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {}),
    });
  }

  b.extraQueues(config.queues);
  return { topology: b.build(), queue: config.queue, deadLetter, retry: { queue: retryQueue, delayMs, maxRetries: config.retry?.max_retries } };
}

/** The sink's target exchange (when it is not templated) and any further objects it declares. */
export function sinkTopology(config: AmqpSinkConfig, exchangeIsConstant: boolean, report: Report): Topology {
  const b = new Builder(report);
  b.explicitExchanges(config.exchanges);
  if (exchangeIsConstant && config.exchange !== undefined) b.nameExchange(config.exchange, 'topic');
  b.extraQueues(config.queues);
  return b.build();
}

/** Declares everything, in order: exchanges, queues, bindings. The first failure rejects (and has closed the channel). */
export async function declareTopology(ch: Channel, topology: Topology): Promise<void> {
  for (const e of topology.exchanges) {
    await step(`exchange "${e.name}" (${e.type})`, () => ch.assertExchange(e.name, e.type, { durable: e.durable, autoDelete: e.autoDelete, arguments: e.arguments }));
  }
  for (const q of topology.queues) {
    await step(`queue "${q.name}"`, () => ch.assertQueue(q.name, { durable: q.durable, arguments: q.arguments }));
  }
  for (const bd of topology.bindings) {
    await step(`binding of queue "${bd.queue}" to exchange "${bd.exchange}" with "${bd.routingKey}"`, () => ch.bindQueue(bd.queue, bd.exchange, bd.routingKey, bd.arguments));
  }
}

async function step(what: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    throw new Error(`declaring ${what} failed: ${(err as Error).message}`, { cause: err });
  }
}
