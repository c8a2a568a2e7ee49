/**
 * The AMQP sink: publishes each message to an exchange with publisher confirms, as a persistent message, and
 * resolves only once the broker confirmed it.
 */
import type { Channel, ConfirmChannel, Options } from 'amqplib';
import type { AdapterContext, SendContext, Sink, SinkFactory } from '../../src/core/contracts.js';
import { HubError, hubError, PermanentError, RetryableError, type ConfigIssue } from '../../src/core/errors.js';
import { compileHeaderTemplates, compileTemplate, type CompiledTemplate } from '../../src/kit/expression.js';
import type { Message } from '../../src/core/message.js';
import { MESSAGE_ID_HEADER, outboundHeaders } from '../../src/kit/propagation.js';
import { sinkSchema, type AmqpSinkConfig } from './config.js';
import { acquireConnection, type ConnectionLease, type ConnectionSettings, type ManagedChannel } from './connection.js';
import { drainWaits, publishConfirmed, type PublishOutcome } from './publish.js';
import { connectionSettings } from './settings.js';
import { declareTopology, isPredeclared, sinkTopology, type Topology } from './topology.js';

/**
 * Headers a config may not name: the content type and the message id are AMQP properties of their own
 * (contentType, messageId), set by the sink.
 */
const RESERVED_HEADERS = new Set(['content-type', MESSAGE_ID_HEADER]);

/** The correlation id travels as the correlationId property, not as a header as well. */
const CORRELATION_HEADER = 'correlation-id';

export class AmqpSink implements Sink {
  readonly #settings: ConnectionSettings;
  readonly #exchange: CompiledTemplate;
  readonly #routingKey: CompiledTemplate;
  readonly #headers: [string, CompiledTemplate][];
  readonly #mandatory: boolean;
  readonly #unroutable: 'reject' | 'retry';
  readonly #persistent: boolean;
  readonly #topology: Topology;
  readonly #ctx: AdapterContext;
  /** Exchanges known to exist on the current connection: declared ones, and templated ones checked once. */
  readonly #known = new Set<string>();
  #lease: ConnectionLease | undefined;
  #channel: ManagedChannel | undefined;

  constructor(config: AmqpSinkConfig, ctx: AdapterContext) {
    const report = (issue: ConfigIssue): void => ctx.report(issue);
    this.#ctx = ctx;
    this.#settings = connectionSettings(config, 'publish', report);
    this.#exchange = compileTemplate(config.exchange ?? '', ['exchange'], report);
    this.#routingKey = compileTemplate(config.routing_key ?? '', ['routing_key'], report);
    this.#headers = compileHeaderTemplates(config.headers, RESERVED_HEADERS, report);
    this.#mandatory = config.mandatory ?? true;
    this.#unroutable = config.unroutable ?? 'reject';
    if (config.unroutable !== undefined && !this.#mandatory) report({ path: ['unroutable'], message: 'unroutable only applies with mandatory: true (without it the broker drops an unroutable message silently)' });
    this.#persistent = config.persistent ?? true;
    this.#topology = sinkTopology(config, this.#exchange.constant, report);
  }

  async start(): Promise<void> {
    if (this.#lease) return;
    this.#lease = acquireConnection(this.#settings, this.#ctx.flow, this.#ctx.logger);
    this.#channel = this.#lease.connection.channel({
      confirm: true,
      label: `AMQP sink of flow "${this.#ctx.flow}"`,
      logger: this.#ctx.logger,
      setup: async (ch) => {
        this.#known.clear();
        await declareTopology(ch, this.#topology);
        for (const e of this.#topology.exchanges) this.#known.add(e.name);
      },
    });
  }

  async stop(): Promise<void> {
    const lease = this.#lease;
    const channel = this.#channel;
    this.#lease = undefined;
    this.#channel = undefined;
    await channel?.close();
    await lease?.release();
  }

  ready(): boolean {
    return this.#channel?.ready() ?? false;
  }

  /** How many publishes waited for the channel's 'drain' (backpressure), on the current channel. */
  get drainWaits(): number {
    const ch = this.#channel?.current;
    return ch ? drainWaits(ch as ConfirmChannel) : 0;
  }

  /**
   * The common case (constant exchange and routing key, no header templates, the channel up) publishes without an
   * async call of its own: each is a suspended frame kept per message in flight.
   */
  send(message: Message, ctx: SendContext): Promise<undefined> {
    const channel = this.#channel;
    if (!channel) return Promise.reject(hubError('FLOW_STOPPING', 'the AMQP sink is not started'));
    const ch = channel.current as ConfirmChannel | undefined;
    if (!ch || !this.#exchange.constant || !this.#routingKey.constant || this.#headers.length > 0) return this.#renderAndSend(message, ctx, channel);
    const headers = outboundHeaders(message.headers, CORRELATION_HEADER);
    return this.#publish(ch, channel, this.#exchange.source, this.#routingKey.source, message, headers, ctx);
  }

  /** send, when the exchange or routing key or a header is a template to render, or the channel is not up yet. */
  async #renderAndSend(message: Message, ctx: SendContext, channel: ManagedChannel): Promise<undefined> {
    // A constant is used as it is: each await is a turn of the event loop's microtask queue per message.
    const exchange = this.#exchange.constant ? this.#exchange.source : await this.#exchange.render(message);
    const routingKey = this.#routingKey.constant ? this.#routingKey.source : await this.#routingKey.render(message);
    const headers = outboundHeaders(message.headers, CORRELATION_HEADER);
    for (const [name, template] of this.#headers) headers[name] = await template.render(message);
    let ch = channel.current as ConfirmChannel | undefined;
    if (!ch) {
      try {
        ch = (await channel.whenReady(ctx.signal)) as ConfirmChannel;
      } catch (err) {
        throw this.#unavailable(`cannot publish to ${target(exchange, routingKey)}: AMQP broker ${this.#lease?.connection.target ?? ''} not reachable (${channel.reason}) within the flow's time`, ctx, err);
      }
    }
    if (!this.#exchange.constant && !isPredeclared(exchange) && !this.#known.has(exchange)) await this.#checkExchange(exchange, ctx);
    return this.#publish(ch, channel, exchange, routingKey, message, headers, ctx);
  }

  /**
   * Publishes with `headers` (the propagated ones but the correlation id, and the configured ones) and settles as
   * the broker did. The message id, correlation id and content type go in AMQP's own properties, which every AMQP
   * client reads (and the hub's AMQP source takes them from), not in headers as well: each header costs its
   * encoding and decoding on every hop.
   */
  #publish(ch: ConfirmChannel, channel: ManagedChannel, exchange: string, routingKey: string, message: Message, headers: Record<string, string>, ctx: SendContext): Promise<undefined> {
    const contentType = message.contentType ?? 'application/octet-stream';
    // A configured correlation-id header is kept as a header too, and wins.
    const correlationId = headers[CORRELATION_HEADER] ?? message.headers[CORRELATION_HEADER];
    const options: Options.Publish = {
      persistent: this.#persistent,
      mandatory: this.#mandatory,
      contentType,
      messageId: message.id,
      timestamp: Math.floor(Date.now() / 1000),
      appId: 'integration-hub',
      headers,
    };
    if (correlationId) options.correlationId = correlationId;
    return publishConfirmed(ch, exchange, routingKey, message.body, options, ctx, ctx.issued).then(
      (outcome) => {
        if (outcome.ok) return undefined;
        throw failure(outcome, exchange, routingKey, message, this.#unroutable, channel);
      },
      (err: unknown) => {
        throw this.#unavailable(`no confirm from the broker for the publish to ${target(exchange, routingKey)} before the flow's time ran out`, ctx, err);
      },
    );
  }

  /**
   * A publish to a missing exchange makes the broker close the channel, failing every publish in flight on it; so a
   * templated exchange is checked once, on a channel of its own, before the first publish to it.
   */
  async #checkExchange(exchange: string, ctx: SendContext): Promise<void> {
    const model = this.#lease?.connection.model;
    if (!model) throw this.#unavailable(`cannot check exchange "${exchange}": the AMQP connection is down`, ctx);
    let probe: Channel | undefined;
    try {
      probe = await model.createChannel();
      probe.on('error', () => {});
      await probe.checkExchange(exchange);
      this.#known.add(exchange);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 404) throw new PermanentError('DOWNSTREAM_REJECTED', `exchange "${exchange}" does not exist on the broker; declare it (exchanges:) or fix the exchange template`, { details: { exchange } });
      throw this.#unavailable(`cannot check exchange "${exchange}": ${(err as Error).message}`, ctx, err);
    } finally {
      probe?.close().catch(() => {});
    }
  }

  #unavailable(text: string, ctx: SendContext, cause?: unknown): HubError {
    if (ctx.aborted) {
      if (ctx.signal.reason instanceof HubError) return ctx.signal.reason;
      const reason = ctx.signal.reason as { name?: string } | undefined;
      if (reason?.name !== 'TimeoutError' && reason !== undefined) return hubError('FLOW_STOPPING', `${text}; the hub is stopping`, { cause });
    }
    return new RetryableError('DOWNSTREAM_UNAVAILABLE', text, { cause });
  }
}

/** The error of a publish the broker did not confirm. */
function failure(outcome: Exclude<PublishOutcome, { ok: true }>, exchange: string, routingKey: string, message: Message, unroutable: 'reject' | 'retry', channel: ManagedChannel): HubError {
  const details = { exchange, routingKey, messageId: message.id };
  switch (outcome.reason) {
    case 'unroutable': {
      const text = `the broker could not route the message to any queue (${outcome.replyCode} ${outcome.replyText}): ${target(exchange, routingKey)}`;
      return unroutable === 'retry' ? new RetryableError('DOWNSTREAM_UNAVAILABLE', text, { details }) : new PermanentError('DOWNSTREAM_REJECTED', text, { details });
    }
    case 'nacked':
      return new RetryableError('DOWNSTREAM_UNAVAILABLE', `the broker nacked the publish to ${target(exchange, routingKey)}`, { details });
    case 'closed':
      return new RetryableError('DOWNSTREAM_UNAVAILABLE', `the channel closed before the broker confirmed the publish to ${target(exchange, routingKey)} (${channel.reason})`, { details: { ...details, detail: outcome.detail } });
  }
}

/** Where a publish went, for error texts. */
function target(exchange: string, routingKey: string): string {
  return `exchange "${exchange || '(default)'}" with routing key "${routingKey}"`;
}

export const sinkFactory: SinkFactory<AmqpSinkConfig> = {
  schema: sinkSchema,
  create: (config, ctx) => new AmqpSink(config, ctx),
};
