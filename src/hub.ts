import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { registerAdminApi, type AdminApi } from './admin/routes.js';
import type { Logger } from 'pino';
import type { HubConfig } from './config/hub-config.js';
import { redactUrl } from './kit/http-client.js';
import { hasErrors, loadFlows, type FlowDefinition } from './config/load-flows.js';
import { MessageSchemas } from './config/schema-validator.js';
import { ConfigFileError, type Diagnostic } from './config/yaml-source.js';
import type { Registry } from './core/registry.js';
import type { Journal } from './journal/contract.js';
import { journalFailure } from './journal/errors.js';
import { openJournal } from './journal/open.js';
import { DeferredJournal } from './journal/deferred.js';
import { FlowRunner } from './runtime/flow-runner.js';
import { createHttpServer } from './kit/http-server.js';
import { HubMetrics, hubWorkload } from './runtime/metrics.js';
import { RetentionSweeper } from './journal/retention.js';
import { RetryPoller } from './runtime/retry-poller.js';
import { hubError } from './core/errors.js';
import { PROBLEM_CONTENT_TYPE, problemHeaders, toProblem } from './kit/problem.js';
import { flowJournalDir, selectFlow, servicePort } from './config/flow-mode.js';
import { FlowScopedJournal } from './journal/scoped.js';
import { RouteSwitch } from './runtime/route-switch.js';
import { FlowReloader, flowPrints, type ReloadReport } from './runtime/flow-reload.js';
import { TRACE_MAX_SESSIONS, type TraceSession } from './runtime/flow-trace.js';

/** The flows have errors (each at its line and column), so the hub starts nothing. */
export class FlowLoadError extends ConfigFileError {
  override readonly name = 'FlowLoadError';
  constructor(diagnostics: Diagnostic[]) {
    super('FLOW_INVALID', diagnostics, `${diagnostics.length} error(s) in the flows, so nothing was started (hub validate PATH checks flows without starting them):`);
  }
}

export interface HubOptions {
  config: HubConfig;
  registry: Registry;
  logger: Logger;
  /**
   * Flow mode: run only this flow, as a service of its own: only its routes, its readiness, its retries, and (unless
   * HUB_JOURNAL_DIR says otherwise) an embedded journal of its own in `<journal dir>/<flow>`. The admin API and the
   * retention sweeper see only its messages, also in a journal shared with other flow services.
   */
  flow?: string;
  env?: NodeJS.ProcessEnv;
  /** A journal already open (tests, benchmarks); by default the hub opens the one its configuration names, and closes it at stop. */
  journal?: Journal;  /** Where the built admin console is (index.html, assets/); by default the project's dist/console. */
  consoleDir?: string;
}

/**
 * One hub process: loads and lints every flow (starting none if any has an error), runs each in its own
 * FlowRunner, and serves their HTTP endpoints with /healthz and /readyz on one server.
 * `build()` creates everything without listening (tests use `app.inject()`); `listen()` opens the port.
 */
export class Hub {
  readonly runners: FlowRunner[];
  readonly app: FastifyInstance;
  readonly retries: RetryPoller;
  readonly retention: RetentionSweeper;
  /** The port listen() opens: the configured one, or in flow mode the flow service's (servicePort). */
  readonly port: number;
  /** Its Prometheus registry, served at GET /metrics. */
  readonly metrics: HubMetrics;
  #stopping = false;
  #started = false;
  /** The journal's store when it was away at start: the hub is not ready until it answers. */
  #pending: { journal: DeferredJournal; where: string } | undefined;
  /** The admin API's security and audit (one-time login links come from here). */
  readonly admin: AdminApi;
  /** The flows' routes, switchable while serving (a reload). */
  readonly #routes: RouteSwitch;
  readonly #byName: Map<string, FlowRunner>;
  readonly #reloader: FlowReloader;
  readonly #traces = new Set<TraceSession>();

  private constructor(
    readonly options: HubOptions,
    flows: FlowDefinition[],
    readonly journal: Journal,
    prints: ReadonlyMap<string, string>,
  ) {
    this.app = createHttpServer(options.config.limits, options.logger, options.config.trustProxy);
    const service = flows[0]?.service;
    this.port = options.flow === undefined ? options.config.port : servicePort(options.config, service?.declared ? service.port : undefined);
    this.metrics = new HubMetrics(hubWorkload(options.flow, options.env ?? process.env));
    const newRunner = (f: FlowDefinition): FlowRunner => new FlowRunner(f, options.logger, journal, { metrics: this.metrics.forFlow(f), redisUrl: options.config.journal.redisUrl });
    this.runners = flows.map(newRunner);
    this.#byName = new Map(this.runners.map((r) => [r.name, r]));
    this.retries = new RetryPoller(journal, this.#byName, options.logger.child({ component: 'retries' }), { pollMs: options.config.journal.retryPollMs, leaseMs: options.config.journal.leaseMs });
    const own = options.flow === undefined ? journal : new FlowScopedJournal(journal, options.flow);
    this.retention = new RetentionSweeper(own, options.config.journal.keep ?? {}, options.logger.child({ component: 'retention' }));
    this.app.get('/healthz', async () => ({ status: 'ok' }));
    this.app.get('/readyz', async (_req, reply) => {
      const state = (ok: boolean): string => (ok ? 'ready' : 'not ready');
      const flows = Object.fromEntries(this.runners.map((r) => [r.name, state(r.ready())]));
      const ready = this.#started && !this.#stopping && this.runners.every((r) => r.ready()) && !this.#waitingForJournal;
      // What it waits for, in words, for whoever reads a failing probe (an operator, a replica's log).
      const waiting = [
        ...(this.#waitingForJournal ? [`journal: ${this.#pending!.where}`] : []),
        ...this.runners.flatMap((r) => [
          ...(r.def.source.instance.ready() ? [] : [`flow ${r.name}: its source (${r.def.source.adapter})`]),
          ...[...r.def.sinks].filter(([, sink]) => !sink.instance.ready()).map(([name, sink]) => `flow ${r.name}: its sink ${name} (${sink.adapter})`),
        ]),
      ];
      // A flow service also says which of its connections is not up, for whoever reads its probe's failure.
      const runner = options.flow === undefined ? undefined : this.runners[0];
      const parts = runner && { service: runner.name, source: state(runner.def.source.instance.ready()), sinks: Object.fromEntries([...runner.def.sinks].map(([name, sink]) => [name, state(sink.instance.ready())])) };
      return reply.code(ready ? 200 : 503).send({ status: state(ready), flows, ...parts, ...(ready || this.#stopping ? {} : { waiting }) });
    });
    const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
      const path = request.url.split('?')[0]!;
      const where = options.flow === undefined ? `this hub (flows: ${this.runners.map((r) => r.name).join(', ') || 'none'})` : `the service of flow "${options.flow}", which serves only that flow's own routes`;
      const err = hubError('NOT_FOUND', `no route ${request.method} ${path} in ${where}`);
      return reply
        .code(404)
        .headers({ ...problemHeaders(err), 'content-type': PROBLEM_CONTENT_TYPE })
        .send(JSON.stringify(toProblem(err, { instance: path })));
    };
    this.#routes = new RouteSwitch(this.app, options.config.limits, options.logger, notFound);
    // A route a reload added after the server was ready is on the switch's late server.
    this.app.setNotFoundHandler(async (request, reply) => ((await this.#routes.forward(request, reply)) ? reply : notFound(request, reply)));
    // No login: Prometheus (or the mesh's scraper) reads it, as it reads /healthz; it holds counts, not messages.
    this.app.get('/metrics', async (_req, reply) => reply.type(this.metrics.contentType).send(await this.metrics.scrape()));
    const admin = options.config.admin;
    this.admin = registerAdminApi(this.app, {
      journal: own,
      runners: this.runners,
      token: admin?.token,
      ...(admin?.users ? { users: admin.users } : {}),
      ...(admin?.session ? { session: admin.session } : {}),
      logger: options.logger,
      listenHost: options.config.host,
      ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
      retention: options.config.journal.keep ?? {},
      ...(options.config.compareReportsDir ? { compareReportsDir: options.config.compareReportsDir } : {}),
      flows: { reload: () => this.reload(), trace: (flow, session) => this.trace(flow, session) },
    });
    this.#reloader = new FlowReloader({
      runners: this.runners,
      byName: this.#byName,
      routes: this.#routes,
      limits: options.config.limits,
      logger: options.logger.child({ component: 'reload' }),
      schemasDir: options.config.schemasDir,
      load: () => Hub.#load(options),
      select: (all) => (options.flow === undefined ? all : all.filter((f) => f.name === options.flow)),
      newRunner,
      retire: (runner) => runner.stop(options.config.shutdownGraceMs),
      changed: (added, removed) => this.admin.flowsChanged(added, removed),
      prints,
    });
  }

  static #load(options: HubOptions): ReturnType<typeof loadFlows> {
    const { config, registry, logger } = options;
    return loadFlows([config.flowsDir], {
      registry,
      schemas: new MessageSchemas(config.schemasDir),
      logger,
      limits: config.limits,
      ...(config.httpSources ? { httpSources: config.httpSources as Record<string, unknown> } : {}),
      mode: 'run',
      ...(options.env ? { env: options.env } : {}),
    });
  }

  /**
   * Loads and lints the flows again and replaces those that changed (FlowReloader): the new version takes new
   * messages, the old one finishes those it has; a flow whose file has errors keeps running as it was (the report
   * lists its problems). One at a time: CONFLICT while another runs, unless `wait`.
   */
  reload(options: { wait?: boolean } = {}): Promise<ReloadReport> {
    if (this.#stopping) return Promise.reject(hubError('FLOW_STOPPING', 'the hub is shutting down; nothing is reloaded'));
    return this.#reloader.reload(options);
  }

  /** Opens a trace session on a flow (flow-trace.ts); NOT_FOUND for a flow this hub does not run, TOO_MANY_REQUESTS past TRACE_MAX_SESSIONS. */
  trace(flow: string, session: TraceSession): void {
    const runner = this.#byName.get(flow);
    if (!runner) throw hubError('NOT_FOUND', `no flow named "${flow}" runs in this hub (flows here: ${this.runners.map((r) => r.name).join(', ') || 'none'})`);
    for (const s of this.#traces) if (s.ended) this.#traces.delete(s);
    if (this.#traces.size >= TRACE_MAX_SESSIONS) throw hubError('TOO_MANY_REQUESTS', `the hub has ${TRACE_MAX_SESSIONS} traces open already; end one first`);
    this.#traces.add(session);
    runner.trace(session);
  }

  /** Loads the flows and starts their runners (sources add routes). Throws FlowLoadError with every problem found. */
  static async build(options: HubOptions): Promise<Hub> {
    const { config, logger } = options;
    const result = Hub.#load(options);
    const prints = flowPrints(result.files, config.schemasDir);
    for (const d of result.diagnostics.filter((x) => x.severity === 'warning')) logger.warn(`${d.file}:${d.line}:${d.col}: ${d.message}`);
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    let flows = result.flows;
    if (options.flow === undefined) {
      if (hasErrors(result)) throw new FlowLoadError(errors);
    } else {
      // A flow service stands alone: another flow's broken file does not keep it from starting (the blast radius
      // flow mode is for), but its own file's problems do, and so does any when the name is nowhere to be found.
      const wanted = options.flow;
      const found = flows.find((f) => f.name === wanted);
      if (!found && errors.length > 0) throw new FlowLoadError(errors);
      const own = errors.filter((d) => d.file === found?.file);
      if (own.length > 0) throw new FlowLoadError(own);
      const others = [...new Set(errors.map((d) => d.file))];
      if (others.length > 0) logger.warn({ files: others }, `flow files with errors are not loaded (hub validate ${others.join(' ')} lists them); flow "${wanted}" does not depend on them`);
      flows = [selectFlow(flows, wanted, config.flowsDir)];
    }
    const opened = options.journal ? { journal: options.journal } : await Hub.#openJournal(config, logger, options.flow);
    const hub = new Hub(options, flows, opened.journal, prints);
    if (opened.pending) {
      hub.#pending = opened.pending;
      void opened.pending.journal.opened.then((j) => {
        if (j) logger.info(`journal: ${opened.pending!.where} answers; the journal is open`);
      });
    }
    try {
      for (const runner of hub.runners) await runner.start(hub.#routes.http, config.limits);
      await hub.app.ready();
      hub.#routes.serving();
    } catch (err) {
      await hub.stop().catch(() => {});
      throw err;
    }
    hub.#started = true;
    hub.retries.start();
    hub.retention.start();
    return hub;
  }

  /**
   * Opens the journal the configuration names. A Redis that does not answer is waited for in the background (the
   * hub starts, not ready, and says so at /readyz): the journal it hands out rejects UNAVAILABLE until then, as it
   * does when Redis goes away later. Anything else (a locked or unwritable embedded store, a bad URL) throws.
   */
  static async #openJournal(config: HubConfig, logger: Logger, flow: string | undefined): Promise<{ journal: Journal; pending?: { journal: DeferredJournal; where: string } }> {
    const j = config.journal;
    const dir = flow === undefined ? j.dir : flowJournalDir(j, flow);
    const where = j.redisUrl ? `Redis at ${redactUrl(j.redisUrl)} (prefix "${j.prefix}")` : `the embedded store in ${dir}`;
    const open = (): Promise<Journal> => openJournal({ ...(j.redisUrl ? { redisUrl: j.redisUrl, prefix: j.prefix } : { dir }), leaseMs: j.leaseMs, onWarning: (m) => logger.warn(`journal: ${m}`) });
    try {
      const journal = await open();
      logger.info(`journal: ${where}`);
      return { journal };
    } catch (err) {
      const failure = journalFailure(err, `cannot open the journal (${where})`);
      if (!j.redisUrl || failure.failure !== 'UNAVAILABLE') throw failure;
      logger.warn({ err }, `journal: ${where} does not answer; the hub waits for it, not ready (GET /readyz says what it waits for) until it does`);
      const pending = new DeferredJournal({ open, where, onRetry: (e, attempt) => logger.debug({ err: e, attempt }, `journal: ${where} still does not answer`) });
      return { journal: pending.journal, pending: { journal: pending, where } };
    }
  }

  /** True while the journal's store, away at start, has not answered yet. */
  get #waitingForJournal(): boolean {
    return this.#pending !== undefined && !this.#pending.journal.isOpen;
  }

  /** Opens the port; resolves with the address it listens on. */
  async listen(): Promise<string> {
    const address = await this.app.listen({ host: this.options.config.host, port: this.port });
    const flows = this.runners.map((r) => r.name);
    if (this.options.flow !== undefined) this.options.logger.info({ address, flows }, `flow service "${this.options.flow}" listening on ${address}`);
    else this.options.logger.info({ address, flows }, `hub listening on ${address} with ${this.runners.length} flow(s)`);
    return address;
  }

  /** Stops taking new messages, lets those in flight finish (up to the grace period), then closes everything. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const grace = this.options.config.shutdownGraceMs;
    this.retries.halt();
    await this.retention.stop();
    // Replay jobs stop before the flows, so that the replays under way finish (and are counted) and the rest resume.
    await this.admin.jobs.stop();
    await this.#reloader.idle();
    await Promise.all(this.runners.map((r) => r.stop(grace)));
    await this.retries.drained();
    await this.#routes.close();
    await this.app.close();
    await this.admin.audit.flush();
    if (!this.options.journal) await this.journal.close();
  }
}
