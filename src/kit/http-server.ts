import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HubLimits } from '../core/contracts.js';

/** Longest a refused body is read and dropped before the connection is cut (see the onSend hook). */
const LINGER_MS = 5_000;

/**
 * The HTTP server sources add routes to. Every request body arrives as a raw Buffer (`request.body`, undefined when
 * there is none): each source parses it itself, so that a bad body is answered in that source's own error format
 * (problem+json for REST, a SOAP Fault for SOAP). Bodies over `limits.bodyBytes` fail with fastify's
 * FST_ERR_CTP_BODY_TOO_LARGE (statusCode 413) before any handler runs; route error handlers format it.
 */
/**
 * `trustProxy`: addresses or CIDRs of the reverse proxies in front of the hub; only from them is X-Forwarded-For
 * believed, so that `request.ip` (the admin's login limit and audit) is the real client, not the proxy.
 */
export function createHttpServer(limits: HubLimits, logger: Logger, trustProxy?: readonly string[]): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    ...(trustProxy?.length ? { trustProxy: [...trustProxy] } : {}),
    // Per-request access logs are left to the mesh/proxy; the hub logs each failed message with its id instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyBytes,
    return503OnClosing: true,
    forceCloseConnections: false,
    // Paths are matched as written; a trailing slash is the same route.
    routerOptions: { ignoreTrailingSlash: true },
    // fastify makes a pino child logger (its bindings serialized) for every request's request.log. Nothing on a
    // message's path logs through it (the runtime logs each failed message with its id), so only the admin's routes,
    // whose errors fastify logs with their request id, get one.
    childLoggerFactory: (parent, bindings, options, raw) => (raw.url?.startsWith('/admin') ? parent.child(bindings, options) : parent),
  });
  // fastify answers 413 with `connection: close` before it reads the body, and a client still writing the rest
  // then gets EPIPE or a reset instead of the answer (2 in 5 times with a 2 MB body on loopback). Like nginx's
  // lingering close, the rest of the body is read and dropped, for LINGER_MS at most, so the client reads its 413.
  app.addHook('onSend', (request, reply, payload, done) => {
    const req = request.raw;
    if (reply.statusCode === 413 && !req.complete) {
      reply.removeHeader('connection');
      const cut = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
      req.once('end', () => clearTimeout(cut));
      req.once('close', () => clearTimeout(cut));
      req.resume();
    }
    done(null, payload);
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.bodyBytes }, (_req, body, done) => done(null, body));
  return app as unknown as FastifyInstance;
}
