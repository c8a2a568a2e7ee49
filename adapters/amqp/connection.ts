/**
 * Managed AMQP connections and channels with recovery.
 *
 * amqplib reports a lost connection or channel with 'error' and 'close' events and leaves the rest to its caller (its
 * opt-in recovery reconnects the connection only, not the channels, consumers and confirm channels on it). Here:
 *
 * - One `SharedConnection` per broker address, credentials and role within the process, reference-counted: every
 *   source on one broker shares the consuming connection, every sink the publishing one. Consumers and publishers
 *   use separate connections as RabbitMQ recommends, because the broker blocks a publishing connection under memory
 *   or disk alarms, and acks from a consumer on that connection would then stall too.
 * - It connects in the background: `acquire` never waits and never throws for an unreachable broker. Failed attempts
 *   and losses are retried with bounded exponential backoff and jitter, for as long as anyone holds the connection.
 * - Each user owns a `ManagedChannel`: opened whenever the connection is up, set up by the user's `setup` (declare
 *   topology, prefetch, consume), and reopened when the broker closes the channel alone (a channel error).
 * - 'error' and 'close' listeners are always attached, so a lost broker never becomes an unhandled 'error' event.
 * - One log line when the broker cannot be reached at start or the connection is lost, one when it is back.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import { batchWrites } from './write-batching.js';

export type Role = 'consume' | 'publish';

export interface ConnectionSettings {
  /** amqp:// or amqps:// URL, credentials included. */
  url: string;
  /** Seconds; 0 turns heartbeats off. */
  heartbeatS: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  role: Role;
}

/** Gives up on one TCP + AMQP handshake after this long, so a black-holed address is retried like a refused one. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Delay before reconnect attempt `attempt` (1, 2, ...): exponential from `initialMs`, capped at `maxMs`, with "equal
 * jitter" (half fixed, half random) so that many hubs losing one broker do not come back in lock step.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** The URL without credentials and query, safe for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '' ? '/' : u.pathname}`;
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//').replace(/\?.*$/s, '');
  }
}

/** A short reason for an amqplib or socket error, for one log line. */
export function describeError(err: unknown): string {
  if (err === undefined || err === null) return 'closed';
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  return typeof e.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

function noop(): void {}

export class SharedConnection {
  readonly key: string;
  readonly target: string;
  readonly #settings: ConnectionSettings;
  readonly #logger: Logger;
  readonly #channels = new Set<ManagedChannel>();
  readonly #users = new Map<string, number>();
  #model: ChannelModel | undefined;
  #closed = false;
  #started = false;
  #attempt = 0;
  #downSince: number | undefined;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(key: string, settings: ConnectionSettings, logger: Logger) {
    this.key = key;
    this.#settings = settings;
    this.target = redactUrl(settings.url);
    this.#logger = logger.child({ amqp: this.target, role: settings.role });
  }

  get model(): ChannelModel | undefined {
    return this.#model;
  }

  get settings(): ConnectionSettings {
    return this.#settings;
  }

  isUp(): boolean {
    return this.#model !== undefined;
  }

  /** Why the connection is down, for errors and logs; undefined while it is up. */
  get lastError(): string | undefined {
    return this.#model ? undefined : (this.#lastError ?? 'not connected yet');
  }

  get refs(): number {
    let n = 0;
    for (const c of this.#users.values()) n += c;
    return n;
  }

  addUser(user: string): void {
    this.#users.set(user, (this.#users.get(user) ?? 0) + 1);
    if (!this.#started) {
      this.#started = true;
      this.#connect();
    }
  }

  /** Returns true when this was the last user. */
  removeUser(user: string): boolean {
    const n = (this.#users.get(user) ?? 1) - 1;
    if (n <= 0) this.#users.delete(user);
    else this.#users.set(user, n);
    return this.refs === 0;
  }

  /** A channel that follows this connection: opened whenever it is up, reopened after a channel error. */
  channel(options: ChannelOptions): ManagedChannel {
    const ch = new ManagedChannel(this, options);
    this.#channels.add(ch);
    if (this.#model) ch.connectionUp();
    return ch;
  }

  forget(ch: ManagedChannel): void {
    this.#channels.delete(ch);
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const flows = [...this.#users.keys()].join(', ');
    amqp
      .connect(this.#settings.url, { timeout: CONNECT_TIMEOUT_MS, clientProperties: { connection_name: `integration-hub ${this.#settings.role} (${flows})` } })
      .then(
        (model) => this.#onConnected(model),
        (err: unknown) => this.#onConnectFailed(err),
      );
  }

  #onConnected(model: ChannelModel): void {
    // Listeners first: from here on an 'error' without a listener would kill the process.
    // The 'error' that comes before 'close' says why (a heartbeat timeout, a forced close); the close itself often
    // only says "Unexpected close".
    let why: string | undefined;
    model.on('error', (err: unknown) => {
      why ??= describeError(err);
    });
    model.on('close', (err?: unknown) => this.#onClosed(model, why ?? (err ? describeError(err) : undefined)));
    model.on('blocked', (reason: string) => this.#logger.warn({ reason }, `AMQP broker ${this.target} blocks publishing (${reason}); sends wait until it unblocks`));
    model.on('unblocked', () => this.#logger.info(`AMQP broker ${this.target} unblocked publishing`));
    model.on('handler-error', (err: unknown, event: string) => this.#logger.error({ err, event }, `AMQP connection listener for "${event}" threw`));
    if (this.#closed) {
      model.close().catch(noop);
      return;
    }
    this.#model = model;
    if (!batchWrites(model)) this.#logger.debug('amqplib internals not as expected: frames are written one by one');
    if (this.#downSince !== undefined) {
      const seconds = ((Date.now() - this.#downSince) / 1000).toFixed(1);
      this.#logger.info({ attempts: this.#attempt + 1, downMs: Date.now() - this.#downSince }, `AMQP connection to ${this.target} is back after ${seconds}s`);
    } else {
      this.#logger.debug(`AMQP connection to ${this.target} open`);
    }
    this.#attempt = 0;
    this.#downSince = undefined;
    this.#lastError = undefined;
    for (const ch of this.#channels) ch.connectionUp();
  }

  #onConnectFailed(err: unknown): void {
    if (this.#closed) return;
    this.#attempt++;
    const reason = describeError(err);
    const delay = backoffMs(this.#attempt, this.#settings.reconnectInitialMs, this.#settings.reconnectMaxMs);
    if (this.#downSince === undefined) {
      this.#downSince = Date.now();
      this.#logger.warn({ reason }, `AMQP broker ${this.target} is not reachable (${reason}); connecting in the background`);
    } else if (reason !== this.#lastError) {
      this.#logger.debug({ reason, attempt: this.#attempt, delayMs: delay }, `AMQP connection attempt to ${this.target} failed (${reason})`);
    }
    this.#lastError = reason;
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #onClosed(model: ChannelModel, reason: string | undefined): void {
    if (model !== this.#model) return;
    this.#model = undefined;
    this.#lastError = reason;
    for (const ch of this.#channels) ch.connectionDown();
    if (this.#closed) return;
    this.#downSince = Date.now();
    this.#logger.warn({ reason }, `AMQP connection to ${this.target} lost (${reason ?? 'closed'}); reconnecting in the background`);
    this.#attempt = 0;
    this.#timer = setTimeout(() => this.#connect(), backoffMs(1, this.#settings.reconnectInitialMs, this.#settings.reconnectMaxMs));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const model = this.#model;
    this.#model = undefined;
    for (const ch of this.#channels) ch.connectionDown();
    if (model) await model.close().catch(noop);
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface ChannelOptions {
  /** A ConfirmChannel (publisher confirms) or a plain one. */
  confirm: boolean;
  /** Who uses it, for log lines: e.g. `source queue "orders.eu"`. */
  label: string;
  logger: Logger;
  /** Runs on every new channel before it counts as ready: declare topology, set prefetch, consume. */
  setup(ch: ConfirmChannel | Channel): Promise<void>;
  /** Called once when a ready channel is gone (closed, or its connection lost). */
  onLost?(ch: ConfirmChannel | Channel): void;
}

/**
 * One channel kept open across connection losses and channel errors. Always use the channel object a piece of work
 * started on (deliveries are acked on the channel they came on): after a loss `current` is a different channel.
 */
export class ManagedChannel {
  readonly #conn: SharedConnection;
  readonly #options: ChannelOptions;
  #ch: ConfirmChannel | Channel | undefined;
  #opening = false;
  #closed = false;
  #attempt = 0;
  #failing: string | undefined;
  #closeReason: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(conn: SharedConnection, options: ChannelOptions) {
    this.#conn = conn;
    this.#options = options;
  }

  /** The ready channel, or undefined while it (or the connection) is down. */
  get current(): ConfirmChannel | Channel | undefined {
    return this.#ch;
  }

  ready(): boolean {
    return this.#ch !== undefined;
  }

  /** Why the channel is not ready (connection down, setup failing), for errors. */
  get reason(): string {
    return this.#conn.lastError ?? this.#failing ?? this.#closeReason ?? 'opening';
  }

  /** Resolves with the ready channel; waits while it is recovering; rejects when `signal` aborts or the channel is closed for good. */
  async whenReady(signal: AbortSignal): Promise<ConfirmChannel | Channel> {
    for (;;) {
      if (this.#closed) throw new Error('the channel is closed');
      if (this.#ch) return this.#ch;
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  connectionUp(): void {
    this.#attempt = 0;
    this.#open();
  }

  connectionDown(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lost();
  }

  #lost(): void {
    const ch = this.#ch;
    if (!ch) return;
    this.#ch = undefined;
    try {
      this.#options.onLost?.(ch);
    } catch (err) {
      this.#options.logger.error({ err }, `${this.#options.label}: onLost failed`);
    }
  }

  #open(): void {
    this.#timer = undefined;
    if (this.#closed || this.#opening || this.#ch) return;
    const model = this.#conn.model;
    if (!model) return; // the connection calls back when it is up
    this.#opening = true;
    let opened: ConfirmChannel | Channel | undefined;
    const run = async (): Promise<ConfirmChannel | Channel> => {
      const ch = this.#options.confirm ? await model.createConfirmChannel() : await model.createChannel();
      opened = ch;
      ch.setMaxListeners(0); // one 'drain' waiter per blocked send
      ch.on('error', (err: unknown) => {
        this.#closeReason = describeError(err);
      });
      ch.on('close', () => this.#onChannelClosed(ch));
      ch.on('handler-error', (err: unknown, event: string) => this.#options.logger.error({ err, event }, `${this.#options.label}: channel listener for "${event}" threw`));
      await this.#options.setup(ch);
      return ch;
    };
    run().then(
      (ch) => {
        this.#opening = false;
        if (this.#closed || this.#conn.model !== model) {
          ch.close().catch(noop);
          return;
        }
        this.#ch = ch;
        if (this.#failing !== undefined) this.#options.logger.info(`${this.#options.label}: channel is back`);
        this.#attempt = 0;
        this.#failing = undefined;
        for (const wake of [...this.#waiters]) wake();
      },
      (err: unknown) => {
        this.#opening = false;
        opened?.close().catch(noop);
        if (this.#closed || !this.#conn.isUp() || this.#conn.model !== model) return; // the connection went: it calls back
        this.#attempt++;
        const reason = describeError(err);
        const delay = backoffMs(this.#attempt, this.#conn.settings.reconnectInitialMs, this.#conn.settings.reconnectMaxMs);
        if (reason !== this.#failing) this.#options.logger.error({ reason, retryInMs: delay }, `${this.#options.label}: cannot set up the channel (${reason}); retrying with backoff`);
        this.#failing = reason;
        this.#timer = setTimeout(() => this.#open(), delay);
      },
    );
  }

  #onChannelClosed(ch: ConfirmChannel | Channel): void {
    if (ch !== this.#ch) return; // a channel that never became ready: #open's failure path handles it
    this.#lost();
    if (this.#closed) return;
    // amqplib closes every channel just before it reports the connection closed; only a channel that closed alone
    // (a channel error such as a publish to a missing exchange) is reopened here.
    setImmediate(() => {
      if (this.#closed || !this.#conn.isUp() || this.#ch || this.#opening || this.#timer) return;
      const reason = this.#closeReason ?? 'closed by the broker';
      this.#failing = reason;
      this.#options.logger.warn({ reason }, `${this.#options.label}: channel closed (${reason}); reopening`);
      this.#attempt = 1;
      this.#timer = setTimeout(() => this.#open(), backoffMs(1, this.#conn.settings.reconnectInitialMs, this.#conn.settings.reconnectMaxMs));
    });
  }

  /** Closes the current channel and opens a new one (setup runs again), e.g. after the broker cancelled a consumer. */
  recycle(reason: string): void {
    const ch = this.#ch;
    if (!ch) return;
    this.#closeReason = reason;
    ch.close().catch(noop);
  }

  /** Closes the channel for good (unacked deliveries on it go back to their queue). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const wake of [...this.#waiters]) wake();
    const ch = this.#ch;
    this.#lost();
    this.#conn.forget(this);
    if (ch) await ch.close().catch(noop);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The process-wide pool

const pool = new Map<string, SharedConnection>();

/** A hold on a shared connection; `release` drops it, and the last release closes the connection. */
export interface ConnectionLease {
  readonly connection: SharedConnection;
  release(): Promise<void>;
}

/**
 * Takes a hold on the connection for these settings, creating (and starting to connect) it when it is the first.
 * Never waits, never throws for an unreachable broker.
 */
export function acquireConnection(settings: ConnectionSettings, user: string, logger: Logger): ConnectionLease {
  const key = JSON.stringify([settings.url, settings.heartbeatS, settings.reconnectInitialMs, settings.reconnectMaxMs, settings.role]);
  let conn = pool.get(key);
  if (!conn) {
    conn = new SharedConnection(key, settings, logger);
    pool.set(key, conn);
  }
  const held = conn;
  held.addUser(user);
  let released = false;
  return {
    connection: held,
    async release() {
      if (released) return;
      released = true;
      if (held.removeUser(user)) {
        if (pool.get(key) === held) pool.delete(key);
        await held.close();
      }
    },
  };
}

/** The URL with credentials from options and the heartbeat set, as amqplib takes it. */
export function connectionUrl(url: string, username: string | undefined, password: string | undefined, heartbeatS: number): string {
  const u = new URL(url);
  if (username !== undefined) u.username = encodeURIComponent(username);
  if (password !== undefined) u.password = encodeURIComponent(password);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(heartbeatS));
  return u.toString();
}
