import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { builtinRegistry } from '../builtins.js';
import { buildFlowSchema } from '../config/flow-schema.js';
import { HubConfigError, loadHubConfig, type HubConfig } from '../config/hub-config.js';
import { formatDiagnostics, hasErrors, loadFlows } from '../config/load-flows.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { redactUrl } from '../kit/http-client.js';
import { loadUserAdapters } from '../config/plugins.js';
import { MessageSchemas } from '../config/schema-validator.js';
import { adminCommand, archiveCommand, auditCommand, deadLettersCommand, flowCommand, flowsCommand, messagesCommand, replayCommand, UsageError } from './admin.js';
import type { Registry } from '../core/registry.js';
import { MESH_USAGE, meshCommand } from './mesh.js';
import { UnknownFlowError } from '../config/flow-mode.js';
import { FlowLoadError, Hub } from '../hub.js';
import { COMPARE_USAGE, compareCommand } from './compare.js';
import { hubWorkload } from '../runtime/metrics.js';
import { startTracing, type TracingSdk } from '../runtime/tracing-sdk.js';

const USAGE = `hub: an integration hub for SOAP/XML, REST, AMQP and Kafka flows

Usage:
  hub run [--flows DIR] [--port N] [--host ADDR] [--config FILE] [--flow NAME]
        Serve every flow in DIR (default ./flows) on one HTTP port, with /healthz, /readyz and /metrics.
        --flow NAME runs that one flow alone as its own service (mesh style): only its routes, /healthz, /readyz
        (ready when its source and sinks are connected), /metrics, its embedded journal in <journal dir>/NAME; one per process.
  hub validate [--config FILE] PATH...
        Lint flow files (or folders of them); prints file:line:col: message for every problem.
  hub adapters [--config FILE] [--json]
        List the registered adapters (built-in and your own) with their config schemas.
  hub schema [--config FILE] [--out FILE]
        Print (or write) the flow JSON Schema assembled from the registered adapters and steps.
${MESH_USAGE}
${COMPARE_USAGE}

Operating a running hub (through its admin API):
  hub flows [--json]
        Each flow: running or paused, ready, messages delivered per second and p99 latency over the last minute,
        messages in, out, failed, waiting and dead since the hub started, the last error.
  hub flow pause NAME | hub flow resume NAME
        Stop a flow taking new messages (those in it finish), or let it take them again (admin).
  hub messages [--flow F] [--status S]... [--correlation-id C] [--error-code C] [--error-step S] [--error-text T]
               [--from ISO] [--to ISO] [--limit N] [--cursor C] [--json]
        Search the journal, newest first (a table; --json for the raw page). --status repeats or takes a list.
  hub messages show ID [--json]
        One message: headers, stored body, error, timeline, replays.
  hub dead-letters [--flow F] [--json]
        Dead letters grouped by flow, step and error code.
  hub replay ID [--to start|failed-step] [--sink S] [--body-file FILE] [--content-type T] [--note N]
        Replay one message (a new id, linked to the original) from the start, from its failed step, or straight to
        a sink; --body-file replaces its body (checked against the flow's input schema first).
  hub replay ID --check [--body-file FILE] [--to ...] [--sink S]
        The dry run: check the body (edited, else stored) against the flow's input schema and list its errors;
        nothing is booked or sent (admin).
  hub replay --flow F [--status S]... [--error-code C] [--error-step S] [--error-text T] [--from ISO] [--until ISO]
             [--to start|failed-step] [--sink S] [--max N] [--note N]
        Replay every message of the flow that matches (dead ones unless --status says otherwise), up to --max (1000).
  hub archive ID [--reason R]
  hub archive --flow F --step S --code C [--reason R] [--max N]
        Archive a dead message, or a whole dead-letter group (--step - for errors without a step) (admin).
  hub audit [--limit N] [--action A] [--cursor C]
        The admin audit, newest first: logins, logouts and every change, refused ones too (admin).
  Each takes --url URL (else HUB_URL, else http://127.0.0.1:8080) and calls as the admin token in HUB_ADMIN_TOKEN,
  or as --user NAME (else HUB_ADMIN_USER) with the password in HUB_ADMIN_PASSWORD.
  A replay is sent once per --idempotency-key K (default: the same command twice sends once).
  hub admin hash-password
        Read a password on stdin and print its hash for admin.users[].password_hash in hub.yaml.

Configuration: ./hub.yaml, or --config FILE, or HUB_CONFIG; HUB_PORT, HUB_HOST, HUB_FLOWS, HUB_LOG_LEVEL override it.
Telemetry: HUB_WORKLOAD names the workload in metrics and traces (default: hub, or the flow in flow mode), POD_NAMESPACE
its namespace; OTEL_EXPORTER_OTLP_ENDPOINT (or hub.yaml's tracing.endpoint) turns on OTLP trace export.
Exit codes: 0 ok, 1 invalid flows or configuration, or the hub refused or failed a request, 2 usage error.`;

function version(): string {
  return (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

async function setup(configPath: string | undefined, overrides: Parameters<typeof loadHubConfig>[0] = {}): Promise<{ config: HubConfig; registry: Registry }> {
  const config = loadHubConfig({ ...overrides, ...(configPath ? { config: configPath } : {}) });
  const registry = builtinRegistry();
  await loadUserAdapters(registry, config.adapters);
  return { config, registry };
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n'), err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, err);
      case 'validate':
        return await validateCommand(rest, out, err);
      case 'adapters':
        return await adaptersCommand(rest, out);
      case 'schema':
        return await schemaCommand(rest, out);
      case 'mesh':
        return await meshCommand(rest, out, err, (configPath) => setup(configPath));
      case 'compare':
        return await compareCommand(rest, out, err);
      case 'messages':
        return await messagesCommand(rest, out, err);
      case 'dead-letters':
        return await deadLettersCommand(rest, out, err);
      case 'replay':
        return await replayCommand(rest, out, err);
      case 'flows':
        return await flowsCommand(rest, out, err);
      case 'flow':
        return await flowCommand(rest, out, err);
      case 'archive':
        return await archiveCommand(rest, out, err);
      case 'audit':
        return await auditCommand(rest, out, err);
      case 'admin':
        return await adminCommand(rest, out, err);
      case '--version':
      case '-v':
        out(version());
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        err(`hub: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`hub ${command}: ${e.message} (see hub --help)`);
      return 2;
    }
    if (e instanceof HubConfigError || e instanceof FlowLoadError) {
      err(e instanceof FlowLoadError ? formatDiagnostics(e.diagnostics) : e.message);
      return 1;
    }
    if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      err(`hub: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    err(`hub: ${(e as Error).message}`);
    return 1;
  }
}

async function validateCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' } } });
  if (positionals.length === 0) {
    err('hub validate: name at least one flow file or folder (e.g. hub validate flows/)');
    return 2;
  }
  const { config, registry } = await setup(values.config);
  const logger = pino({ level: 'silent' });
  const result = loadFlows(positionals, { registry, schemas: new MessageSchemas(config.schemasDir), logger, limits: config.limits, mode: 'validate' });
  if (result.diagnostics.length) err(formatDiagnostics(result.diagnostics));
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  if (hasErrors(result)) {
    err(`${errors} error(s), ${warnings} warning(s) in ${result.files.length} file(s)`);
    return 1;
  }
  out(`ok: ${result.files.length} flow file(s) are valid${warnings ? ` (${warnings} warning(s))` : ''}`);
  return 0;
}

async function runCommand(argv: string[], err: (s: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { flows: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, config: { type: 'string' }, flow: { type: 'string', multiple: true }, 'log-level': { type: 'string' } },
  });
  // One process, one flow: several flows as services are several processes (or hub mode, which runs them all).
  if (values.flow && values.flow.length > 1) {
    err(`hub run: --flow is given ${values.flow.length} times (${values.flow.map((f) => `"${f}"`).join(', ')}); a flow service runs one flow: start one hub run --flow per flow, or hub run without --flow for all of them`);
    return 2;
  }
  const flow = values.flow?.[0];
  if (flow !== undefined && flow.trim() === '') {
    err('hub run: --flow needs the name of a flow (e.g. hub run --flow orders-api); hub validate lists problems, hub run without --flow runs every flow');
    return 2;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    err(`hub run: --port must be an integer from 0 to 65535 (got "${values.port}")`);
    return 2;
  }
  const { config, registry } = await setup(values.config, { ...(values.flows ? { flows: values.flows } : {}), ...(port !== undefined ? { port } : {}), ...(values.host ? { host: values.host } : {}), ...(values['log-level'] ? { logLevel: values['log-level'] } : {}) });
  const logger: Logger = pino({ level: config.logLevel, base: { service: flow ?? 'hub' } });
  // A promise an adapter forgot to handle must not take every flow down with it; it is a bug, logged as one.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection (a bug in the hub or an adapter)'));
  const workload = hubWorkload(flow);
  const endpoint = config.tracing?.endpoint;
  // Registered before the flows are built, so the first message is traced; flushed after the hub stopped.
  const tracing: TracingSdk | undefined = config.tracing && endpoint ? startTracing({ tracing: config.tracing, workload, version: version(), logger }) : undefined;
  if (tracing) logger.info({ endpoint, serviceName: process.env.OTEL_SERVICE_NAME || workload.name }, `tracing: exporting spans over OTLP to ${redactUrl(endpoint!)}`);
  let hub: Hub;
  try {
    hub = await Hub.build({ config, registry, logger, ...(flow !== undefined ? { flow } : {}) });
  } catch (e) {
    await tracing?.shutdown().catch(() => {});
    if (!(e instanceof UnknownFlowError)) throw e;
    err(`hub run --flow: ${e.message}`);
    return 2;
  }
  try {
    await hub.listen();
  } catch (e) {
    await hub.stop();
    await tracing?.shutdown().catch(() => {});
    const code = (e as { code?: string }).code;
    const taken = `hub run: port ${hub.port} on ${config.host} is already in use; choose another with --port${flow !== undefined ? ' (each flow service needs a port of its own)' : ''}`;
    err(code === 'EADDRINUSE' ? taken : `hub run: cannot listen: ${(e as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second Ctrl-C means "now"; a repeated SIGTERM (an orchestrator insisting) changes nothing.
        if (signal === 'SIGINT') process.exit(130);
        return;
      }
      stopping = true;
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

async function adaptersCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, json: { type: 'boolean' } } });
  const { registry } = await setup(values.config);
  const list = registry.adapters.map((a) => ({
    name: a.name,
    origin: registry.origin('adapter', a.name),
    description: a.description,
    ...(a.source ? { source: a.source.schema } : {}),
    ...(a.sink ? { sink: a.sink.schema } : {}),
  }));
  if (values.json) {
    out(JSON.stringify(list, null, 2));
    return 0;
  }
  for (const a of list) {
    out(`${a.name}  (${a.origin})  ${a.description}`);
    for (const side of ['source', 'sink'] as const) {
      const schema = a[side] as { properties?: Record<string, { description?: string }>; required?: string[] } | undefined;
      if (!schema) continue;
      out(`  ${side}:`);
      for (const [key, prop] of Object.entries(schema.properties ?? {})) {
        out(`    ${key}${schema.required?.includes(key) ? ' (required)' : ''}: ${prop.description ?? ''}`);
      }
    }
  }
  out('\nFull schemas: hub adapters --json');
  return 0;
}

async function schemaCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, out: { type: 'string' } } });
  const { registry } = await setup(values.config);
  const text = JSON.stringify(buildFlowSchema(registry), null, 2) + '\n';
  if (values.out) {
    writeFileSync(values.out, text);
    out(`wrote ${values.out}`);
  } else out(text.trimEnd());
  return 0;
}
