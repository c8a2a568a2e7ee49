/**
 * `hub run`: every flow in one process on one port (hub mode), or one flow as its own service (flow mode, --flow).
 * It runs until SIGTERM or SIGINT, then stops taking messages, finishes those in flight and exits 0. SIGHUP reloads
 * the flows that changed (Hub.reload), as POST /admin/api/flows/reload does.
 */
import { pino, type Logger } from 'pino';
import { ensureAdminToken, type StateToken } from '../admin/admin-token.js';
import { LOGIN_LINK_PATH } from '../admin/routes.js';
import { ConfigError } from '../core/errors.js';
import { Hub } from '../hub.js';
import { redactUrl } from '../kit/http-client.js';
import { hubWorkload } from '../runtime/metrics.js';
import { startTracing, type TracingSdk } from '../runtime/tracing-sdk.js';
import { command, UsageError, type Io } from './args.js';
import { CONFIG_OPTION, setup, version } from './setup.js';

export const runCommand = command({
  name: 'run',
  summary: 'Serve every flow on one HTTP port (hub mode), or one flow as its own service (--flow NAME).',
  usage: ['hub run [--flows DIR] [--port N] [--host ADDR] [--config FILE] [--log-level L]', 'hub run --flow NAME [--flows DIR] [--port N] [--host ADDR] [--config FILE] [--log-level L]'],
  description:
    'Serve every flow in the flows folder on one HTTP port, with /healthz, /readyz, /metrics and the admin API and console under /admin. --flow NAME runs that one flow alone as its own service (mesh style): only its routes, /healthz, /readyz (ready when its source and sinks are connected), /metrics, and its embedded journal in <journal dir>/NAME; one flow per process. It stops on SIGTERM or SIGINT after the messages in flight are done. SIGHUP reloads the flows whose files changed, without a restart (as hub flow reload does).',
  options: {
    ...CONFIG_OPTION,
    flows: { type: 'string', value: 'DIR', description: 'The folder of flow files (else HUB_FLOWS, else hub.yaml\'s flows, else ./flows).' },
    port: { type: 'number', value: 'N', integer: true, min: 0, max: 65535, description: 'The HTTP port (else HUB_PORT, else the flow\'s own in flow mode, else hub.yaml\'s, else 8080); 0 picks a free one.' },
    host: { type: 'string', value: 'ADDR', description: 'The address to listen on (else HUB_HOST, else hub.yaml\'s, else 127.0.0.1).' },
    flow: { type: 'string', value: 'NAME', multiple: true, description: 'Run only this flow, as a service of its own (flow mode); once per process.' },
    'log-level': { type: 'string', value: 'L', description: 'trace, debug, info, warn, error or silent (else HUB_LOG_LEVEL, else hub.yaml\'s, else info).' },
  },
  async run(values, _args, io) {
    // One process, one flow: several flows as services are several processes (or hub mode, which runs them all).
    if (values.flow && values.flow.length > 1) {
      throw new UsageError('CLI_BAD_OPTION', `--flow is given ${values.flow.length} times (${values.flow.map((f) => `"${f}"`).join(', ')}); a flow service runs one flow: start one hub run --flow per flow, or hub run without --flow for all of them`);
    }
    const flow = values.flow?.[0];
    if (flow !== undefined && flow.trim() === '') throw new UsageError('CLI_BAD_OPTION', '--flow needs the name of a flow (e.g. hub run --flow orders-api); hub validate lists problems, hub run without --flow runs every flow');
    const overrides = { ...(values.flows ? { flows: values.flows } : {}), ...(values.port !== undefined ? { port: values.port } : {}), ...(values.host ? { host: values.host } : {}), ...(values['log-level'] ? { logLevel: values['log-level'] } : {}) };
    return serve(await setup(values.config, overrides), flow, io);
  },
});

/** What `hub run` and `hub dev` share: the hub built and listening. */
export interface Served {
  hub: Hub;
  logger: Logger;
  address: string;
}

/**
 * Builds the hub, listens, and resolves with the exit status once SIGTERM or SIGINT stopped it; SIGHUP reloads the
 * flows. `started` is told once it listens (hub dev starts its watcher there) and may return what to do at stop.
 */
export async function serve(setupResult: Awaited<ReturnType<typeof setup>>, flow: string | undefined, io: Io, started?: (served: Served) => (() => void) | void): Promise<number> {
  const { config, registry } = setupResult;
  // Closed by default: without users or a token, the hub's own token from its state folder (made at first start).
  let stateToken: StateToken | undefined;
  if (!config.admin?.token && !config.admin?.users?.length) {
    stateToken = ensureAdminToken(config.stateDir);
    config.admin = { ...config.admin, token: stateToken.token };
  }
  const logger: Logger = pino({ level: config.logLevel, base: { service: flow ?? 'hub' } });
  // A promise an adapter forgot to handle must not take every flow down with it; it is a bug, logged as one.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection (a bug in the hub or an adapter)'));
  const workload = hubWorkload(flow);
  const endpoint = config.tracing?.endpoint;
  // Registered before the flows are built, so the first message is traced; flushed after the hub stopped.
  const tracing: TracingSdk | undefined = config.tracing && endpoint ? startTracing({ tracing: config.tracing, workload, version: version(), logger }) : undefined;
  if (tracing) logger.info({ endpoint, serviceName: io.env.OTEL_SERVICE_NAME || workload.name }, `tracing: exporting spans over OTLP to ${redactUrl(endpoint!)}`);
  let hub: Hub;
  let address: string;
  try {
    hub = await Hub.build({ config, registry, logger, ...(flow !== undefined ? { flow } : {}) });
  } catch (e) {
    await tracing?.shutdown().catch(() => {});
    throw e;
  }
  try {
    address = await hub.listen();
  } catch (e) {
    await hub.stop();
    await tracing?.shutdown().catch(() => {});
    // Node's own system error code: the only sign that another process holds the port.
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError('PORT_IN_USE', `port ${hub.port} on ${config.host} is already in use; choose another with --port${flow !== undefined ? ' (each flow service needs a port of its own)' : ''}`, { cause: e });
    }
    throw new ConfigError('LISTEN_FAILED', `cannot listen on ${config.host}:${hub.port}: ${(e as Error).message}`, { cause: e });
  }
  if (stateToken) io.err(howToLogIn(stateToken, hub, address));
  const atStop = started?.({ hub, logger, address });
  const onHangUp = (): void => {
    logger.info('SIGHUP: reloading the flows');
    hub.reload({ wait: true }).then(
      (report) => {
        for (const p of report.problems) logger.error(`${p.file}:${p.line}:${p.col}: ${p.message}`);
      },
      (e: unknown) => logger.error({ err: e }, 'the reload failed'),
    );
  };
  process.on('SIGHUP', onHangUp);
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second Ctrl-C means "now"; a repeated SIGTERM (an orchestrator insisting) changes nothing.
        if (signal === 'SIGINT') process.exit(130);
        return;
      }
      stopping = true;
      process.off('SIGHUP', onHangUp);
      atStop?.();
      logger.info({ signal }, `${signal}: no longer taking messages; finishing those in flight`);
      const flushed = (): Promise<void> => tracing?.shutdown().catch((e: unknown) => logger.warn({ err: e }, 'tracing: the last spans could not be exported')) ?? Promise.resolve();
      hub.stop().then(
        async () => {
          await flushed();
          logger.info('stopped');
          resolveExit(0);
        },
        async (e: unknown) => {
          await flushed();
          logger.error({ err: e }, 'unclean stop');
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * What the hub prints at start when it uses its own token: a one-time console link (a new one at every start, each
 * usable once within 15 minutes), and at the first start only, the token itself for the CLI elsewhere.
 */
function howToLogIn(stateToken: StateToken, hub: Hub, address: string): string {
  const { code, expiresAt } = hub.admin.security.issueLoginLink();
  // A wildcard address is not one a browser can open; the loopback of the same machine is.
  const base = address.replace(/^(https?:\/\/)(0\.0\.0\.0|\[::\])(?=[:/]|$)/, '$1127.0.0.1');
  const lines = [
    'admin: no admin users or token are configured, so the hub uses its own token, kept readable by this user only in',
    `  ${stateToken.file}`,
    `  console: open ${base}${LOGIN_LINK_PATH}?code=${code}`,
    `           (one-time login link, usable once until ${expiresAt.toISOString()}; \`hub admin login-link\` makes another)`,
    '  CLI:     hub commands run by this user here read the token from that file by themselves',
  ];
  if (stateToken.created) lines.push(`           elsewhere: HUB_ADMIN_TOKEN=${stateToken.token}  (printed this once; it stays in the file)`);
  return lines.join('\n');
}
