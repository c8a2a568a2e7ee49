/**
 * Runs test cases through the real flow: the definition the linter built, the real FlowRunner, the real steps and
 * the real source. A REST or SOAP source serves its route on an HTTP server that never listens: each case is a
 * request injected into it (fastify's inject), so the caller's answer is the one a client would get, problem+json
 * and SOAP faults included. A broker source (Kafka, AMQP, or an adapter of your own) is not started: the case's
 * input becomes the message it would deliver. The sinks are MockSinks (mocks.ts).
 *
 * What differs from `hub run`, on purpose: retries wait no backoff (the attempts are the flow's, the waits zero), no
 * journal for the messages (a message the flow cannot deliver is the case's error), and no circuit breaker, whose
 * state would leak from one case into the next. The steps with a state of their own (aggregate, recipient_list,
 * throttle) are started afresh for each case (CaseLifecycle): an aggregate's groups in an embedded journal of the
 * case's own, in a temporary folder; a throttle's counts from zero.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import { isoNow } from '../core/clock.js';
import type { DeliverOptions, FlowResult, HubLimits, GroupStore, Step, StepLifecycle, StepRuntime } from '../core/contracts.js';
import { toHubError } from '../core/errors.js';
import { newId } from '../core/id.js';
import { Message } from '../core/message.js';
import { createHttpServer } from '../kit/http-server.js';
import { openEmbeddedJournal, type EmbeddedJournal } from '../journal/embedded.js';
import { FlowRunner } from '../runtime/flow-runner.js';
import { bodyOf, CallLog, MockSink, type SinkCall } from './mocks.js';
import { caseInputs, type CaseInput, type TestCase } from './test-file.js';

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

/** How long a case waits, after its last input, for the aggregate groups it opened to complete and be sent on. */
export const GROUPS_WAIT_MS = 2_000;

/**
 * A step's lifecycle as the harness runs it: the runner's start only keeps the runtime; each case starts the step
 * afresh (`begin`) with its groups in the case's journal and its emitted messages observed, and stops it (`end`)
 * once the groups it opened were sent on, or GROUPS_WAIT_MS after its last input.
 */
class CaseLifecycle implements StepLifecycle {
  #runtime: StepRuntime | undefined;
  #running = false;
  /** Groups being sealed and sent on (sealGroup called, removeGroup not yet): the step's work after its message's run. */
  readonly sealing = new Set<string>();

  constructor(readonly inner: StepLifecycle) {}

  start(runtime: StepRuntime): void {
    this.#runtime = runtime;
  }

  get scope(): string {
    return `${this.#runtime!.flow}/${this.#runtime!.step}`;
  }

  /** `emitted(message)` runs the message as the runner would and resolves, the failure recorded (as parked) by the harness. */
  async begin(journal: EmbeddedJournal, emitted: (run: Promise<void>) => Promise<void>): Promise<void> {
    const runtime = this.#runtime!;
    const sealing = this.sealing;
    sealing.clear();
    const groups: GroupStore = {
      addToGroup: (scope, key, member, options) => journal.addToGroup(scope, key, member, options),
      listGroups: (scope) => journal.listGroups(scope),
      async sealGroup(scope, groupId, seal) {
        sealing.add(groupId);
        try {
          const sealed = await journal.sealGroup(scope, groupId, seal);
          if (!sealed?.first) sealing.delete(groupId);
          return sealed;
        } catch (err) {
          sealing.delete(groupId);
          throw err;
        }
      },
      async removeGroup(scope, groupId) {
        try {
          return await journal.removeGroup(scope, groupId);
        } finally {
          sealing.delete(groupId);
        }
      },
    };
    await this.inner.start({ ...runtime, groups, emit: (message) => emitted(runtime.emit(message)) });
    this.#running = true;
  }

  async end(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.inner.stop();
  }

  stop(): Promise<void> {
    return this.end();
  }
}

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
  readonly #http: FastifyInstance;
  #routes: string[] = [];
  #log = new CallLog();
  readonly #lifecycles: CaseLifecycle[] = [];
  /** Where the cases' journals go (made at the first case that needs one), removed at close. */
  #dir: string | undefined;
  #cases = 0;

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
      // A broker source is not started: the runner starts one that takes nothing (the cases' inputs are delivered to it).
      ...(this.#served ? {} : { source: { ...original.source, instance: { start: async () => {}, stop: async () => {}, ready: () => true } } }),
      retry: { ...original.retry, initialMs: 0, maxMs: 0 },
      service: undefined,
    };
    this.#runner = new ObservedRunner(this.#def, pino({ level: 'silent' }));
    this.#http = createHttpServer(limits, pino({ level: 'silent' }));
  }

  /** A harness for a flow, started: a REST or SOAP source on a server that never listens. */
  static async open(def: FlowDefinition, baseDir: string, limits: HubLimits): Promise<FlowHarness> {
    const harness = new FlowHarness(def, baseDir, limits);
    await harness.#runner.start(harness.#http, limits);
    await harness.#http.ready();
    return harness;
  }

  get #served(): boolean {
    return this.original.source.adapter === 'rest' || this.original.source.adapter === 'soap';
  }

  /** Each step's run, noting that it was reached and, for a route step, the branch its messages took. */
  #observed(step: FlowDefinition['steps'][number], i: number): Step {
    const path = ['steps', i, step.kind];
    const lifecycle = step.run.lifecycle ? new CaseLifecycle(step.run.lifecycle) : undefined;
    if (lifecycle) this.#lifecycles.push(lifecycle);
    const run = this.#observedRun(step, i, path);
    return lifecycle ? Object.assign(run, { lifecycle }) : run;
  }

  #observedRun(step: FlowDefinition['steps'][number], i: number, path: (string | number)[]): Step {
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

  /** Runs one case: the mocks set, its inputs delivered one after the other, what happened observed. */
  async run(c: TestCase): Promise<Observation> {
    const log = (this.#log = new CallLog());
    for (const [name, mock] of this.#mocks) {
      const given = c.sinks?.[name];
      mock.reset(log, given === undefined ? [] : Array.isArray(given) ? given : [given]);
    }
    this.#routes = [];
    let error: Observation['error'];
    const failed = (err: unknown): void => {
      const e = toHubError(err);
      error = { code: e.code, message: e.message, ...(e.step ? { step: e.step } : {}) };
    };
    this.#runner.failed = failed;
    const clock = performance.now();
    const journal = await this.#begin((run) => run.catch(failed));
    let reply: Observation['reply'];
    try {
      for (const [j, { input }] of caseInputs(c).entries()) {
        if (j > 0) await this.#settled(() => this.#lifecycles.some((l) => l.sealing.size > 0));
        if (this.#served) {
          const res = await this.#http.inject(this.#request(input));
          reply = { status: res.statusCode, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])), body: res.rawPayload };
        } else {
          await this.#runner.deliver(this.#message(input)).catch(() => undefined);
        }
      }
    } finally {
      await this.#end(journal);
    }
    return { ...(reply ? { reply } : {}), ...(error ? { error } : {}), calls: log.calls, unmocked: [...log.unmocked], routes: this.#routes, tookMs: performance.now() - clock };
  }

  /** The case's journal, and the steps with a lifecycle started on it; none when the flow has no such step. */
  async #begin(emitted: (run: Promise<void>) => Promise<void>): Promise<EmbeddedJournal | undefined> {
    if (this.#lifecycles.length === 0) return undefined;
    this.#dir ??= await mkdtemp(join(tmpdir(), 'hub-test-journal-'));
    const journal = await openEmbeddedJournal({ dir: join(this.#dir, `case-${++this.#cases}`) });
    for (const lifecycle of this.#lifecycles) await lifecycle.begin(journal, emitted);
    return journal;
  }

  /** Waits while `busy` holds, at most GROUPS_WAIT_MS. */
  async #settled(busy: () => boolean | Promise<boolean>): Promise<void> {
    const until = Date.now() + GROUPS_WAIT_MS;
    while (Date.now() < until && (await busy())) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Waits for the groups the case opened to be sent on (at most GROUPS_WAIT_MS), then stops the steps and removes the journal. */
  async #end(journal: EmbeddedJournal | undefined): Promise<void> {
    if (!journal) return;
    await this.#settled(async () => (await Promise.all(this.#lifecycles.map((l) => journal.listGroups(l.scope)))).some((g) => g.length > 0));
    for (const lifecycle of this.#lifecycles) await lifecycle.end();
    await journal.close();
    await rm(join(this.#dir!, `case-${this.#cases}`), { recursive: true, force: true });
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
    await this.#http.close();
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }
}
