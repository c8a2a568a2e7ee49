import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import type { AdapterContext, Claim, HubLimits, JsonSchema, Sink, Source, Step, StepBuildContext } from '../core/contracts.js';
import { toMs } from '../core/duration.js';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { compileExpression, type CompiledExpression } from '../kit/expression.js';
import { reservedPathOf } from '../kit/http-route.js';
import type { Registry } from '../core/registry.js';
import { DEFAULT_FLOW_JOURNAL, type FlowJournalOptions, type JournalPolicy } from '../journal/contract.js';
import { hubDeadlineMs, resolveService, stackedWarnings, type ServiceDefinition, type Transport } from './service.js';
import { findLiteralSecrets, substituteEnv } from './env.js';
import { buildFlowSchema } from './flow-schema.js';
import { compileFlowSchema, MessageSchemas } from './schema-validator.js';
import { formatDiagnostics, YamlSource, type Diagnostic } from './yaml-source.js';

export interface RetryPolicy {
  attempts: number;
  backoff: 'fixed' | 'exponential';
  initialMs: number;
  maxMs: number;
}

/** A flow that passed the linter, with its components created (not started). */
export interface FlowDefinition {
  name: string;
  description: string | undefined;
  file: string;
  source: { adapter: string; instance: Source; requestReply: boolean; claims: Claim[]; config: unknown; transport?: Transport };
  sinks: Map<string, { adapter: string; instance: Sink; requestReply: boolean; config: unknown; transport?: Transport }>;
  steps: { label: string; kind: string; run: Step; config?: unknown }[];
  reply: { expression: CompiledExpression | undefined; status: number | undefined };
  concurrency: number;
  queue: number;
  /** The flow's deadline: its `timeout`, or the shorter `service.resilience.timeout` when the hub owns timeouts. */
  timeoutMs: number;
  /** In-process retries of a sink call. */
  retry: RetryPolicy;
  /** Durable retries of the whole flow from the journal (`attempts` further runs), for sources that do not wait for a reply. */
  durable: RetryPolicy;
  /** A sink that also receives dead messages (besides the journal). */
  deadLetterSink: string | undefined;
  journal: FlowJournalOptions;
  /**
   * How the flow is addressed as its own service, and who owns each hop's resilience (see src/config/service.ts).
   * Always set by the loader; a definition made by hand without it has the hub own everything, with no breaker.
   */
  service?: ServiceDefinition;
}

export interface LoadOptions {
  registry: Registry;
  schemas: MessageSchemas;
  logger: Logger;
  limits: HubLimits;
  /** What every HTTP source gets (hub.yaml's `http_sources`), passed on to adapters as AdapterContext.http. */
  httpSources?: Readonly<Record<string, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** `validate`: unset environment variables are warnings. `run`: they are errors. */
  mode: 'validate' | 'run';
}

export interface LoadResult {
  flows: FlowDefinition[];
  diagnostics: Diagnostic[];
  files: string[];
}

export function hasErrors(result: { diagnostics: Diagnostic[] }): boolean {
  return result.diagnostics.some((d) => d.severity === 'error');
}

/** Kept here too: the callers that load flows print their diagnostics. */
export { formatDiagnostics };

/** Flow files under the given paths: files as given, folders searched (not recursively) for *.yaml and *.yml, but not the test files beside the flows (*.test.yaml, read by `hub test`). */
export function findFlowFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) throw new ConfigError('FLOWS_NOT_FOUND', `no such file or folder: ${p}; name flow files or folders that exist`);
    if (st.isDirectory()) {
      for (const f of readdirSync(abs).sort()) if (/\.ya?ml$/.test(f) && !/\.test\.ya?ml$/.test(f)) out.push(join(abs, f));
    } else out.push(abs);
  }
  return out;
}

const schemaCache = new WeakMap<Registry, { schema: JsonSchema; validate: ValidateFunction }>();

function flowValidator(registry: Registry): ValidateFunction {
  let entry = schemaCache.get(registry);
  if (!entry) {
    const schema = buildFlowSchema(registry);
    entry = { schema, validate: compileFlowSchema(schema) };
    schemaCache.set(registry, entry);
  }
  return entry.validate;
}

/**
 * Reads, lints and builds flows. Every problem in every file is reported in one pass, each at its line and column;
 * a flow with any error is not returned, and callers start nothing when any error exists.
 */
export function loadFlows(paths: string[], options: LoadOptions): LoadResult {
  const files = findFlowFiles(paths);
  const diagnostics: Diagnostic[] = [];
  const flows: FlowDefinition[] = [];
  const sources: YamlSource[] = [];
  const names = new Map<string, string>();
  const claims = new Map<string, { flow: string; where: string }>();
  const made: { flow: FlowDefinition; src: YamlSource }[] = [];

  for (const file of files) {
    const display = relativeName(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      diagnostics.push({ file: display, line: 1, col: 1, message: `cannot read: ${(err as Error).message}`, severity: 'error' });
      continue;
    }
    const src = new YamlSource(display, text);
    sources.push(src);
    const flow = src.ok ? lintAndBuild(src, dirname(file), options) : undefined;
    if (!flow) continue;
    const where = (path: (string | number)[]): string => {
      const { line, col } = src.position(path);
      return `${display}:${line}:${col}`;
    };
    const prior = names.get(flow.name);
    if (prior) src.report(['name'], `flow name "${flow.name}" is already used by ${prior}`);
    else names.set(flow.name, where(['name']));
    for (const claim of flow.source.claims) {
      const path = ['source', flow.source.adapter, ...claim.path];
      const reserved = reservedPathOf(claim.key);
      if (reserved) {
        src.report(path, `${claim.key}: paths under ${reserved} belong to the hub itself; choose another path`);
        continue;
      }
      const holder = claims.get(claim.key);
      if (holder) src.report(path, `${claim.key} is already claimed by flow "${holder.flow}" (${holder.where})`);
      else claims.set(claim.key, { flow: flow.name, where: where(path) });
    }
    made.push({ flow, src });
  }

  for (const { flow, src } of made) {
    for (const claim of flow.source.claims) {
      for (const other of claim.conflicts ?? []) {
        const holder = claims.get(other);
        if (holder && holder.flow !== flow.name) src.report(['source', flow.source.adapter, ...claim.path], `${claim.key} clashes with ${other} of flow "${holder.flow}" (${holder.where})`);
      }
    }
  }
  for (const src of sources) diagnostics.push(...src.diagnostics);
  for (const { flow, src } of made) if (src.ok) flows.push(flow);
  return { flows, diagnostics, files };
}

function relativeName(file: string): string {
  const rel = file.startsWith(process.cwd() + '/') ? file.slice(process.cwd().length + 1) : file;
  return rel;
}

interface RawFlow {
  name: string;
  description?: string;
  source: Record<string, unknown>;
  steps?: Record<string, unknown>[];
  sinks?: Record<string, Record<string, unknown>>;
  reply?: { jsonata?: string; status?: number };
  concurrency?: number;
  queue?: number;
  timeout?: number | string;
  errors?: {
    retry?: { attempts?: number; backoff?: 'fixed' | 'exponential'; initial?: number | string; max?: number | string };
    durable?: { attempts?: number; initial?: number | string; max?: number | string };
    dead_letter?: { sink?: string };
  };
  journal?: JournalPolicy | { record?: JournalPolicy; body_bytes?: number };
  service?: unknown;
}

function lintAndBuild(src: YamlSource, baseDir: string, options: LoadOptions): FlowDefinition | undefined {
  const raw = src.value;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    src.report([], 'a flow file is a YAML mapping with at least `name` and `source`');
    return undefined;
  }
  // Secrets are checked as written; everything else after environment references are filled in, so that
  // `url: ${env:ERP_URL}` is checked as the URL it becomes. An unset variable is not checked further.
  const errorPaths: string[] = [];
  for (const s of findLiteralSecrets(raw)) {
    src.report(s.path, s.message);
    errorPaths.push(s.path.join('/'));
  }
  const envResult = substituteEnv(raw as RawFlow, options.env ?? process.env);
  for (const p of envResult.problems) src.report(p.path, p.message, { severity: options.mode === 'run' ? 'error' : 'warning' });
  const unset = envResult.problems.map((p) => p.path.join('/'));
  const flow = envResult.value;
  const validate = flowValidator(options.registry);
  if (!validate(flow)) {
    for (const d of describeSchemaErrors(validate.errors ?? [], options.registry)) {
      const at = d.path.join('/');
      if (unset.some((u) => at === u || at.startsWith(u + '/'))) continue;
      src.report(d.path, d.message, { at: d.at });
      errorPaths.push(at);
    }
  }
  errorPaths.push(...unset);
  const broken = (path: (string | number)[]): boolean => {
    const p = path.join('/');
    return errorPaths.some((e) => e === p || e.startsWith(p + '/') || (p.startsWith(e + '/') && e.split('/').length > 1));
  };

  const name = typeof flow.name === 'string' ? flow.name : basename(src.file, extname(src.file));

  const adapterCtx = (base: (string | number)[]): AdapterContext => ({
    flow: name,
    baseDir,
    schemasDir: options.schemas.dir,
    logger: options.logger.child({ flow: name }),
    limits: options.limits,
    ...(options.httpSources ? { http: options.httpSources } : {}),
    report: (issue: ConfigIssue) => src.report([...base, ...issue.path], issue.message, reportOptions(issue)),
  });

  // Sinks first: steps need to know their names and kinds.
  const sinks: FlowDefinition['sinks'] = new Map();
  const sinkKinds = new Map<string, { requestReply: boolean }>();
  for (const [sinkName, entry] of Object.entries(isObject(flow.sinks) ? flow.sinks : {})) {
    const [adapterName, config] = Object.entries(isObject(entry) ? entry : {})[0] ?? [];
    const factory = adapterName ? options.registry.adapter(adapterName)?.sink : undefined;
    if (!adapterName || !factory) {
      if (adapterName && options.registry.adapter(adapterName) && !broken(['sinks', sinkName])) src.report(['sinks', sinkName, adapterName], `adapter "${adapterName}" has no sink`, { at: 'key' });
      sinkKinds.set(sinkName, { requestReply: false });
      continue;
    }
    const requestReply = factory.requestReply ?? false;
    sinkKinds.set(sinkName, { requestReply });
    if (broken(['sinks', sinkName])) continue;
    try {
      sinks.set(sinkName, { adapter: adapterName, instance: factory.create(config, adapterCtx(['sinks', sinkName, adapterName])), requestReply, config, transport: options.registry.adapter(adapterName)?.transport ?? 'tcp' });
    } catch (err) {
      src.report(['sinks', sinkName, adapterName], `sink could not be created: ${(err as Error).message}`);
    }
  }

  // The source.
  let source: FlowDefinition['source'] | undefined;
  const [sourceAdapter, sourceConfig] = Object.entries(isObject(flow.source) ? flow.source : {})[0] ?? [];
  const sourceFactory = sourceAdapter ? options.registry.adapter(sourceAdapter)?.source : undefined;
  if (sourceAdapter && !sourceFactory && options.registry.adapter(sourceAdapter) && !broken(['source'])) {
    src.report(['source', sourceAdapter], `adapter "${sourceAdapter}" has no source`, { at: 'key' });
  }
  if (sourceAdapter && sourceFactory && !broken(['source', sourceAdapter])) {
    try {
      const instance = sourceFactory.create(sourceConfig, adapterCtx(['source', sourceAdapter]));
      source = { adapter: sourceAdapter, instance, requestReply: sourceFactory.requestReply ?? false, claims: sourceFactory.claims?.(sourceConfig) ?? [], config: sourceConfig, transport: options.registry.adapter(sourceAdapter)?.transport ?? 'tcp' };
    } catch (err) {
      src.report(['source', sourceAdapter], `source could not be created: ${(err as Error).message}`);
    }
  }

  // Steps.
  const steps: FlowDefinition['steps'] = [];
  (Array.isArray(flow.steps) ? flow.steps : []).forEach((entry, i) => {
    const [kind, config] = Object.entries(isObject(entry) ? entry : {})[0] ?? [];
    const reg = kind ? options.registry.step(kind) : undefined;
    if (!kind || !reg || broken(['steps', i])) return;
    const base = ['steps', i, kind];
    const ctx: StepBuildContext = {
      flow: name,
      baseDir,
      schemasDir: options.schemas.dir,
      limits: options.limits,
      logger: options.logger.child({ flow: name, step: `${i}:${kind}` }),
      sinks: sinkKinds,
      report: (issue) => src.report([...base, ...issue.path], issue.message, reportOptions(issue)),
      loadSchema: (schemaName, path) => {
        try {
          return options.schemas.get(schemaName);
        } catch (err) {
          src.report([...base, ...path], (err as Error).message);
          return undefined;
        }
      },
    };
    try {
      steps.push({ label: `${i}:${kind}`, kind, run: reg.create(config, ctx), config });
    } catch (err) {
      src.report(base, `step could not be created: ${(err as Error).message}`);
    }
  });

  // Reply.
  let replyExpression: CompiledExpression | undefined;
  if (flow.reply && source && !source.requestReply) src.report(['reply'], `the ${source.adapter} source does not wait for a reply, so a reply block has no effect`, { at: 'key' });
  if (typeof flow.reply?.jsonata === 'string') {
    replyExpression = compileExpression(flow.reply.jsonata, ['reply', 'jsonata'], (issue) => src.report(issue.path, issue.message, reportOptions(issue)));
  }

  // Error policy: the dead-letter sink must exist; parking needs a source that does not wait for a reply.
  const deadLetterSink = flow.errors?.dead_letter?.sink;
  if (typeof deadLetterSink === 'string' && !broken(['errors', 'dead_letter']) && !sinks.has(deadLetterSink) && !sinkKinds.has(deadLetterSink)) {
    src.report(['errors', 'dead_letter', 'sink'], `no sink named "${deadLetterSink}" (sinks: ${[...sinkKinds.keys()].join(', ') || 'none'})`);
  }
  if (source?.requestReply && (flow.errors?.durable || flow.errors?.dead_letter)) {
    const key = flow.errors.durable ? 'durable' : 'dead_letter';
    src.report(['errors', key], `the ${source.adapter} source waits for a reply, so its caller gets the error and owns the retry: \`${key}\` has no effect (failures are still journalled)`, { at: 'key', severity: 'warning' });
  }

  // A flow with errors still returns its definition, so that its claims are checked against the other flows;
  // loadFlows never hands it out.
  if (!source) return undefined;
  const retry = flow.errors?.retry ?? {};
  const durable = flow.errors?.durable ?? {};
  const journal = typeof flow.journal === 'string' ? { record: flow.journal } : (flow.journal ?? {});
  // A value that failed the schema was reported above; fall back to the default so the other checks go on.
  const ms = (path: (string | number)[], value: number | string | undefined, fallback: string): number => (value === undefined || broken(path) ? toMs(fallback) : toMs(value));
  const retryPolicy: RetryPolicy = {
    attempts: retry.attempts ?? 3,
    backoff: retry.backoff ?? 'exponential',
    initialMs: ms(['errors', 'retry', 'initial'], retry.initial, '200ms'),
    maxMs: ms(['errors', 'retry', 'max'], retry.max, '5s'),
  };
  const timeoutMs = ms(['timeout'], flow.timeout, '30s');
  const concurrency = flow.concurrency ?? 32;
  const queue = flow.queue ?? 1000;
  const durableAttempts = durable.attempts ?? 5;
  const service = resolveService(
    // Checked even when part of it failed the schema, so that every contradiction is found in one pass.
    isObject(flow.service) ? flow.service : undefined,
    {
      flow: name,
      flowTimeoutMs: timeoutMs,
      requestReply: source.requestReply,
      source: { adapter: source.adapter, transport: source.transport ?? 'tcp' },
      sinks: [...sinks].map(([sinkName, k]) => ({ name: sinkName, adapter: k.adapter, transport: k.transport ?? 'tcp', url: typeof (k.config as { url?: unknown })?.url === 'string' ? (k.config as { url: string }).url : undefined, timeoutMs: sinkTimeoutMs(k.config) })),
      retry: retryPolicy,
      durableAttempts,
      concurrency,
      queue,
    },
    (issue) => src.report(issue.path, issue.message, reportOptions(issue)),
  );
  for (const w of stackedWarnings(service)) src.report(['sinks', w.hop.name], w.message, { at: 'key', severity: 'warning' });
  return {
    name,
    description: flow.description,
    file: src.file,
    source,
    sinks,
    steps,
    reply: { expression: replyExpression, status: flow.reply?.status },
    concurrency,
    queue,
    timeoutMs: hubDeadlineMs(service, timeoutMs),
    retry: retryPolicy,
    durable: {
      attempts: durableAttempts,
      backoff: 'exponential',
      initialMs: ms(['errors', 'durable', 'initial'], durable.initial, '5s'),
      maxMs: ms(['errors', 'durable', 'max'], durable.max, '10m'),
    },
    deadLetterSink: typeof deadLetterSink === 'string' && sinks.has(deadLetterSink) ? deadLetterSink : undefined,
    journal: { record: journal.record ?? DEFAULT_FLOW_JOURNAL.record, maxBodyBytes: journal.body_bytes ?? DEFAULT_FLOW_JOURNAL.maxBodyBytes },
    service,
  };
}

/** A sink's own per-try timeout, when its config gives one (`timeout`); undefined: the adapter's default. */
function sinkTimeoutMs(config: unknown): number | undefined {
  const t = (config as { timeout?: unknown } | undefined)?.timeout;
  if (typeof t !== 'number' && typeof t !== 'string') return undefined;
  try {
    return toMs(t);
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function reportOptions(issue: ConfigIssue): { offset?: number; severity?: 'error' | 'warning' } {
  return { ...(issue.offset === undefined ? {} : { offset: issue.offset }), ...(issue.severity ? { severity: issue.severity } : {}) };
}

interface Described {
  path: (string | number)[];
  message: string;
  at?: 'key' | 'value';
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Turns ajv's errors into one clear message per problem, naming known alternatives for unknown adapters, steps and keys. */
export function describeSchemaErrors(errors: ErrorObject[], registry: Registry): Described[] {
  const out: Described[] = [];
  const alternatives = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.schemaPath);
  const seen = new Set<string>();
  for (const e of errors) {
    if (alternatives.some((p) => e.schemaPath.startsWith(p + '/'))) continue;
    const path = pointerToPath(e.instancePath);
    const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
    let d: Described;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        const kind = parent['x-kind'] as string | undefined;
        const known = Object.keys((parent.properties as Record<string, unknown>) ?? {});
        const noun = kind === 'step' ? 'step' : kind ? 'adapter' : 'key';
        const suggestion = closest(key, known);
        const list = kind === 'sink' || kind === 'source' ? registry.adapters.filter((a) => (kind === 'sink' ? a.sink : a.source)).map((a) => a.name) : known;
        d = { path: [...path, key], at: 'key', message: `unknown ${noun} "${key}"${suggestion ? `: did you mean "${suggestion}"?` : ''} (${noun === 'key' ? 'allowed' : 'known'}: ${list.join(', ') || 'none'})` };
        break;
      }
      case 'required':
        d = { path, message: `missing required key "${(e.params as { missingProperty: string }).missingProperty}"` };
        break;
      case 'minProperties':
      case 'maxProperties':
        d = parent['x-kind']
          ? { path, message: parent['x-kind'] === 'step' ? 'a step is a mapping with exactly one key, its kind (e.g. `- transform: {...}`)' : `a ${parent['x-kind']} names exactly one adapter (e.g. \`rest: {...}\`)` }
          : { path, message: e.message ?? e.keyword };
        break;
      case 'oneOf':
      case 'anyOf':
        d = { path, message: `invalid value${typeof parent.description === 'string' ? `; expected: ${parent.description}` : ''}` };
        break;
      case 'enum':
        d = { path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
        break;
      case 'type':
        d = { path, message: `must be ${(e.params as { type: string | string[] }).type}` };
        break;
      case 'pattern':
        d = { path, message: path[0] === 'name' && path.length === 1 ? 'must be kebab-case: lower-case letters, digits and single dashes (e.g. orders-api)' : `must match the pattern ${(e.params as { pattern: string }).pattern}` };
        break;
      case 'propertyNames':
        d = { path: [...path, (e.params as { propertyName: string }).propertyName], at: 'key', message: `invalid name "${(e.params as { propertyName: string }).propertyName}": use lower-case letters, digits, "-" and "_"` };
        break;
      default:
        d = { path, message: e.message ?? e.keyword };
    }
    const k = `${d.path.join('/')}|${d.message}`;
    if (e.keyword === 'pattern' && errors.some((x) => x.keyword === 'propertyNames' && x.instancePath === e.instancePath)) continue;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  }
  return out;
}

/** The candidate nearest to `word` (case-insensitive edit distance), if one is near enough to be a likely typo. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
