/**
 * What the HTTP-based sinks (REST, SOAP) share on the way out: one keep-alive connection pool per process, a body
 * reader with a size limit, the mapping of transport failures to retryable hub errors, and URL redaction.
 */
import { Agent, type Dispatcher } from 'undici';
import { HubError, hubError, PermanentError, toHubError } from '../core/errors.js';
import { AttemptTimedOut } from './attempt-timeouts.js';

const CONNECT_TIMEOUT_MS = 10_000;

// One pool for every HTTP sink: opened by the first sink that starts, closed when the last one stops. Per-attempt
// timeouts are the sinks' own (AttemptTimeouts), so sinks with different timeouts share it.
let sharedAgent: Agent | undefined;
let agentUsers = 0;

function acquireAgent(): Agent {
  agentUsers++;
  sharedAgent ??= new Agent({ keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000, connect: { timeout: CONNECT_TIMEOUT_MS }, connections: 128 });
  return sharedAgent;
}

async function releaseAgent(): Promise<void> {
  if (--agentUsers > 0 || !sharedAgent) return;
  const agent = sharedAgent;
  sharedAgent = undefined;
  await agent.close();
}

/**
 * One sink's hold on the shared pool: `acquire()` in `Sink.start()`, `release()` in `Sink.stop()` (the last release
 * closes the pool, waiting for requests in flight). Both may be called again without counting twice.
 */
export class AgentLease {
  #agent: Agent | undefined;

  /** The pool while held; undefined before start and after stop. */
  get agent(): Agent | undefined {
    return this.#agent;
  }

  acquire(): void {
    this.#agent ??= acquireAgent();
  }

  async release(): Promise<void> {
    if (!this.#agent) return;
    this.#agent = undefined;
    await releaseAgent();
  }
}

/** How many sinks hold the shared pool now (for tests and diagnostics). */
export function agentUseCount(): number {
  return agentUsers;
}

type ResponseBody = Dispatcher.ResponseData['body'] | (AsyncIterable<Buffer> & { destroy(err?: Error): unknown });

function tooLarge(limit: number): PermanentError {
  return new PermanentError('BAD_REPLY', `the reply is larger than limits.body_bytes (${limit} bytes)`, { details: { limitBytes: limit } });
}

/**
 * Reads a reply body whole, refusing more than `limit` bytes (a hostile or broken peer cannot exhaust memory). With
 * the reply's content-length known, undici reads it in one go (no async iteration per chunk); the HTTP parser holds
 * the peer to that length.
 */
export async function readLimited(body: ResponseBody, limit: number, contentLength?: string | string[]): Promise<Buffer> {
  const declared = typeof contentLength === 'string' ? Number(contentLength) : NaN;
  if (declared > limit) {
    body.destroy();
    throw tooLarge(limit);
  }
  if (declared >= 0 && 'arrayBuffer' in body) return Buffer.from(await body.arrayBuffer());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A URL without credentials, query and fragment: safe to log and to put in error messages and details. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//');
  }
}

/** Socket-level failures that may pass: the peer is down, restarting, or the network blinked. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'HPE_INVALID_CONSTANT',
]);
/** Failures that mean the peer took too long, at whichever stage. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** The error code (`ECONNREFUSED`, `UND_ERR_SOCKET`...) of an error from undici or node, or of its cause. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  const causeCode = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof causeCode === 'string' ? causeCode : undefined;
}

export interface TransportErrorContext {
  /** The URL called; only its redacted form reaches the error. */
  url: string;
  /** What was being done, for the message, already free of secrets: e.g. "POST http://erp/orders". */
  what: string;
  /** The sink's own per-attempt timeout (AttemptTimeouts aborts an attempt with AttemptTimedOut when it runs out). */
  timeoutMs: number;
  /** The flow's signal: aborted with a TimeoutError when the flow's time ran out, otherwise when the hub stops. */
  flowSignal: AbortSignal;
}

/**
 * The hub error for a failed HTTP exchange (no status, or a body that broke off): hub errors pass as they are; the
 * flow's signal gives TIMEOUT (its time ran out) or FLOW_STOPPING (the hub stops); the sink's timeout
 * (AttemptTimedOut) and undici's timeout codes give TIMEOUT; socket failures give DOWNSTREAM_UNAVAILABLE. Anything else is a bug: INTERNAL, permanent.
 */
export function transportError(err: unknown, ctx: TransportErrorContext): HubError {
  if (err instanceof HubError) return err;
  const { what, flowSignal } = ctx;
  const url = redactUrl(ctx.url);
  if (flowSignal.aborted) {
    const reason: unknown = flowSignal.reason;
    if (reason instanceof HubError) return reason;
    return (reason as { name?: unknown } | undefined)?.name === 'TimeoutError'
      ? hubError('TIMEOUT', `${what} was cut short: the flow ran out of time`, { cause: err, details: { url } })
      : hubError('FLOW_STOPPING', `${what} was aborted: the hub is stopping`, { cause: err, details: { url } });
  }
  const code = errorCode(err);
  if (err instanceof AttemptTimedOut || (code && TIMEOUT_CODES.has(code))) {
    return hubError('TIMEOUT', `${what} did not answer within ${ctx.timeoutMs} ms`, { cause: err, details: { url, timeoutMs: ctx.timeoutMs, ...(code ? { error: code } : {}) } });
  }
  if (code && (RETRYABLE_CODES.has(code) || /^E[A-Z]+$/.test(code))) {
    return hubError('DOWNSTREAM_UNAVAILABLE', `${what} failed: ${code}`, { cause: err, details: { url, error: code } });
  }
  return toHubError(err);
}
