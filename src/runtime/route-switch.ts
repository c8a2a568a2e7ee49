import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import type { HubLimits } from '../core/contracts.js';
import { createHttpServer } from '../kit/http-server.js';
import { httpRouteKey } from '../kit/http-route.js';

type Handler = (request: FastifyRequest, reply: FastifyReply) => unknown;
type ErrorHandler = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => unknown;

/** One route of a flow's source: the route stays on the server; who answers it can change (a reload). */
interface Slot {
  key: string;
  handler: Handler | undefined;
  errorHandler: ErrorHandler | undefined;
}

/** Marks a request the late server has no route for, so that the hub's own 404 answers it. */
const LATE_MISS = 'x-hub-route-miss';

/**
 * The routes the flows' sources add to the hub's server, switchable while it serves, so that a flow reloaded
 * (`hub dev`, POST /admin/api/flows/reload, SIGHUP) takes over its routes between two requests:
 *
 * - Sources add routes through `http` (the server, but for `route()`). Each route is registered once, with a handler
 *   that calls whoever holds its slot now: a new version of the flow that adds the same route takes the slot, so the
 *   old version gets no new request and finishes those it has; a route no flow holds any more answers 404 at once.
 * - fastify takes no routes once it serves, so a route first added by a reload goes to a second server that does not
 *   listen (the late server), rebuilt when such a route is added; the hub's 404 handler hands it the requests the
 *   server has no route for (`forward`). Only such requests pay for it (light-my-request, some tens of µs each),
 *   and only until the next restart, which registers every route on the server again.
 *
 * Cost on the message path: one more function call per request.
 */
export class RouteSwitch {
  readonly #app: FastifyInstance;
  readonly #limits: HubLimits;
  readonly #logger: Logger;
  readonly #slots = new Map<string, Slot>();
  /** Routes added after the server was ready: their first options, for each rebuild of the late server. */
  readonly #lateRoutes: RouteOptions[] = [];
  #late: FastifyInstance | undefined;
  #serving = false;
  /** The server as sources see it: route() goes through the switch. */
  readonly http: FastifyInstance;

  constructor(
    app: FastifyInstance,
    limits: HubLimits,
    logger: Logger,
    readonly notFound: (request: FastifyRequest, reply: FastifyReply) => unknown,
  ) {
    this.#app = app;
    this.#limits = limits;
    this.#logger = logger;
    const route = (options: RouteOptions): FastifyInstance => {
      this.#route(options);
      return this.http;
    };
    this.http = new Proxy(app, {
      get: (target, prop) => {
        if (prop === 'route') return route;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** The server is ready: from now on a new route goes to the late server. */
  serving(): void {
    this.#serving = true;
  }

  /** The keys (`http METHOD /path`, as claims write them) of the routes that answer now. */
  get held(): string[] {
    return [...this.#slots.values()].filter((s) => s.handler).map((s) => s.key);
  }

  /** Routes whose key is not in `keep` answer 404 from now on (their flow is gone, or serves another path). */
  release(keep: ReadonlySet<string>): string[] {
    const released: string[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.handler && !keep.has(slot.key)) {
        slot.handler = undefined;
        slot.errorHandler = undefined;
        released.push(slot.key);
      }
    }
    return released;
  }

  /**
   * Hands a request the server has no route for to the late server; false when that has none either (or there is
   * none), and the caller answers 404.
   */
  async forward(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const late = this.#late;
    if (!late) return false;
    const res = await late.inject({
      method: request.method as 'GET',
      url: request.url,
      headers: request.headers,
      ...(Buffer.isBuffer(request.body) ? { payload: request.body } : {}),
      remoteAddress: request.ip,
    });
    if (res.headers[LATE_MISS]) return false;
    const headers = { ...res.headers };
    for (const h of ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']) delete headers[h];
    await reply.code(res.statusCode).headers(headers).send(res.rawPayload);
    return true;
  }

  /** Stops the late server (the hub is stopping). */
  async close(): Promise<void> {
    await this.#late?.close();
    this.#late = undefined;
  }

  #route(options: RouteOptions): void {
    const methods = Array.isArray(options.method) ? options.method : [options.method];
    const key = methods.map((m) => httpRouteKey(m, options.url)).join(' + ');
    const slot = this.#slots.get(key);
    if (slot?.handler && !this.#serving) throw new Error(`${key} is already a route of this server`);
    if (slot) {
      // A new version of the flow takes the route over: requests from now on are its.
      slot.handler = options.handler as Handler;
      slot.errorHandler = options.errorHandler as ErrorHandler | undefined;
      return;
    }
    const fresh: Slot = { key, handler: options.handler as Handler, errorHandler: options.errorHandler as ErrorHandler | undefined };
    this.#slots.set(key, fresh);
    const switched = this.#switched(options, fresh);
    if (!this.#serving) {
      this.#app.route(switched);
      return;
    }
    this.#lateRoutes.push(switched);
    this.#rebuildLate();
  }

  #switched(options: RouteOptions, slot: Slot): RouteOptions {
    return {
      ...options,
      handler: (request, reply) => (slot.handler ? slot.handler(request, reply) : this.notFound(request, reply)),
      errorHandler: (error, request, reply) => {
        if (slot.errorHandler) return slot.errorHandler(error, request, reply);
        return this.notFound(request, reply);
      },
    } as RouteOptions;
  }

  #rebuildLate(): void {
    const late = createHttpServer(this.#limits, this.#logger);
    for (const r of this.#lateRoutes) late.route(r);
    late.setNotFoundHandler((_request, reply) => reply.code(404).header(LATE_MISS, '1').send());
    const old = this.#late;
    this.#late = late;
    late.ready().then(undefined, (err: unknown) => this.#logger.error({ err }, 'the routes added by a reload could not be set up'));
    if (old) void old.close().catch(() => {});
  }
}
