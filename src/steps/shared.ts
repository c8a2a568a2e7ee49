/**
 * Helpers the built-in steps share: config checks made at load, JSONata truthiness, sending to a sink and carrying
 * on with its reply, and reading an XML body into a JSON value.
 */
import { checkXml, parseCheckedXml, type XmlLimits, type XmlParseOptions } from '../core/codec.js';
import { fastXmlValue } from '../core/xml-fast.js';
import type { Step, StepBuildContext, StepContext } from '../core/contracts.js';
import { HubError, PermanentError, type ConfigIssue, type ErrorCode } from '../core/errors.js';
import { compileExpression, type CompiledExpression } from '../kit/expression.js';
import type { Message } from '../core/message.js';

export type ConfigPath = (string | number)[];

/** Wraps `ctx.report` to count the errors a step reported, so `create` knows whether the step can run. */
export function issueCounter(ctx: StepBuildContext): { report: (issue: ConfigIssue) => void; readonly errors: number } {
  let errors = 0;
  return {
    report(issue) {
      if (issue.severity !== 'warning') errors++;
      ctx.report(issue);
    },
    get errors() {
      return errors;
    },
  };
}

/**
 * What `create` returns when the config has problems: the flow does not start then, so this never runs; if it ever
 * does, it fails loudly rather than passing messages through unmediated.
 */
export function unusableStep(kind: string): Step {
  return () => {
    throw new PermanentError('INTERNAL', `the ${kind} step has configuration problems and cannot run (see \`hub validate\`)`);
  };
}

/**
 * Compiles the JSONata expression at `path`, reporting a value that is not a string (or is missing when required)
 * as well as syntax errors (with their offset).
 */
export function expressionAt(
  source: unknown,
  path: ConfigPath,
  report: (issue: ConfigIssue) => void,
  options: { required?: boolean; failCode?: ErrorCode } = {},
): CompiledExpression | undefined {
  if (source === undefined || source === null) {
    if (options.required) report({ path, message: 'a JSONata expression is required here' });
    return undefined;
  }
  if (typeof source !== 'string' || source.trim() === '') {
    report({ path, message: `must be a JSONata expression (a non-empty string), got ${describe(source)}` });
    return undefined;
  }
  return compileExpression(source, path, report, options.failCode);
}

/**
 * Checks that `name` is one of the flow's sinks (and a request-reply one when `requestReply` is asked for),
 * reporting at `path` otherwise. Returns the name when it is usable.
 */
export function sinkAt(name: unknown, path: ConfigPath, ctx: StepBuildContext, report: (issue: ConfigIssue) => void, requestReply = false): string | undefined {
  if (typeof name !== 'string' || name === '') {
    report({ path, message: `must be the name of one of the flow's sinks, got ${describe(name)}` });
    return undefined;
  }
  const sink = ctx.sinks.get(name);
  if (!sink) {
    const known = [...ctx.sinks.keys()];
    report({ path, message: `unknown sink "${name}": ${known.length ? `the flow's sinks are ${known.map((k) => `"${k}"`).join(', ')}` : 'the flow declares no sinks'}; declare it under \`sinks:\`` });
    return undefined;
  }
  if (requestReply && !sink.requestReply) {
    report({ path, message: `sink "${name}" is one-way, but this step needs a reply: use a request-reply sink (rest, soap)` });
    return undefined;
  }
  return name;
}

/** The config as an object (the flow schema has checked its keys); anything else is reported and read as `{}`. */
export function objectConfig(config: unknown, report: (issue: ConfigIssue) => void): Record<string, unknown> {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    report({ path: [], message: `must be an object, got ${describe(config)}` });
    return {};
  }
  return config as Record<string, unknown>;
}

/** JSONata's own truthiness (`$boolean`), so `when: items` means what it means in any other JSONata expression. */
export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(isTruthy);
  switch (typeof value) {
    case 'string':
      return value.length > 0;
    case 'number':
      return value !== 0 && !Number.isNaN(value);
    case 'boolean':
      return value;
    case 'object':
      return value !== null && Object.keys(value).length > 0;
    default:
      return false;
  }
}

/**
 * Sends `message` to `sink` and returns what goes on down the flow: the sink's reply when it has one (keeping the
 * original id and the hub's meta, so the message stays traceable), else the original; either way with
 * `meta.route` set to the sink. Not an async function: it is on every message's way, and a suspended async
 * function holds several times the memory of a pending `then`.
 */
export function sendAndContinue(message: Message, sink: string, run: StepContext): Promise<Message> {
  return run.send(sink, message).then((reply) => continuing(message, sink, reply));
}

/** What goes on down the flow after `message` was sent to `sink` and answered `reply` (see sendAndContinue). */
export function continuing(message: Message, sink: string, reply: Message | undefined): Message {
  if (!reply) return message.with({ meta: { route: sink } });
  return reply.with({ id: message.id, meta: { ...message.meta, route: sink } });
}

/** Parses an XML body into a JSON value, without the `?xml` declaration node. */
export function xmlToValue(body: Buffer | string, options: XmlParseOptions, limits: Partial<XmlLimits> = {}): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  checkXml(text, limits);
  // Elements and text only (a SOAP payload, most business documents): the same value in one pass (core/xml-fast.ts).
  const fast = fastXmlValue(text, options);
  if (fast !== undefined) return fast;
  const tree = parseCheckedXml(text, limits, options);
  if (tree && typeof tree === 'object' && !Array.isArray(tree) && '?xml' in tree) {
    const { '?xml': _declaration, ...rest } = tree as Record<string, unknown>;
    return rest;
  }
  return tree;
}

/** "an array of 3", "a string", ... for error messages about a value of the wrong shape. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value === 'number' ? 'the number' : `a ${typeof value}`} ${JSON.stringify(value).slice(0, 40)}`;
}

/** Keys that must never become properties of an object built from config or messages. */
export { FORBIDDEN_KEYS } from '../core/codec.js';

/** The error for an expression that yielded no value where the step needs one (JSONata yields nothing when a path matches nothing). */
export function producedNothing(expr: CompiledExpression, hint: string): PermanentError {
  const source = expr.source.length > 80 ? `${expr.source.slice(0, 77)}...` : expr.source;
  return new PermanentError('TRANSFORM_FAILED', `JSONata \`${source}\` produced nothing for this message (a path that matched nothing?); ${hint}`, {
    details: { expression: expr.source },
  });
}

/** The schema of a `when` condition (route, filter), with examples that fit the step. */
export function conditionSchema(examples: string[]): Record<string, unknown> {
  return {
    type: 'string',
    minLength: 1,
    description:
      'JSONata condition over the JSON body ($headers, $meta and $id bound). It holds when its result is true as JSONata\'s $boolean sees it: 0, "", null, empty arrays and objects, and a path that matched nothing are false. Note that a comparison with a missing value is false: write `$not(a = "x")` rather than `a != "x"` when `a` may be absent.',
    examples,
  };
}

/** The reply body as a JSON value: XML replies are parsed (namespaces stripped, values typed), an empty body is null. */
export function readReply(reply: Message, sink: string, limits: Partial<XmlLimits>): unknown {
  try {
    if (reply.body.length === 0) return null;
    if (reply.isXml) return xmlToValue(reply.body, { stripNamespaces: true, parseValues: true }, limits);
    return reply.json();
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    throw new PermanentError('BAD_REPLY', `the reply of sink "${sink}" cannot be read: ${err.message}`, { cause: err, details: { sink, contentType: reply.contentType } });
  }
}
