/**
 * The admin API's live feed (GET /admin/api/events, server-sent events): the flows' state and counters every second
 * (`event: flows`, the same data as GET /flows), and a notice when a message changed (`event: message`: parked,
 * delivered by a durable retry or a replay, archived), and a bulk replay job's counts as it goes (`event:
 * replay-progress`, the data of GET /replays/jobs/{id}). Nothing is stored: a client that connects gets what happens
 * from then on (the console re-reads the page it shows). Memory is bounded: at most MAX_CLIENTS streams, and a
 * client that does not read (more than MAX_BUFFERED bytes waiting in its socket) is dropped; so is one whose session
 * ended, checked each second without keeping it alive.
 */
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { MessageNotice } from '../runtime/flow-control.js';
import type { FlowRunner } from '../runtime/flow-runner.js';
import type { Principal, AdminSecurity } from './security.js';
import { SECURITY_HEADERS } from './security.js';

export const LIVE_MAX_CLIENTS = 64;
/** Bytes a client may leave unread before it is dropped (some seconds of flow events). */
export const LIVE_MAX_BUFFERED = 256 * 1024;

interface Client {
  reply: FastifyReply;
  principal: Principal;
}

export class LiveFeed {
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | undefined;
  /** A tick whose journal read is still under way: the next one is skipped, not stacked. */
  #ticking = false;
  readonly #unwatch = new Map<FlowRunner, () => void>();

  constructor(
    readonly runners: readonly FlowRunner[],
    readonly flows: () => Promise<unknown>,
    readonly security: AdminSecurity,
    readonly logger: Logger,
    readonly tickMs = 1000,
  ) {
    this.flowsChanged(runners, []);
  }

  /** A reload replaced runners: hear the new ones, not the old. */
  flowsChanged(added: readonly FlowRunner[], removed: readonly FlowRunner[]): void {
    for (const r of removed) {
      this.#unwatch.get(r)?.();
      this.#unwatch.delete(r);
    }
    for (const r of added) this.#unwatch.set(r, r.watch((n) => this.notify(n)));
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Takes over the request's socket as an event stream (the caller checked the role). False when the feed is full. */
  open(reply: FastifyReply, principal: Principal): boolean {
    if (this.#clients.size >= LIVE_MAX_CLIENTS) return false;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const client: Client = { reply, principal };
    this.#clients.add(client);
    raw.on('close', () => this.#drop(client));
    this.#send(client, 'retry: 3000\n\n');
    void this.flows().then(
      (flows) => this.#clients.has(client) && this.#send(client, frame('flows', flows)),
      (err: unknown) => this.logger.warn({ err }, 'admin live feed: the flows could not be read'),
    );
    this.#timer ??= setInterval(() => void this.#tick(), this.tickMs).unref();
    return true;
  }

  /** Tells every client that a message changed. */
  notify(notice: MessageNotice): void {
    if (this.#clients.size === 0) return;
    const chunk = frame('message', notice);
    for (const c of this.#clients) this.#send(c, chunk);
  }

  /** Tells every client how a bulk replay job is going (`event: replay-progress`). */
  replayProgress(job: unknown): void {
    if (this.#clients.size === 0) return;
    const chunk = frame('replay-progress', job);
    for (const c of this.#clients) this.#send(c, chunk);
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    for (const u of this.#unwatch.values()) u();
    this.#unwatch.clear();
    // The hub is closing: the connection goes too, so that a client keeping it cannot hold up the server's close.
    for (const c of [...this.#clients]) c.reply.raw.end(() => c.reply.raw.socket?.destroy());
    this.#clients.clear();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await this.#tickOnce();
    } catch (err) {
      this.logger.warn({ err }, 'admin live feed: the flows could not be read');
    } finally {
      this.#ticking = false;
    }
  }

  async #tickOnce(): Promise<void> {
    for (const c of [...this.#clients]) {
      if (c.principal.via === 'session' && !this.security.sessions.alive(c.principal.session.id)) {
        this.#send(c, frame('session-ended', { detail: 'the session has ended; log in again' }));
        c.reply.raw.end();
        this.#drop(c);
      }
    }
    if (this.#clients.size === 0) return;
    const chunk = frame('flows', await this.flows());
    for (const c of this.#clients) this.#send(c, chunk);
  }

  #send(client: Client, chunk: string): void {
    const raw = client.reply.raw;
    if (raw.writableLength > LIVE_MAX_BUFFERED) {
      this.logger.info({ user: client.principal.user, buffered: raw.writableLength }, 'admin live feed: a client that does not keep up was dropped');
      raw.destroy();
      this.#drop(client);
      return;
    }
    raw.write(chunk);
  }

  #drop(client: Client): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
