/**
 * One trace of a flow as a server-sent event stream (GET /admin/api/flows/{name}/trace): `trace-started`, a
 * `message` per traced message when it is done, then `end`, and the stream closes. A viewer gets every body,
 * header value and error text (it may quote a body) masked, as in the admin API's messages; the trace itself (what is kept, how long, how many) is the runtime's (flow-trace.ts).
 */
import type { FastifyReply } from 'fastify';
import { TraceSession, type TracedBody, type TracedMessage, type TraceOptions } from '../runtime/flow-trace.js';
import { MASKED_TEXT, SECURITY_HEADERS } from './security.js';

/** Bytes a trace client may leave unread before its trace ends (a few messages with large bodies). */
const MAX_BUFFERED = 1024 * 1024;

/**
 * Takes over the reply as an event stream for a trace session `open` starts (it throws before anything is written
 * when the flow does not run here or the hub has too many traces).
 */
export function streamTrace(reply: FastifyReply, flow: string, options: TraceOptions, masked: boolean, open: (session: TraceSession) => void): void {
  const raw = reply.raw;
  let started = false;
  const write = (event: string, data: unknown): void => {
    if (!started || raw.writableEnded) return;
    if (raw.writableLength > MAX_BUFFERED) {
      session.end('closed');
      raw.destroy();
      return;
    }
    raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const session = new TraceSession(
    options,
    (m) => write('message', masked ? mask(m) : m),
    (reason, traced) => {
      write('end', { reason, traced });
      if (started) raw.end();
    },
  );
  open(session);
  reply.hijack();
  raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  started = true;
  write('trace-started', { flow, ...options });
  if (session.ended) {
    // Ended before the stream was up (the flow stopped meanwhile).
    write('end', { reason: 'flow-stopped', traced: 0 });
    raw.end();
    return;
  }
  raw.on('close', () => session.end('closed'));
}

function maskBody(b: TracedBody): TracedBody {
  return { headers: Object.fromEntries(Object.keys(b.headers).map((k) => [k, '***'])), body: '', bytes: b.bytes, truncated: b.truncated, masked: true };
}

/** An error as a viewer sees it: its code, not its text (which may quote a body). */
function maskError<E extends { message: string }>(e: E | undefined): { error?: E } {
  return e ? { error: { ...e, message: MASKED_TEXT } } : {};
}

/** A traced message as a viewer sees it: the path it took, its timings and error codes; no body, no header value, no error text. */
export function mask(m: TracedMessage): TracedMessage {
  return {
    ...m,
    input: maskBody(m.input),
    steps: m.steps.map((s) => ({ ...s, output: s.output.map(maskBody), ...maskError(s.error) })),
    sinks: m.sinks.map((c) => ({ ...c, sent: maskBody(c.sent), ...(c.reply ? { reply: maskBody(c.reply) } : {}), ...maskError(c.error) })),
    ...(m.replies ? { replies: m.replies.map(maskBody) } : {}),
    ...maskError(m.error),
  };
}
