/**
 * A fake of the flow runtime for step unit tests: a build context that records reports and compiles message schemas
 * from memory with ajv (2020-12), and a run context whose `send` records calls and answers with chosen replies.
 * The step under test, JSONata, ajv and fast-xml-parser are all real.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { pino, type Logger } from 'pino';
import type { JsonSchema, SchemaError, StepBuildContext, StepContext, StepRegistration, Step } from '../core/contracts.js';
import type { ConfigIssue } from '../core/errors.js';
import { Message, type MessageMeta } from '../core/message.js';

export interface TestBuildContext extends StepBuildContext {
  readonly issues: ConfigIssue[];
}

export interface BuildOptions {
  /** The flow's sinks: name to whether it is request-reply. */
  sinks?: Record<string, { requestReply: boolean }>;
  /** Message schemas by name, as they would be in schemas/NAME.schema.json. */
  schemas?: Record<string, JsonSchema>;
}

export function buildContext(options: BuildOptions = {}): TestBuildContext {
  const issues: ConfigIssue[] = [];
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const schemas = options.schemas ?? {};
  return {
    flow: 'test-flow',
    baseDir: '/flows',
    schemasDir: '/schemas',
    limits: { bodyBytes: 1024 * 1024, maxDepth: 64 },
    logger: pino({ level: 'silent' }),
    sinks: new Map(Object.entries(options.sinks ?? {})),
    issues,
    report: (issue) => issues.push(issue),
    loadSchema(name, path) {
      const schema = schemas[name];
      if (!schema) {
        issues.push({ path, message: `schema "${name}" not found: expected /schemas/${name}.schema.json` });
        return undefined;
      }
      const fn = ajv.compile(schema);
      return (value) => {
        const valid = fn(value) as boolean;
        const errors: SchemaError[] = valid ? [] : (fn.errors ?? []).map((e) => ({ path: e.instancePath || '/', message: e.message ?? e.keyword }));
        return { valid, errors };
      };
    },
  };
}

/** Builds a step and returns it with the issues its config raised. */
export function build<C>(registration: StepRegistration<C>, config: C, options: BuildOptions = {}): { step: Step; issues: ConfigIssue[] } {
  const ctx = buildContext(options);
  const step = registration.create(config, ctx);
  return { step, issues: ctx.issues };
}

export interface Sent {
  sink: string;
  message: Message;
}

export interface TestStepContext extends StepContext {
  readonly sent: Sent[];
  /** Log records at warn level and above, as pino wrote them. */
  readonly logs: Record<string, unknown>[];
}

/** What a fake sink does with a message: answer (request-reply), resolve with nothing (one-way), or throw. */
export type FakeSink = (message: Message) => Message | undefined | Promise<Message | undefined>;

/**
 * `dedupe` defaults to a memory of keys with their expiry, the journal's contract in small; pass a real journal's
 * `dedupe` to test against it.
 */
export function runContext(sinks: Record<string, FakeSink> = {}, dedupe?: StepContext['dedupe']): TestStepContext {
  const seen = new Map<string, number>();
  const sent: Sent[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger: Logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const signal = new AbortController().signal;
  return {
    flow: 'test-flow',
    logger,
    signal,
    get aborted() {
      return signal.aborted;
    },
    sent,
    logs,
    async send(sink, message) {
      sent.push({ sink, message });
      const fake = sinks[sink];
      return fake ? fake(message) : undefined;
    },
    dedupe:
      dedupe ??
      (async (key, ttlMs) => {
        const until = seen.get(key);
        if (until !== undefined && until > Date.now()) return false;
        seen.set(key, Date.now() + ttlMs);
        return true;
      }),
  };
}

const META: MessageMeta = { flow: 'test-flow', source: 'test', receivedAt: '2025-01-01T00:00:00.000Z', attempt: 1 };

/** A JSON message (a parsed value), or raw text with the given content type. */
export function jsonMessage(value: unknown, headers: Record<string, string> = {}): Message {
  return new Message({ value, headers, meta: META });
}

export function textMessage(body: string, contentType: string, headers: Record<string, string> = {}): Message {
  return new Message({ body, headers: { ...headers, 'content-type': contentType }, meta: META });
}
