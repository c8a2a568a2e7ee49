import type { FastifyInstance } from 'fastify';
import { registerAdminApi } from '../admin/routes.js';
import type { Logger } from 'pino';
import type { HubConfig } from '../config/hub-config.js';
import { redactUrl } from './http-client.js';
import { formatDiagnostics, hasErrors, loadFlows, type FlowDefinition } from '../config/load-flows.js';
import { MessageSchemas } from '../config/schema-validator.js';
import type { Diagnostic } from '../config/yaml-source.js';
import type { Registry } from '../core/registry.js';
import type { Journal } from '../journal/contract.js';
import { JournalError } from '../journal/errors.js';
import { openJournal } from '../journal/open.js';
import { FlowRunner } from './flow-runner.js';
import { createHttpServer } from './http-server.js';
import { HubMetrics, hubWorkload } from './metrics.js';
import { RetentionSweeper } from './retention.js';
import { RetryPoller } from './retry-poller.js';

export class FlowLoadError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`flows have errors; nothing was started:\n${formatDiagnostics(diagnostics)}`);
  }
}

export interface HubOptions {
  config: HubConfig;
  registry: Registry;
  logger: Logger;
  /** Flow mode: run only this flow. */
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
  /** Its Prometheus registry, served at GET /metrics. */
  readonly metrics: HubMetrics;
  #stopping = false;
  #started = false;

  private constructor(
    readonly options: HubOptions,
    flows: FlowDefinition[],
    readonly journal: Journal,
  ) {
    this.app = createHttpServer(options.config.limits, options.logger);
    this.metrics = new HubMetrics(hubWorkload(options.flow, options.env ?? process.env));
    this.runners = flows.map((f) => new FlowRunner(f, options.logger, journal, { metrics: this.metrics.forFlow(f) }));
    this.retries = new RetryPoller(journal, new Map(this.runners.map((r) => [r.name, r])), options.logger.child({ component: 'retries' }), { pollMs: options.config.journal.retryPollMs, leaseMs: options.config.journal.leaseMs });
    this.retention = new RetentionSweeper(journal, options.config.journal.keep ?? {}, options.logger.child({ component: 'retention' }));
    this.app.get('/healthz', async () => ({ status: 'ok' }));
    this.app.get('/readyz', async (_req, reply) => {
      const flows = Object.fromEntries(this.runners.map((r) => [r.name, r.ready() ? 'ready' : 'not ready']));
      const ready = this.#started && !this.#stopping && this.runners.every((r) => r.ready());
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', flows });
    });
    // No login: Prometheus (or the mesh's scraper) reads it, as it reads /healthz; it holds counts, not messages.
    this.app.get('/metrics', async (_req, reply) => reply.type(this.metrics.contentType).send(await this.metrics.scrape()));
    const admin = options.config.admin;
    registerAdminApi(this.app, {
      journal,
      runners: this.runners,
      token: admin?.token,
      ...(admin?.users ? { users: admin.users } : {}),
      ...(admin?.session ? { session: admin.session } : {}),
      logger: options.logger,
      listenHost: options.config.host,
      ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
      retention: options.config.journal.keep ?? {},
    });
  }

  /** Loads the flows and starts their runners (sources add routes). Throws FlowLoadError with every problem found. */
  static async build(options: HubOptions): Promise<Hub> {
    const { config, registry, logger } = options;
    const result = loadFlows([config.flowsDir], { registry, schemas: new MessageSchemas(config.schemasDir), logger, limits: config.limits, mode: 'run', ...(options.env ? { env: options.env } : {}) });
    for (const d of result.diagnostics.filter((x) => x.severity === 'warning')) logger.warn(`${d.file}:${d.line}:${d.col}: ${d.message}`);
    if (hasErrors(result)) throw new FlowLoadError(result.diagnostics.filter((d) => d.severity === 'error'));
    let flows = result.flows;
    if (options.flow !== undefined) {
      flows = flows.filter((f) => f.name === options.flow);
      if (flows.length === 0) throw new Error(`no flow named "${options.flow}" in ${config.flowsDir} (flows: ${result.flows.map((f) => f.name).join(', ') || 'none'})`);
    }
    const journal = options.journal ?? (await Hub.#openJournal(config, logger));
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

  static async #openJournal(config: HubConfig, logger: Logger): Promise<Journal> {
    const j = config.journal;
    const where = j.redisUrl ? `Redis at ${redactUrl(j.redisUrl)} (prefix "${j.prefix}")` : `the embedded store in ${j.dir}`;
    try {
      const journal = await openJournal({ ...(j.redisUrl ? { redisUrl: j.redisUrl, prefix: j.prefix } : { dir: j.dir }), leaseMs: j.leaseMs, onWarning: (m) => logger.warn(`journal: ${m}`) });
      logger.info(`journal: ${where}`);
      return journal;
    } catch (err) {
      const hint = err instanceof JournalError ? ` ${err.hint}` : '';
      throw new Error(`cannot open the journal (${where}): ${(err as Error).message}.${hint}`, { cause: err });
    }
  }

  /** Opens the port; resolves with the address it listens on. */
  async listen(): Promise<string> {
    const address = await this.app.listen({ host: this.options.config.host, port: this.options.config.port });
    this.options.logger.info({ address, flows: this.runners.map((r) => r.name) }, `hub listening on ${address} with ${this.runners.length} flow(s)`);
    return address;
  }

  /** Stops taking new messages, lets those in flight finish (up to the grace period), then closes everything. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const grace = this.options.config.shutdownGraceMs;
    this.retries.halt();
    await this.retention.stop();
    await Promise.all(this.runners.map((r) => r.stop(grace)));
    await this.retries.drained();
    await this.app.close();
    if (!this.options.journal) await this.journal.close();
  }
}
