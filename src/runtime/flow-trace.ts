/**
 * Tracing a flow's next messages step by step (`hub trace FLOW`, the console's trace view): for each message its
 * input, each step's output (body and headers) with its time, the route it took, each sink call with what was sent
 * and the reply or error, and how it ended.
 *
 * Off unless someone asks: a runner without a trace session has no FlowTracer, and its message path checks one field
 * (FlowRunner.deliver); nothing else is wrapped or allocated. While a session is open, the runner's steps and its
 * sink sender are wrapped (FlowTracer.steps, FlowTracer.sender), and a message is followed only while a session still
 * wants one; the others pass through with a map lookup per step. Bounded: a session takes at most TRACE_MAX_LIMIT
 * messages, lasts at most TRACE_MAX_SECONDS, keeps at most `bodyBytes` of each body, and a hub holds at most
 * TRACE_MAX_SESSIONS sessions.
 */
import type { FlowDefinition } from '../config/load-flows.js';
import { toHubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { MessageContext, Sender } from './message-context.js';

export const TRACE_MAX_LIMIT = 100;
export const TRACE_MAX_SECONDS = 600;
export const TRACE_MAX_BODY_BYTES = 65_536;
export const TRACE_MAX_SESSIONS = 16;

export interface TraceOptions {
  /** How many messages to follow (1 to TRACE_MAX_LIMIT). */
  limit: number;
  /** How long to wait for them, in seconds (1 to TRACE_MAX_SECONDS). */
  seconds: number;
  /** How much of each body to keep (0 to TRACE_MAX_BODY_BYTES). */
  bodyBytes: number;
}

/** One message (or a reply) as the trace shows it. */
export interface TracedBody {
  headers: Record<string, string>;
  /** The body as text (UTF-8), cut at the session's bodyBytes. */
  body: string;
  bytes: number;
  truncated: boolean;
  /** Set when the body and header values were held back (a viewer's trace). */
  masked?: boolean;
}

export interface TracedStep {
  index: number;
  label: string;
  kind: string;
  tookMs: number;
  /** What the step put out: none (filtered), one, or several (split). */
  output: TracedBody[];
  /** The sink a route step sent to. */
  route?: string;
  error?: { code: string; message: string };
}

export interface TracedSinkCall {
  sink: string;
  /** The step that made the call. */
  step?: string;
  tookMs: number;
  sent: TracedBody;
  reply?: TracedBody;
  error?: { code: string; message: string };
}

export interface TracedMessage {
  id: string;
  flow: string;
  receivedAt: string;
  tookMs: number;
  outcome: 'delivered' | 'failed';
  input: TracedBody;
  steps: TracedStep[];
  sinks: TracedSinkCall[];
  /** What a request-reply source answered. */
  replies?: TracedBody[];
  error?: { code: string; message: string; step?: string };
}

export type TraceEnd = 'limit' | 'time' | 'closed' | 'flow-stopped';

/** One watcher's trace of one flow: it gets each traced message when the message is done, then the end. */
export class TraceSession {
  #left: number;
  #timer: NodeJS.Timeout;
  #ended = false;
  #tracer: FlowTracer | undefined;
  traced = 0;

  constructor(
    readonly options: TraceOptions,
    readonly onMessage: (m: TracedMessage) => void,
    readonly onEnd: (reason: TraceEnd, traced: number) => void,
  ) {
    this.#left = options.limit;
    this.#timer = setTimeout(() => this.end('time'), options.seconds * 1000);
    this.#timer.unref();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Takes one more message; false once the session has as many as it asked for. */
  take(): boolean {
    if (this.#left <= 0) return false;
    this.#left--;
    return true;
  }

  /** A message it took is done. */
  done(m: TracedMessage): void {
    if (this.#ended) return;
    this.traced++;
    this.onMessage(m);
    if (this.#left === 0 && this.traced >= this.options.limit) this.end('limit');
  }

  attach(tracer: FlowTracer | undefined): void {
    this.#tracer = tracer;
  }

  end(reason: TraceEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#tracer?.leave(this);
    this.onEnd(reason, this.traced);
  }
}

/** What one followed message gathers on its way, and the sessions that get it. */
class Tracing {
  readonly steps: TracedStep[] = [];
  readonly sinks: TracedSinkCall[] = [];
  step: string | undefined;
  readonly started = performance.now();
  constructor(
    readonly sessions: TraceSession[],
    readonly input: TracedBody,
    readonly receivedAt: string,
  ) {}
}

/** A runner's tracing while at least one session is open. */
export class FlowTracer {
  readonly sessions = new Set<TraceSession>();
  readonly #following = new Map<string, Tracing>();
  readonly #bodyBytes = () => Math.max(0, ...[...this.sessions].map((s) => s.options.bodyBytes));

  constructor(
    readonly def: FlowDefinition,
    /** Called when the last session left: the runner goes back to its untraced path. */
    readonly idle: () => void,
  ) {}

  join(session: TraceSession): void {
    this.sessions.add(session);
    session.attach(this);
  }

  leave(session: TraceSession): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0) this.idle();
  }

  /** Runs `handle` for `message`, following it when a session still wants one. */
  run<T extends { replies: Message[] }>(message: Message, handle: () => Promise<T>): Promise<T> {
    const takers = [...this.sessions].filter((s) => s.take());
    if (takers.length === 0) return handle();
    const t = new Tracing(takers, this.#body(message), message.meta.receivedAt ?? new Date().toISOString());
    this.#following.set(message.id, t);
    const finish = (outcome: 'delivered' | 'failed', replies: Message[] | undefined, err: unknown): void => {
      this.#following.delete(message.id);
      const traced: TracedMessage = {
        id: message.id,
        flow: this.def.name,
        receivedAt: t.receivedAt,
        tookMs: round(performance.now() - t.started),
        outcome,
        input: t.input,
        steps: t.steps,
        sinks: t.sinks,
        ...(replies && this.def.source.requestReply ? { replies: replies.map((r) => this.#body(r)) } : {}),
        ...(err === undefined ? {} : { error: errorOf(err, true) }),
      };
      for (const s of t.sessions) s.done(traced);
    };
    let handled: Promise<T>;
    try {
      handled = handle();
    } catch (err) {
      finish('failed', undefined, err);
      throw err;
    }
    return handled.then(
      (r) => {
        finish('delivered', r.replies, undefined);
        return r;
      },
      (err: unknown) => {
        finish('failed', undefined, err);
        throw err;
      },
    );
  }

  /** The flow's steps, each noting what it put out for a followed message. */
  steps(steps: FlowDefinition['steps']): FlowDefinition['steps'] {
    return steps.map((step, index) => ({
      ...step,
      run: (message: Message, ctx: Parameters<typeof step.run>[1]) => {
        const t = this.#following.get((ctx as MessageContext).messageId);
        if (!t) return step.run(message, ctx);
        const clock = performance.now();
        const sinksBefore = t.sinks.length;
        t.step = step.label;
        const note = (out: Message[] | undefined, err: unknown): void => {
          const routed = step.kind === 'route' ? out?.[0]?.meta.route ?? t.sinks[sinksBefore]?.sink : undefined;
          t.steps.push({
            index,
            label: step.label,
            kind: step.kind,
            tookMs: round(performance.now() - clock),
            output: (out ?? []).map((m) => this.#body(m)),
            ...(typeof routed === 'string' ? { route: routed } : {}),
            ...(err === undefined ? {} : { error: errorOf(err, false) }),
          });
        };
        let out: Message[] | Promise<Message[]>;
        try {
          out = step.run(message, ctx);
        } catch (err) {
          note(undefined, err);
          throw err;
        }
        if (Array.isArray(out)) {
          note(out, undefined);
          return out;
        }
        return out.then(
          (o) => {
            note(o, undefined);
            return o;
          },
          (err: unknown) => {
            note(undefined, err);
            throw err;
          },
        );
      },
    }));
  }

  /** The runner's sender, noting each call of a sink for a followed message: what went out, the reply or error. */
  sender(send: Sender): Sender {
    return (sink, message, ctx) => {
      const t = this.#following.get(ctx.messageId);
      if (!t) return send(sink, message, ctx);
      const clock = performance.now();
      const call: TracedSinkCall = { sink, ...(t.step ? { step: t.step } : {}), tookMs: 0, sent: this.#body(message) };
      t.sinks.push(call);
      return send(sink, message, ctx).then(
        (reply) => {
          call.tookMs = round(performance.now() - clock);
          if (reply) call.reply = this.#body(reply);
          return reply;
        },
        (err: unknown) => {
          call.tookMs = round(performance.now() - clock);
          call.error = errorOf(err, false);
          throw err;
        },
      );
    };
  }

  #body(m: Message): TracedBody {
    const max = this.#bodyBytes();
    let bytes = 0;
    let body = '';
    try {
      const buf = m.body;
      bytes = buf.length;
      body = buf.subarray(0, max).toString('utf8');
    } catch (err) {
      body = `(the body cannot be shown: ${(err as Error).message})`;
    }
    return { headers: { ...m.headers }, body, bytes, truncated: bytes > max };
  }
}

function errorOf(err: unknown, withStep: true): { code: string; message: string; step?: string };
function errorOf(err: unknown, withStep: false): { code: string; message: string };
function errorOf(err: unknown, withStep: boolean): { code: string; message: string; step?: string } {
  const e = toHubError(err);
  return { code: e.code, message: e.message, ...(withStep && e.step ? { step: e.step } : {}) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
