import type { FastifyInstance } from 'fastify';
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
import { FlowRunner } from './runtime/flow-runner.js';
import { createHttpServer } from './kit/http-server.js';
import { HubMetrics, hubWorkload } from './runtime/metrics.js';
import { RetentionSweeper } from './journal/retention.js';
import { RetryPoller } from './runtime/retry-poller.js';
import { hubError } from './core/errors.js';
import { PROBLEM_CONTENT_TYPE, problemHeaders, toProblem } from './kit/problem.js';
import { flowJournalDir, selectFlow, servicePort } from './config/flow-mode.js';
import { FlowScopedJournal } from './journal/scoped.js';

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
  readonly #admin: AdminApi;

  private constructor(
    readonly options: HubOptions,
    flows: FlowDefinition[],
    readonly journal: Journal,
  ) {
    this.app = createHttpServer(options.config.limits, options.logger, options.config.trustProxy);
    const service = flows[0]?.service;
    this.port = options.flow === undefined ? options.config.port : servicePort(options.config, service?.declared ? service.port : undefined);
    this.metrics = new HubMetrics(hubWorkload(options.flow, options.env ?? process.env));
    this.runners = flows.map((f) => new FlowRunner(f, options.logger, journal, { metrics: this.metrics.forFlow(f) }));
    this.retries = new RetryPoller(journal, new Map(this.runners.map((r) => [r.name, r])), options.logger.child({ component: 'retries' }), { pollMs: options.config.journal.retryPollMs, leaseMs: options.config.journal.leaseMs });
    const own = options.flow === undefined ? journal : new FlowScopedJournal(journal, options.flow);
    this.retention = new RetentionSweeper(own, options.config.journal.keep ?? {}, options.logger.child({ component: 'retention' }));
    this.app.get('/healthz', async () => ({ status: 'ok' }));
    this.app.get('/readyz', async (_req, reply) => {
      const state = (ok: boolean): string => (ok ? 'ready' : 'not ready');
      const flows = Object.fromEntries(this.runners.map((r) => [r.name, state(r.ready())]));
      const ready = this.#started && !this.#stopping && this.runners.every((r) => r.ready());
      // A flow service also says which of its connections is not up, for whoever reads its probe's failure.
      const runner = options.flow === undefined ? undefined : this.runners[0];
      const parts = runner && { service: runner.name, source: state(runner.def.source.instance.ready()), sinks: Object.fromEntries([...runner.def.sinks].map(([name, sink]) => [name, state(sink.instance.ready())])) };
      return reply.code(ready ? 200 : 503).send({ status: state(ready), flows, ...parts });
    });
    this.app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0]!;
      const where = options.flow === undefined ? `this hub (flows: ${this.runners.map((r) => r.name).join(', ') || 'none'})` : `the service of flow "${options.flow}", which serves only that flow's own routes`;
      const err = hubError('NOT_FOUND', `no route ${request.method} ${path} in ${where}`);
      return reply
        .code(404)
        .headers({ ...problemHeaders(err), 'content-type': PROBLEM_CONTENT_TYPE })
        .send(JSON.stringify(toProblem(err, { instance: path })));
    });
    // No login: Prometheus (or the mesh's scraper) reads it, as it reads /healthz; it holds counts, not messages.
    this.app.get('/metrics', async (_req, reply) => reply.type(this.metrics.contentType).send(await this.metrics.scrape()));
    const admin = options.config.admin;
    this.#admin = registerAdminApi(this.app, {
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
    });
  }

  /** Loads the flows and starts their runners (sources add routes). Throws FlowLoadError with every problem found. */
  static async build(options: HubOptions): Promise<Hub> {
    const { config, registry, logger } = options;
    const result = loadFlows([config.flowsDir], { registry, schemas: new MessageSchemas(config.schemasDir), logger, limits: config.limits, mode: 'run', ...(options.env ? { env: options.env } : {}) });
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
    const journal = options.journal ?? (await Hub.#openJournal(config, logger, options.flow));
    const hub = new Hub(options, flows, journal);
    try {
      for (const runner of hub.runners) await runner.start(hub.app, config.limits);
      await hub.app.ready();
    } catch (err) {
      await hub.stop().catch(() => {});
      throw err;
    }
    hub.#started = true;
    hub.retries.start();
    hub.retention.start();
    return hub;
  }

  static async #openJournal(config: HubConfig, logger: Logger, flow: string | undefined): Promise<Journal> {
    const j = config.journal;
    const dir = flow === undefined ? j.dir : flowJournalDir(j, flow);
    const where = j.redisUrl ? `Redis at ${redactUrl(j.redisUrl)} (prefix "${j.prefix}")` : `the embedded store in ${dir}`;
    try {
      const journal = await openJournal({ ...(j.redisUrl ? { redisUrl: j.redisUrl, prefix: j.prefix } : { dir }), leaseMs: j.leaseMs, onWarning: (m) => logger.warn(`journal: ${m}`) });
      logger.info(`journal: ${where}`);
      return journal;
    } catch (err) {
      throw journalFailure(err, `cannot open the journal (${where})`);
    }
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
    await this.#admin.jobs.stop();
    await Promise.all(this.runners.map((r) => r.stop(grace)));
    await this.retries.drained();
    await this.app.close();
    await this.#admin.audit.flush();
    if (!this.options.journal) await this.journal.close();
  }
}
