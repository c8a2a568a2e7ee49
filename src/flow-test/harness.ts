/**
 * Runs test cases through the real flow: the definition the linter built, the real FlowRunner, the real steps and
 * the real source. A REST or SOAP source serves its route on an HTTP server that never listens: each case is a
 * request injected into it (fastify's inject), so the caller's answer is the one a client would get, problem+json
 * and SOAP faults included. A broker source (Kafka, AMQP, or an adapter of your own) is not started: the case's
 * input becomes the message it would deliver. The sinks are MockSinks (mocks.ts).
 *
 * What differs from `hub run`, on purpose: retries wait no backoff (the attempts are the flow's, the waits zero), no
 * journal (a message the flow cannot deliver is the case's error), and no circuit breaker, whose state would leak
 * from one case into the next.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import { isoNow } from '../core/clock.js';
import type { DeliverOptions, FlowResult, HubLimits, Step } from '../core/contracts.js';
import { toHubError } from '../core/errors.js';
import { newId } from '../core/id.js';
import { Message } from '../core/message.js';
import { createHttpServer } from '../kit/http-server.js';
import { FlowRunner } from '../runtime/flow-runner.js';
import { bodyOf, CallLog, MockSink, type SinkCall } from './mocks.js';
import type { CaseInput, TestCase } from './test-file.js';

/** What the flow did with one case's input. */
export interface Observation {
  /** The caller's answer (REST and SOAP sources). */
  reply?: { status: number; headers: Record<string, string>; body: Buffer };
  /** The flow's error, when it did not deliver: its code and the step it arose at. */
  error?: { code: string; step?: string; message: string };
  calls: SinkCall[];
  /** Request-reply sinks the case reached without mocking them. */
  unmocked: string[];
  /** The sink each route step chose, in order. */
  routes: string[];
  tookMs: number;
}

/** A step or a route branch, for the list of those no case reached. */
export interface Reachable {
  id: string;
  /** Its path in the flow file, for file:line:col. */
  path: (string | number)[];
  what: string;
}

const SOAP_NS = { '1.1': 'http://schemas.xmlsoap.org/soap/envelope/', '1.2': 'http://www.w3.org/2003/05/soap-envelope' } as const;

/** The runner, with each delivery's failure seen on its way back to the source. */
class ObservedRunner extends FlowRunner {
  failed: ((err: unknown) => void) | undefined;

  override deliver(message: Message, options?: DeliverOptions): Promise<FlowResult> {
    return super.deliver(message, options).catch((err: unknown) => {
      this.failed?.(err);
      throw err;
    });
  }
}

export class FlowHarness {
  readonly reachable: Reachable[] = [];
  readonly reached = new Set<string>();
  readonly #def: FlowDefinition;
  readonly #mocks = new Map<string, MockSink>();
  readonly #runner: ObservedRunner;
  readonly #http: FastifyInstance | undefined;
  #routes: string[] = [];
  #log = new CallLog();

  private constructor(
    readonly original: FlowDefinition,
    readonly baseDir: string,
    readonly limits: HubLimits,
  ) {
    for (const [name, sink] of original.sinks) this.#mocks.set(name, new MockSink(name, sink.adapter, sink.requestReply, baseDir));
    this.#def = {
      ...original,
      sinks: new Map([...original.sinks].map(([name, sink]) => [name, { ...sink, instance: this.#mocks.get(name)! }])),
      steps: original.steps.map((step, i) => ({ ...step, run: this.#observed(step, i) })),
      retry: { ...original.retry, initialMs: 0, maxMs: 0 },
      service: undefined,
    };
    this.#runner = new ObservedRunner(this.#def, pino({ level: 'silent' }));
    this.#http = this.#served ? createHttpServer(limits, pino({ level: 'silent' })) : undefined;
  }

  /** A harness for a flow; its source is started (on a server that never listens) when it serves HTTP. */
  static async open(def: FlowDefinition, baseDir: string, limits: HubLimits): Promise<FlowHarness> {
    const harness = new FlowHarness(def, baseDir, limits);
    if (harness.#http) {
      await harness.#runner.start(harness.#http, limits);
      await harness.#http.ready();
    }
    return harness;
  }

  get #served(): boolean {
    return this.original.source.adapter === 'rest' || this.original.source.adapter === 'soap';
  }

  /** Each step's run, noting that it was reached and, for a route step, the branch its messages took. */
  #observed(step: FlowDefinition['steps'][number], i: number): Step {
    const path = ['steps', i, step.kind];
    this.reachable.push({ id: step.label, path, what: `step ${step.label}` });
    const branches = step.kind === 'route' && Array.isArray(step.config) ? (step.config as Record<string, unknown>[]) : undefined;
    branches?.forEach((b, j) => this.reachable.push({ id: `${step.label}[${j}]`, path: [...path, j], what: `route branch ${step.label}[${j}] (${'otherwise' in b ? `otherwise → ${String(b.otherwise)}` : `when ${String(b.when)} → ${String(b.to)}`})` }));
    /** The sink the route step chose: its messages' meta.route, else (it failed in the sink call) the sink it called. */
    const took = (out: Message[] | undefined, callsBefore: number): void => {
      const chosen = out?.map((m) => m.meta.route).filter((r): r is string => typeof r === 'string') ?? [];
      if (!out) {
        const called = this.#log.calls.slice(callsBefore).map((c) => c.sink)[0];
        if (called) chosen.push(called);
      }
      for (const sink of chosen) {
        this.#routes.push(sink);
        const j = branches!.findIndex((b) => b.to === sink || b.otherwise === sink);
        if (j >= 0) this.reached.add(`${step.label}[${j}]`);
      }
    };
    return (message, ctx) => {
      this.reached.add(step.label);
      if (!branches) return step.run(message, ctx);
      const before = this.#log.calls.length;
      let out: Message[] | Promise<Message[]>;
      try {
        out = step.run(message, ctx);
      } catch (err) {
        took(undefined, before);
        throw err;
      }
      if (Array.isArray(out)) {
        took(out, before);
        return out;
      }
      return out.then(
        (messages) => {
          took(messages, before);
          return messages;
        },
        (err: unknown) => {
          took(undefined, before);
          throw err;
        },
      );
    };
  }

  /** Runs one case: the mocks set, the input delivered, what happened observed. */
  async run(c: TestCase): Promise<Observation> {
    const log = (this.#log = new CallLog());
    for (const [name, mock] of this.#mocks) {
      const given = c.sinks?.[name];
      mock.reset(log, given === undefined ? [] : Array.isArray(given) ? given : [given]);
    }
    this.#routes = [];
    let error: Observation['error'];
    this.#runner.failed = (err) => {
      const e = toHubError(err);
      error = { code: e.code, message: e.message, ...(e.step ? { step: e.step } : {}) };
    };
    const clock = performance.now();
    let reply: Observation['reply'];
    if (this.#http) {
      const res = await this.#http.inject(this.#request(c.input));
      reply = { status: res.statusCode, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])), body: res.rawPayload };
    } else {
      await this.#runner.deliver(this.#message(c.input)).catch(() => undefined);
    }
    return { ...(reply ? { reply } : {}), ...(error ? { error } : {}), calls: log.calls, unmocked: [...log.unmocked], routes: this.#routes, tookMs: performance.now() - clock };
  }

  /** The HTTP request a REST or SOAP caller would send. */
  #request(input: CaseInput): { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; payload?: Buffer; query?: Record<string, string> } {
    const config = this.original.source.config as { method?: string; path: string; operation?: string; operations?: string[] };
    const { body, contentType } = bodyOf(input, this.baseDir);
    const headers: Record<string, string> = { ...input.headers };
    if (this.original.source.adapter === 'soap') {
      const version = input.soap_version ?? '1.1';
      const operation = input.operation ?? config.operation ?? config.operations?.[0];
      const envelope = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP_NS[version]}"><soap:Body>${body?.toString('utf8') ?? ''}</soap:Body></soap:Envelope>`;
      if (version === '1.1') {
        headers['content-type'] ??= 'text/xml; charset=utf-8';
        if (operation) headers.soapaction ??= `"${operation}"`;
      } else headers['content-type'] ??= `application/soap+xml; charset=utf-8${operation ? `; action="${operation}"` : ''}`;
      return { method: 'POST', url: config.path, headers, payload: Buffer.from(envelope, 'utf8') };
    }
    if (contentType && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = contentType;
    return { method: (input.method ?? config.method ?? 'POST') as 'POST', url: input.path ?? config.path, headers, ...(body ? { payload: body } : {}), ...(input.query ? { query: input.query } : {}) };
  }

  /** The message a broker source would deliver for the input (as adapters/kafka and adapters/amqp make theirs). */
  #message(input: CaseInput): Message {
    const { body, value, contentType } = bodyOf(input, this.baseDir);
    const id = newId();
    const config = this.original.source.config as { topic?: string; queue?: string };
    const headers: Record<string, string> = { 'correlation-id': id, ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])) };
    headers['content-type'] ??= contentType ?? 'application/json';
    const props = input.properties ?? {};
    if (typeof props.correlation_id === 'string') headers['correlation-id'] = props.correlation_id;
    if (typeof props.content_type === 'string') headers['content-type'] = props.content_type;
    const adapter = this.original.source.adapter;
    const facts =
      adapter === 'kafka'
        ? { topic: input.topic ?? config.topic ?? 'test', partition: 0, offset: '0', key: input.key ?? null, timestamp: isoNow() }
        : adapter === 'amqp'
          ? { queue: config.queue ?? 'test', exchange: input.exchange ?? '', routingKey: input.routing_key ?? '', redelivered: false, retries: 0, ...(typeof props.message_id === 'string' ? { upstreamId: props.message_id } : {}) }
          : {};
    const source = adapter === 'kafka' ? `kafka:${String(facts.topic)}` : adapter === 'amqp' ? `amqp:${config.queue ?? 'test'}` : `${adapter}:test`;
    return new Message({ id, ...(body ? { body } : {}), ...(value === undefined ? {} : { value }), headers, meta: { flow: this.original.name, source, receivedAt: isoNow(), attempt: 1, ...facts } });
  }

  async close(): Promise<void> {
    await this.#runner.stop(0);
    await this.#http?.close();
  }
}
