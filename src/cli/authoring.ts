/** The flow author's commands: `hub validate`, `hub adapters`, `hub schema`. */
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { buildFlowSchema } from '../config/flow-schema.js';
import { formatDiagnostics, hasErrors, loadFlows } from '../config/load-flows.js';
import { MessageSchemas } from '../config/schema-validator.js';
import { ConfigError } from '../core/errors.js';
import { command } from './args.js';
import { CONFIG_OPTION, setup } from './setup.js';

export const validateCommand = command({
  name: 'validate',
  summary: 'Lint flow files or folders of them: file:line:col: message for every problem.',
  usage: ['hub validate [--config FILE] PATH...'],
  description:
    'Lint flow files (or folders of them, not recursively): every problem of every file in one pass, each as file:line:col: message, then a count; exit 1 when there is an error. hub run makes the same checks at start and starts nothing if any flow has an error.',
  options: CONFIG_OPTION,
  args: [{ name: 'PATH', required: true, variadic: true, description: 'Flow files or folders of them (e.g. flows/).' }],
  async run(values, paths, io) {
    const { config, registry } = await setup(values.config);
    const result = loadFlows(paths, { registry, schemas: new MessageSchemas(config.schemasDir), logger: pino({ level: 'silent' }), limits: config.limits, mode: 'validate' });
    if (result.diagnostics.length) io.err(formatDiagnostics(result.diagnostics));
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = result.diagnostics.length - errors;
    if (hasErrors(result)) {
      io.err(`${errors} error(s), ${warnings} warning(s) in ${result.files.length} file(s)`);
      return 1;
    }
    io.out(`ok: ${result.files.length} flow file(s) are valid${warnings ? ` (${warnings} warning(s))` : ''}`);
    return 0;
  },
});

export const adaptersCommand = command({
  name: 'adapters',
  summary: 'List the registered adapters (built-in and your own) with their config schemas.',
  usage: ['hub adapters [--config FILE] [--json]'],
  description: 'List the registered adapters, built-in and those of hub.yaml\'s adapters:, each with its source and sink options; --json prints their whole config schemas.',
  options: { ...CONFIG_OPTION, json: { type: 'boolean', description: 'Print every adapter with its full source and sink schemas as JSON.' } },
  async run(values, _args, io) {
    const { registry } = await setup(values.config);
    const list = registry.adapters.map((a) => ({
      name: a.name,
      origin: registry.origin('adapter', a.name),
      description: a.description,
      ...(a.source ? { source: a.source.schema } : {}),
      ...(a.sink ? { sink: a.sink.schema } : {}),
    }));
    if (values.json) {
      io.out(JSON.stringify(list, null, 2));
      return 0;
    }
    for (const a of list) {
      io.out(`${a.name}  (${a.origin})  ${a.description}`);
      for (const side of ['source', 'sink'] as const) {
        const schema = a[side] as { properties?: Record<string, { description?: string }>; required?: string[] } | undefined;
        if (!schema) continue;
        io.out(`  ${side}:`);
        for (const [key, prop] of Object.entries(schema.properties ?? {})) {
          io.out(`    ${key}${schema.required?.includes(key) ? ' (required)' : ''}: ${prop.description ?? ''}`);
        }
      }
    }
    io.out('\nFull schemas: hub adapters --json');
    return 0;
  },
});

export const schemaCommand = command({
  name: 'schema',
  summary: 'Print (or write) the flow JSON Schema assembled from the registered adapters and steps.',
  usage: ['hub schema [--config FILE] [--out FILE]'],
  description: 'Print the flow JSON Schema assembled from the registered adapters and steps (the one schemas/flow.schema.json holds, with your own adapters when hub.yaml names some), or write it to a file.',
  options: { ...CONFIG_OPTION, out: { type: 'string', value: 'FILE', description: 'Write it to this file instead (e.g. schemas/flow.schema.json).' } },
  async run(values, _args, io) {
    const { registry } = await setup(values.config);
    const text = JSON.stringify(buildFlowSchema(registry), null, 2) + '\n';
    if (!values.out) {
      io.out(text.trimEnd());
      return 0;
    }
    try {
      writeFileSync(values.out, text);
    } catch (e) {
      throw new ConfigError('CLI_OUTPUT_FAILED', `cannot write ${values.out}: ${(e as Error).message}`, { cause: e });
    }
    io.out(`wrote ${values.out}`);
    return 0;
  },
});
