import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parsePasswordHash } from '../kit/password.js';
import type { HubLimits } from '../core/contracts.js';
import { toMs } from '../core/duration.js';
import { hasUrlPassword } from './env.js';
import { describeSchemaErrors } from './load-flows.js';
import { substituteEnv } from './env.js';
import type { GatewayDefaults } from '../kit/gateway/guard.js';
import type { GatewayConfig } from '../kit/gateway/schema.js';
import { Registry } from '../core/registry.js';
import { PROJECT_ROOT } from './paths.js';
import { compileFlowSchema } from './schema-validator.js';
import { ConfigFileError, YamlSource, type Diagnostic } from './yaml-source.js';
import type { Retention } from '../journal/retention.js';

/** How long settled journal records are kept unless hub.yaml says otherwise. */
const DEFAULT_KEEP = { delivered: '7d', failed: '30d', resolved: '30d', archived: '30d' } as const;


export interface HubConfig {
  /** The file it came from, if any. */
  file: string | undefined;
  host: string;
  port: number;
  /** Where `port` came from: a flow service's own port (flow mode) beats the file's and the default, not a flag's or HUB_PORT. */
  portFrom?: 'flag' | 'env' | 'file' | 'default';
  flowsDir: string;
  schemasDir: string;
  /** The hub's own folder (state_dir, HUB_STATE_DIR; default .hub): the admin token it makes, and the default journal and reports folders. */
  stateDir: string;
  adapters: { spec: string; baseDir: string }[];
  limits: HubLimits;
  /** Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs); none by default. */
  trustProxy?: string[];
  /** What every HTTP source gets (hub.yaml's `http_sources`, in src/kit/gateway's terms: GatewayDefaults). */
  httpSources?: GatewayDefaults;
  logLevel: string;
  shutdownGraceMs: number;
  journal: {
    redisUrl: string | undefined;
    prefix: string;
    dir: string;
    /** True when HUB_JOURNAL_DIR named `dir`: it is this process's folder as given, and flow mode adds no `/<flow>`. */
    dirExact?: boolean;
    retryPollMs: number;
    leaseMs: number;
    keep?: Retention;
  };
  /** Where `hub compare` reports are read from, for the admin console (compare.reports); absent in configurations built by hand. */
  compareReportsDir?: string;
  /** Where spans go; loadHubConfig always fills it (optional for configurations built by hand in tests). */
  tracing?: TracingConfig;
  /** The admin API's settings; loadHubConfig always fills it (optional for configurations built by hand in tests). */
  admin?: {
    /** The bearer token (a machine credential with role admin). */
    token: string | undefined;
    /** Users who log in to the admin API and console; hashes checked for form at load. */
    users?: { name: string; role: 'viewer' | 'operator' | 'admin'; passwordHash: string }[];
    session?: { idleMs: number; absoluteMs: number };
  };
}

export interface TracingConfig {
  /**
   * The OTLP/HTTP traces URL (…/v1/traces): OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT
   * plus /v1/traces, else hub.yaml's tracing.endpoint. Undefined: no SDK, no export (OTEL_SDK_DISABLED=true too).
   */
  endpoint: string | undefined;
  /** Share of new traces sampled (0 to 1); a message that arrives with a trace follows its caller's decision. */
  sampleRatio: number;
}

export interface HubConfigOverrides {
  config?: string;
  host?: string;
  port?: number;
  flows?: string;
  logLevel?: string;
}

/** hub.yaml (or what overrides it) has problems, each at its line and column; or the file named is not there. */
export class HubConfigError extends ConfigFileError {
  override readonly name = 'HubConfigError';
  constructor(diagnostics: Diagnostic[], code: 'HUB_CONFIG_INVALID' | 'HUB_CONFIG_NOT_FOUND' = 'HUB_CONFIG_INVALID') {
    super(code, diagnostics);
  }
}

interface RawHubConfig {
  host?: string;
  port?: number;
  flows?: string;
  schemas?: string;
  state_dir?: string;
  adapters?: string[];
  limits?: { body_bytes?: number; max_depth?: number };
  trust_proxy?: string[];
  http_sources?: { auth?: GatewayConfig['auth']; rate_limit?: GatewayConfig['rate_limit'] };
  log?: { level?: string };
  shutdown?: { grace?: number | string };
  journal?: { redis_url?: string; prefix?: string; dir?: string; retry_poll?: number | string; lease?: number | string; keep?: Partial<Record<keyof Retention, number | string>> };
  compare?: { reports?: string };
  tracing?: { endpoint?: string; sample_ratio?: number };
  admin?: { token?: string; users?: { name: string; role: 'viewer' | 'operator' | 'admin'; password_hash: string }[]; session?: { idle?: number | string; absolute?: number | string } };
}

/**
 * Reads the hub configuration: `--config FILE`, else $HUB_CONFIG, else ./hub.yaml if it exists, else defaults.
 * Flags beat environment variables, which beat the file.
 */
export function loadHubConfig(overrides: HubConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): HubConfig {
  const explicit = overrides.config ?? env.HUB_CONFIG;
  const file = explicit ? resolve(cwd, explicit) : existsSync(resolve(cwd, 'hub.yaml')) ? resolve(cwd, 'hub.yaml') : undefined;
  let raw: RawHubConfig = {};
  if (file) {
    if (!existsSync(file)) {
      const namedBy = overrides.config !== undefined ? '--config' : 'HUB_CONFIG';
      throw new HubConfigError([{ file, line: 1, col: 1, message: `configuration file not found (named by ${namedBy}): name an existing file, or leave out ${namedBy} to use ./hub.yaml or the defaults`, severity: 'error' }], 'HUB_CONFIG_NOT_FOUND');
    }
    const src = new YamlSource(file, readFileSync(file, 'utf8'));
    if (src.ok && src.value !== undefined && src.value !== null) {
      const validate = compileFlowSchema(JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'schemas', 'hub.schema.json'), 'utf8')));
      if (!validate(src.value)) for (const d of describeSchemaErrors(validate.errors ?? [], new Registry())) src.report(d.path, d.message, { at: d.at });
      raw = src.value as RawHubConfig;
      checkUsers(raw, src);
      checkUrlPasswords(raw, src);
    }
    if (!src.ok) throw new HubConfigError(src.diagnostics);
  }
  return resolveHubConfig(raw, file, overrides, env, cwd);
}

function resolveHubConfig(raw: RawHubConfig, file: string | undefined, overrides: HubConfigOverrides, env: NodeJS.ProcessEnv, cwd: string): HubConfig {
  const base = file ? dirname(file) : cwd;
  const port = overrides.port ?? (env.HUB_PORT ? Number(env.HUB_PORT) : undefined) ?? raw.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    const [from, given] = overrides.port !== undefined ? ['--port', overrides.port] : env.HUB_PORT ? ['HUB_PORT', env.HUB_PORT] : ['port', raw.port];
    throw new HubConfigError([{ file: file ?? '<flags>', line: 1, col: 1, message: `${from} must be an integer from 0 to 65535 (got "${given}")`, severity: 'error' }]);
  }
  const stateDir = stateDirOf(raw, base, env, cwd);
  return {
    file,
    host: overrides.host ?? env.HUB_HOST ?? raw.host ?? '127.0.0.1',
    port,
    portFrom: overrides.port !== undefined ? 'flag' : env.HUB_PORT ? 'env' : raw.port !== undefined ? 'file' : 'default',
    flowsDir: overrides.flows ? resolve(cwd, overrides.flows) : env.HUB_FLOWS ? resolve(cwd, env.HUB_FLOWS) : resolve(base, raw.flows ?? 'flows'),
    schemasDir: env.HUB_SCHEMAS ? resolve(cwd, env.HUB_SCHEMAS) : raw.schemas ? resolve(base, raw.schemas) : defaultSchemasDir(base),
    stateDir,
    adapters: (raw.adapters ?? []).map((spec) => ({ spec, baseDir: base })),
    limits: { bodyBytes: raw.limits?.body_bytes ?? 1024 * 1024, maxDepth: raw.limits?.max_depth ?? 64 },
    ...(raw.trust_proxy?.length ? { trustProxy: raw.trust_proxy } : {}),
    httpSources: httpSourcesOf(raw, base, env),
    logLevel: overrides.logLevel ?? env.HUB_LOG_LEVEL ?? raw.log?.level ?? 'info',
    shutdownGraceMs: toMs(raw.shutdown?.grace ?? '10s'),
    journal: {
      redisUrl: env.REDIS_URL || raw.journal?.redis_url || undefined,
      prefix: env.HUB_JOURNAL_PREFIX || raw.journal?.prefix || 'hub:journal',
      dir: env.HUB_JOURNAL_DIR ? resolve(cwd, env.HUB_JOURNAL_DIR) : raw.journal?.dir ? resolve(base, raw.journal.dir) : join(stateDir, 'journal'),
      dirExact: Boolean(env.HUB_JOURNAL_DIR),
      retryPollMs: toMs(raw.journal?.retry_poll ?? '1s'),
      leaseMs: toMs(raw.journal?.lease ?? '30s'),
      keep: Object.fromEntries(Object.entries({ ...DEFAULT_KEEP, ...raw.journal?.keep }).map(([status, d]) => [status, toMs(d)])),
    },
    compareReportsDir: env.HUB_COMPARE_REPORTS ? resolve(cwd, env.HUB_COMPARE_REPORTS) : raw.compare?.reports ? resolve(base, raw.compare.reports) : join(stateDir, 'compare'),
    tracing: resolveTracing(raw.tracing, env),
    admin: {
      token: env.HUB_ADMIN_TOKEN || raw.admin?.token || undefined,
      users: (raw.admin?.users ?? []).map((u) => ({ name: u.name, role: u.role, passwordHash: u.password_hash })),
      session: { idleMs: toMs(raw.admin?.session?.idle ?? '30m'), absoluteMs: toMs(raw.admin?.session?.absolute ?? '8h') },
    },
  };
}

/**
 * A configuration with every default, changed where `change` says (the journal's settings merged one by one): for
 * a hub built in code (tests, benchmarks, an embedding application) rather than from hub.yaml and the environment.
 */
export function defaultHubConfig(change: Omit<Partial<HubConfig>, 'journal'> & { journal?: Partial<HubConfig['journal']> } = {}, cwd = process.cwd()): HubConfig {
  const base = resolveHubConfig({}, undefined, {}, {}, cwd);
  const { journal, ...rest } = change;
  return { ...base, ...rest, journal: { ...base.journal, ...journal } };
}

/** The standard OpenTelemetry variables beat the file, as HUB_* variables do. */
function resolveTracing(raw: RawHubConfig['tracing'], env: NodeJS.ProcessEnv): TracingConfig {
  const ratio = env.OTEL_TRACES_SAMPLER_ARG !== undefined && env.OTEL_TRACES_SAMPLER_ARG !== '' ? Number(env.OTEL_TRACES_SAMPLER_ARG) : undefined;
  const sampleRatio = ratio !== undefined && ratio >= 0 && ratio <= 1 ? ratio : (raw?.sample_ratio ?? 1);
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return { endpoint: undefined, sampleRatio };
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined;
  return { endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || base || raw?.endpoint || undefined, sampleRatio };
}

/**
 * The defaults of HTTP sources: hub.yaml's blocks (environment references resolved, as in flow files), and where
 * rate-limit counters are shared (the journal's Redis; a key prefix of their own).
 */
function httpSourcesOf(raw: RawHubConfig, base: string, env: NodeJS.ProcessEnv): GatewayDefaults {
  const blocks = raw.http_sources ? substituteEnv(raw.http_sources, env).value : {};
  const redisUrl = env.REDIS_URL || raw.journal?.redis_url || undefined;
  const prefix = env.HUB_JOURNAL_PREFIX || raw.journal?.prefix || 'hub:journal';
  return { ...blocks, baseDir: base, ...(redisUrl ? { redisUrl } : {}), keyPrefix: `${prefix.replace(/:journal$/, '')}:ratelimit:` };
}

/** hub.yaml takes no environment references: a URL with a password (redis_url, tracing.endpoint) belongs in the environment. */
function checkUrlPasswords(raw: RawHubConfig, src: YamlSource): void {
  const urls: [(string | number)[], unknown, string][] = [
    [['journal', 'redis_url'], raw.journal?.redis_url, 'REDIS_URL'],
    [['tracing', 'endpoint'], raw.tracing?.endpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
  ];
  for (const [path, value, variable] of urls) {
    if (typeof value === 'string' && hasUrlPassword(value)) src.report(path, `${path.join('.')} holds a password inside its URL: leave it out of hub.yaml and set ${variable} in the environment`);
  }
}

/** What the schema cannot say about admin.users: each hash well-formed and of a sane cost, each name once. */
function checkUsers(raw: RawHubConfig, src: YamlSource): void {
  const users = raw.admin?.users;
  if (!Array.isArray(users)) return;
  const seen = new Set<string>();
  users.forEach((u, i) => {
    if (typeof u?.password_hash === 'string') {
      try {
        parsePasswordHash(u.password_hash);
      } catch (err) {
        src.report(['admin', 'users', i, 'password_hash'], `${(err as Error).message}; make one with: hub admin hash-password`);
      }
    }
    if (typeof u?.name === 'string') {
      if (seen.has(u.name)) src.report(['admin', 'users', i, 'name'], `user "${u.name}" is configured twice`);
      seen.add(u.name);
    }
  });
}

/**
 * The hub's own folder: HUB_STATE_DIR (from the working directory), else hub.yaml's state_dir (from the file), else
 * .hub beside the file (or in the working directory). The CLI reads the admin token from the same place, so a
 * command run where the hub runs, by its user, finds it.
 */
export function stateDirOf(raw: { state_dir?: string }, base: string, env: NodeJS.ProcessEnv, cwd: string): string {
  return env.HUB_STATE_DIR ? resolve(cwd, env.HUB_STATE_DIR) : resolve(base, raw.state_dir ?? '.hub');
}

/** ./schemas when it exists, else the project's own (so `hub run --flows elsewhere` still finds the examples' schemas). */
function defaultSchemasDir(base: string): string {
  const local = resolve(base, 'schemas');
  return existsSync(local) ? local : resolve(PROJECT_ROOT, 'schemas');
}
