/** `hub mesh lint` and `hub mesh render`: who owns resilience on each hop, and the Kubernetes and Istio objects. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { formatDiagnostics, hasErrors, loadFlows, type LoadResult } from '../config/load-flows.js';
import { MessageSchemas } from '../config/schema-validator.js';
import { ConfigError } from '../core/errors.js';
import type { Registry } from '../core/registry.js';
import { formatOwnership, ownershipOf } from '../mesh/lint.js';
import { renderManifests } from '../mesh/render.js';
import type { GatewayDefaults } from '../kit/gateway/guard.js';
import { command, group, UsageError, type Print } from './args.js';
import { CONFIG_OPTION, setup } from './setup.js';

async function load(paths: string[], configPath: string | undefined, err: Print): Promise<{ result: LoadResult; registry: Registry; httpSources: GatewayDefaults | undefined } | undefined> {
  const { config, registry } = await setup(configPath);
  const result = loadFlows(paths.length ? paths : [config.flowsDir], { registry, schemas: new MessageSchemas(config.schemasDir), logger: pino({ level: 'silent' }), limits: config.limits, ...(config.httpSources ? { httpSources: config.httpSources as Record<string, unknown> } : {}), mode: 'validate' });
  if (result.diagnostics.length) err(formatDiagnostics(result.diagnostics));
  if (hasErrors(result)) {
    err(`${result.diagnostics.filter((d) => d.severity === 'error').length} error(s) in ${result.files.length} file(s): nothing done`);
    return undefined;
  }
  const built = new Set(result.flows.map((f) => resolve(f.file)));
  for (const file of result.files) if (!built.has(resolve(file))) err(`note: ${file} is left out: its flow could not be built (see the warnings above)`);
  return { result, registry, httpSources: config.httpSources };
}

const lint = command({
  name: 'mesh lint',
  summary: 'Per flow and hop: who owns retries, timeouts and circuit breaking (hub, mesh, both, none), and who checks callers and limits their rate.',
  usage: ['hub mesh lint [--config FILE] [--json] [PATH...]'],
  description:
    'Per flow (default: those in the flows folder), who owns retries, timeouts and circuit breaking on each hop (hub, mesh, both: stacked, or none), with the numbers in force; and for an HTTP source, who authenticates its callers and counts their rate (docs/gateway.md). Exit 1 when the flows have errors.',
  options: { ...CONFIG_OPTION, json: { type: 'boolean', description: 'Print the table as JSON.' } },
  args: [{ name: 'PATH', variadic: true, description: 'Flow files or folders (default: the flows folder).' }],
  async run(values, paths, io) {
    const loaded = await load(paths, values.config, io.err);
    if (!loaded) return 1;
    const table = loaded.result.flows.map((f) => ownershipOf(f, loaded.httpSources)).filter((o) => o !== undefined);
    if (values.json) io.out(JSON.stringify(table, null, 2));
    else io.out(table.map(formatOwnership).join('\n\n'));
    return 0;
  },
});

const render = command({
  name: 'mesh render',
  summary: 'Write the Kubernetes and Istio objects for the flows, mesh style or hub style.',
  usage: ['hub mesh render [--style hub|mesh] --out DIR [--flows DIR]... [--image IMAGE] [--namespace NS] [--flows-in-image DIR] [--config FILE]'],
  description:
    'Write the Kubernetes and Istio objects: mesh style a Deployment, Service, VirtualService and DestinationRule per flow; hub style one set for the hub; egress rules for HTTP peers; PeerAuthentication STRICT; a RequestAuthentication and AuthorizationPolicy where a flow hands JWT checks to the mesh (auth.jwt.owner: mesh). Exit 1 when the flows have errors.',
  options: {
    ...CONFIG_OPTION,
    style: { type: 'string', value: 'STYLE', choices: ['hub', 'mesh'], default: 'mesh', description: 'One service per flow (mesh) or one hub for every flow (hub).' },
    out: { type: 'string', value: 'DIR', required: true, description: 'The folder to write the YAML files to.' },
    flows: { type: 'string', value: 'DIR', multiple: true, description: 'Flow files or folders (default: the flows folder).' },
    image: { type: 'string', value: 'IMAGE', default: 'integration-hub:latest', description: 'The container image of the hub.' },
    namespace: { type: 'string', value: 'NS', description: 'The Kubernetes namespace of the objects (a DNS label).' },
    'flows-in-image': { type: 'string', value: 'DIR', description: 'The flows folder as seen inside the image, for the containers\' hub run --flows (default: /app/ and the flows\' folder relative to the working directory).' },
  },
  async run(values, _args, io) {
    if (values.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.namespace)) {
      throw new UsageError('CLI_BAD_OPTION', `--namespace must be a DNS label (lower-case letters, digits, "-"; got "${values.namespace}")`);
    }
    const loaded = await load(values.flows ?? [], values.config, io.err);
    if (!loaded) return 1;
    const { files, warnings } = renderManifests(loaded.result.flows, {
      style: values.style,
      image: values.image,
      namespace: values.namespace,
      registry: loaded.registry,
      ...(loaded.httpSources ? { httpSources: loaded.httpSources } : {}),
      ...(values['flows-in-image'] ? { flowsInImage: values['flows-in-image'] } : {}),
    });
    for (const w of warnings) io.err(`warning: ${w}`);
    try {
      mkdirSync(values.out, { recursive: true });
      for (const f of files) {
        const text = `# Generated by \`hub mesh render --style ${values.style}\` from the flows' service blocks; render again rather than edit.\n` + f.objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
        writeFileSync(join(values.out, f.name), text);
      }
    } catch (e) {
      throw new ConfigError('CLI_OUTPUT_FAILED', `cannot write to ${values.out}: ${(e as Error).message}`, { cause: e });
    }
    io.out(`wrote ${files.map((f) => `${f.name} (${f.objects.map((o) => o.kind).join(', ')})`).join('; ')} to ${values.out}`);
    return 0;
  },
});

export const meshGroup = group({ name: 'mesh', summary: 'Hub style and mesh style: lint who owns resilience, render the Kubernetes and Istio objects.', commands: [lint, render] });
