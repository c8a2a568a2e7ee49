/**
 * `hub`: dispatches to the commands, each declared once with its options (args.ts) in a file of this folder, and
 * prints what ends a command: `hub: CODE: message` with the code of the error tables (src/core/errors.ts), and for a
 * usage error the usage of the command it was meant for. It exits with the table's status: 0 ok, 1 the flows, the
 * configuration or the hub said no, 2 a command line to correct.
 */
import { ConfigError, HubError } from '../core/errors.js';
import { closest } from '../config/load-flows.js';
import { adminGroup } from './admin.js';
import { commandRows, helpText, usageText, UsageError, type Entry, type Io, type Print } from './args.js';
import { adaptersCommand, schemaCommand, validateCommand } from './authoring.js';
import { compareCommand } from './compare.js';
import { auditCommand, flowGroup, flowsCommand } from './flows.js';
import { meshGroup } from './mesh.js';
import { archiveCommand, deadLettersCommand, messagesGroup } from './messages.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';
import { testCommand } from './test.js';
import { devCommand } from './dev.js';
import { traceCommand } from './trace.js';
import { version } from './setup.js';

/** Every command, in the sections of `hub --help`. */
export const SECTIONS: readonly { title: string; entries: readonly Entry[] }[] = [
  { title: 'Running and checking flows', entries: [runCommand, devCommand, validateCommand, testCommand, adaptersCommand, schemaCommand] },
  { title: 'Hub style and mesh style', entries: [meshGroup, compareCommand] },
  { title: 'Operating a running hub, through its admin API', entries: [flowsCommand, flowGroup, traceCommand, messagesGroup, deadLettersCommand, replayCommand, archiveCommand, auditCommand, adminGroup] },
];

const ENTRIES = SECTIONS.flatMap((s) => s.entries);

const NOTES = `The operator commands take --url URL (else HUB_URL, else http://127.0.0.1:8080) and call as the admin token in
HUB_ADMIN_TOKEN, or as --user NAME (else HUB_ADMIN_USER) with the password in HUB_ADMIN_PASSWORD.
Configuration: ./hub.yaml, or --config FILE, or HUB_CONFIG; HUB_PORT, HUB_HOST, HUB_FLOWS, HUB_LOG_LEVEL override it.
Telemetry: HUB_WORKLOAD names the workload in metrics and traces (default: hub, or the flow in flow mode), POD_NAMESPACE
its namespace; OTEL_EXPORTER_OTLP_ENDPOINT (or hub.yaml's tracing.endpoint) turns on OTLP trace export.
Errors are printed as hub: CODE: message. Exit codes: 0 ok; 1 invalid flows or configuration, or the hub refused or
failed a request; 2 a command line to correct.`;

function overview(): string {
  const sections = SECTIONS.map((s) => [`${s.title}:`, ...commandRows(s.entries, ENTRIES)].join('\n'));
  return [
    'hub: an integration hub for SOAP/XML, REST, AMQP and Kafka flows',
    'Usage: hub COMMAND [options]     hub COMMAND --help (or -h) shows a command\'s usage and options; hub --version',
    ...sections,
    NOTES,
  ].join('\n\n');
}

/** The entry named by the words of `hub help WORDS` (a command, a group, or one of its commands). */
function entryAt(words: string[]): Entry | undefined {
  const top = ENTRIES.find((e) => e.name === words[0]);
  if (!top || words.length === 1) return top;
  return top.kind === 'group' ? top.commands.find((c) => c.name === words.join(' ')) : undefined;
}

/** Prints what ended a command; returns the exit status. */
function report(e: unknown, err: Print): number {
  if (e instanceof UsageError) {
    err(`hub: ${e.code}: ${e.message}`);
    err('');
    err(e.entry ? usageText(e.entry) : ['Commands:', ...commandRows(ENTRIES)].join('\n'));
    return e.exitCode;
  }
  if (e instanceof ConfigError) {
    err(`hub: ${e.code}: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof HubError) {
    err(`hub: ${e.code}: ${e.message}`);
    return 1;
  }
  // Anything else is a bug: its stack says where.
  err(`hub: INTERNAL: ${e instanceof Error ? e.message : String(e)} (a bug in the hub or an adapter)`);
  if (e instanceof Error && e.stack) err(e.stack.split('\n').slice(1).join('\n'));
  return 1;
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[], out: Print = (s) => process.stdout.write(s + '\n'), err: Print = (s) => process.stderr.write(s + '\n'), io: Partial<Pick<Io, 'env' | 'stdin'>> = {}): Promise<number> {
  const context: Io = { out, err, env: io.env ?? process.env, stdin: io.stdin ?? process.stdin };
  const [word, ...rest] = argv;
  switch (word) {
    case undefined:
      out(overview());
      return 2;
    case '--help':
    case '-h':
      out(overview());
      return 0;
    case '--version':
    case '-v':
      out(version());
      return 0;
  }
  try {
    if (word === 'help') {
      const entry = rest.length ? entryAt(rest) : undefined;
      if (rest.length && !entry) throw new UsageError('CLI_UNKNOWN_COMMAND', `no command "hub ${rest.join(' ')}"`);
      out(entry ? helpText(entry) : overview());
      return 0;
    }
    const entry = ENTRIES.find((e) => e.name === word);
    if (!entry) {
      const near = closest(word, ENTRIES.map((e) => e.name));
      throw new UsageError('CLI_UNKNOWN_COMMAND', `unknown command "${word}"${near ? ` (did you mean ${near}?)` : ''}; hub --help lists the commands`);
    }
    return await entry.invoke(rest, context);
  } catch (e) {
    return report(e, err);
  }
}
