import jsonata from 'jsonata';
import type { ConfigIssue } from '../core/errors.js';
import { PermanentError, type ErrorCode } from '../core/errors.js';
import { compileFast } from './jsonata-fast.js';
import type { Message } from '../core/message.js';

/**
 * JSONata, as used everywhere in flows. An expression sees the message body as its input, with `$headers`,
 * `$meta` and `$id` bound. It is compiled once, when the flow loads, never per message; the everyday shapes
 * (paths, constructors, arithmetic, `$sum` ...) run on a synchronous fast path with jsonata's results
 * (jsonata-fast.ts), anything else on jsonata itself.
 */
export interface CompiledExpression {
  readonly source: string;
  evaluate(message: Message, extra?: Record<string, unknown>): Promise<unknown>;
  /**
   * The result at once when the synchronous fast path answers for this message, else LATER (then `evaluate`
   * answers): for steps on every message's way, which then need no promise. Throws what `evaluate` would reject
   * with for a body that is not JSON.
   */
  now(message: Message, extra?: Record<string, unknown>): unknown;
}

/** CompiledExpression.now's answer when only `evaluate` can tell. */
export const LATER: unique symbol = Symbol('later');

/** What an expression sees besides the body: `$headers`, `$meta`, `$id`, and the caller's `extra`. */
function bindings(message: Message, extra?: Record<string, unknown>): Record<string, unknown> {
  return { headers: message.headers, meta: message.meta, id: message.id, ...extra };
}

/**
 * Compiles an expression, reporting a syntax error at `path` (with the offset into the expression) rather than
 * throwing. Returns undefined when it does not compile.
 */
export function compileExpression(source: string, path: (string | number)[], report: (issue: ConfigIssue) => void, failCode: ErrorCode = 'TRANSFORM_FAILED'): CompiledExpression | undefined {
  let expr: jsonata.Expression;
  try {
    expr = jsonata(source);
  } catch (err) {
    const e = err as { message?: string; position?: number; code?: string };
    report({ path, message: `JSONata does not compile: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`, ...(typeof e.position === 'number' ? { offset: Math.max(0, e.position - 1) } : {}) });
    return undefined;
  }
  const fast = compileFast(expr.ast());
  const now = (message: Message, extra?: Record<string, unknown>): unknown => {
    if (!fast) return LATER;
    const input = message.json();
    try {
      return fast(input, bindings(message, extra));
    } catch {
      // Outside the fast subset for this message: jsonata answers, with its result or its error.
      return LATER;
    }
  };
  return {
    source,
    now,
    async evaluate(message, extra) {
      const answer = now(message, extra);
      if (answer !== LATER) return answer;
      try {
        return await expr.evaluate(message.json(), bindings(message, extra));
      } catch (err) {
        if (err instanceof PermanentError) throw err;
        const e = err as { message?: string; code?: string };
        throw new PermanentError(failCode, `JSONata \`${source.length > 80 ? source.slice(0, 77) + '...' : source}\` failed: ${e.message ?? String(err)}`, { cause: err, details: { expression: source, jsonataCode: e.code } });
      }
    },
  };
}

/**
 * A string with `{{ expression }}` parts, e.g. `/orders/{{ orderId }}` or `Bearer {{ $headers.token }}`. Plain
 * strings cost nothing to evaluate.
 */
export interface CompiledTemplate {
  readonly source: string;
  readonly constant: boolean;
  render(message: Message): Promise<string>;
}

/**
 * Header templates from a sink's config (`headers: { x-tenant: "{{ tenant }}" }`): names lower-cased, a name the
 * sink sets itself (`reserved`) reported at its path and left out.
 */
export function compileHeaderTemplates(headers: Record<string, string> | undefined, reserved: ReadonlySet<string>, report: (issue: ConfigIssue) => void): [string, CompiledTemplate][] {
  return Object.entries(headers ?? {}).flatMap(([name, value]): [string, CompiledTemplate][] => {
    const lower = name.toLowerCase();
    if (reserved.has(lower)) {
      report({ path: ['headers', name], message: `header "${name}" is set by the hub and cannot be configured` });
      return [];
    }
    return [[lower, compileTemplate(value, ['headers', name], report)]];
  });
}

export function compileTemplate(source: string, path: (string | number)[], report: (issue: ConfigIssue) => void): CompiledTemplate {
  const parts: (string | CompiledExpression | undefined)[] = [];
  const re = /\{\{(.*?)\}\}/gs;
  let last = 0;
  for (const m of source.matchAll(re)) {
    if (m.index! > last) parts.push(source.slice(last, m.index));
    const inner = m[1]!;
    const compiled = compileExpression(inner.trim(), path, (issue) => report({ ...issue, offset: m.index! + 2 + (inner.length - inner.trimStart().length) + (issue.offset ?? 0) }), 'TEMPLATE_FAILED');
    parts.push(compiled);
    last = m.index! + m[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  const constant = parts.every((p) => typeof p === 'string');
  return {
    source,
    constant,
    async render(message) {
      if (constant) return source;
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') out += part;
        else if (part) {
          const v = await part.evaluate(message);
          out += v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
        }
      }
      return out;
    },
  };
}
