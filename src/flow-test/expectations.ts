/**
 * Judging a case: each expectation compared with what the flow did (harness.ts's Observation), each mismatch a
 * Mismatch at the expectation's path in the test file, with a diff of expected and actual.
 */
import { compileExpression, type CompiledExpression } from '../kit/expression.js';
import { isJsonType, isXmlType, Message } from '../core/message.js';
import { parseXml } from '../core/codec.js';
import type { Observation } from './harness.js';
import type { TestCase } from './test-file.js';

export interface Mismatch {
  path: (string | number)[];
  message: string;
  /** Expected and actual, as the lines of a diff (`- expected`, `+ actual`). */
  diff?: string;
}

/** A body as a comparable value: JSON parsed, XML as its tree (namespace prefixes dropped, a SOAP envelope unwrapped to its Body's content), else text. */
export function comparable(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (text === '') return undefined;
  try {
    if (isJsonType(contentType) || (contentType === undefined && /^\s*[[{"]/.test(text))) return JSON.parse(text) as unknown;
    if (isXmlType(contentType) || /^(application\/soap\+xml)/i.test(contentType ?? '') || (contentType === undefined && text.trimStart().startsWith('<'))) {
      const tree = parseXml(text, {}, { stripNamespaces: true, parseValues: true }) as Record<string, unknown>;
      delete tree['?xml'];
      const body = (tree.Envelope as Record<string, unknown> | undefined)?.Body;
      return body !== undefined && body !== null && typeof body === 'object' ? body : tree;
    }
  } catch {
    // Not what it says it is: compared as text.
  }
  return text;
}

/** `expected`, given in YAML, as a value to compare with a body: a string that is JSON or XML is read as such. */
function expectedValue(expected: unknown): unknown {
  if (typeof expected !== 'string') return expected;
  const t = expected.trim();
  if (t.startsWith('<')) return comparable(Buffer.from(t), 'application/xml');
  return expected;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => equal(x, (b as unknown[])[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** True when `actual` has every key of `part` with its value (objects: recursively; arrays: item by item, same length). */
export function includes(actual: unknown, part: unknown): boolean {
  if (part === null || typeof part !== 'object') return equal(actual, part);
  if (actual === null || typeof actual !== 'object' || Array.isArray(part) !== Array.isArray(actual)) return false;
  if (Array.isArray(part)) return part.length === (actual as unknown[]).length && part.every((p, i) => includes((actual as unknown[])[i], p));
  return Object.entries(part).every(([k, v]) => Object.hasOwn(actual, k) && includes((actual as Record<string, unknown>)[k], v));
}

/** The part of `actual` that `part` speaks of: the diff of a subset shows only the keys it names. */
function narrowed(actual: unknown, part: unknown): unknown {
  if (part === null || typeof part !== 'object' || actual === null || typeof actual !== 'object' || Array.isArray(part) !== Array.isArray(actual)) return actual;
  if (Array.isArray(part)) return (actual as unknown[]).map((a, i) => (i < part.length ? narrowed(a, part[i]) : a));
  return Object.fromEntries(Object.keys(part).filter((k) => Object.hasOwn(actual, k)).map((k) => [k, narrowed((actual as Record<string, unknown>)[k], (part as Record<string, unknown>)[k])]));
}

function lines(v: unknown): string[] {
  return (v === undefined ? '(nothing)' : typeof v === 'string' ? v : JSON.stringify(v, null, 2)).split('\n');
}

/** A line diff (longest common subsequence): `  ` same, `- ` expected only, `+ ` actual only. */
export function diff(expected: unknown, actual: unknown): string {
  const a = lines(expected);
  const b = lines(actual);
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  return out.join('\n');
}

const compiled = new Map<string, CompiledExpression | string>();

/** A JSONata assertion, compiled once; a string when it does not compile (the reason). */
function assertion(source: string): CompiledExpression | string {
  let c = compiled.get(source);
  if (c === undefined) {
    let problem = '';
    c = compileExpression(source, [], (issue) => (problem = issue.message)) ?? problem;
    compiled.set(source, c);
  }
  return c;
}

/** Each assertion that is not true of `message`, as a mismatch at `at`. */
async function assertAll(sources: string[] | undefined, message: Message, at: (string | number)[], what: string): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  for (const [i, source] of (sources ?? []).entries()) {
    const expr = assertion(source);
    if (typeof expr === 'string') {
      out.push({ path: [...at, i], message: `${what}: the assertion does not compile: ${expr}` });
      continue;
    }
    let result: unknown;
    try {
      result = await expr.evaluate(message);
    } catch (err) {
      out.push({ path: [...at, i], message: `${what}: the assertion failed to evaluate: ${(err as Error).message}` });
      continue;
    }
    if (result !== true) out.push({ path: [...at, i], message: `${what}: \`${source}\` is ${JSON.stringify(result) ?? 'undefined'}, not true, of this body:`, diff: diff(shown(message), shown(message)) });
  }
  return out;
}

function shown(message: Message): unknown {
  try {
    return message.json();
  } catch {
    return message.text();
  }
}

/** A message whose body is `value` as JSON, for assertions on a body that is XML or text. */
function asJson(value: unknown, headers: Record<string, string>, meta: Message['meta']): Message {
  return new Message({ value: value ?? null, headers: { ...headers, 'content-type': 'application/json' }, meta });
}

/** Every way the observation differs from what case `i` expects. */
export async function judge(c: TestCase, i: number, seen: Observation): Promise<Mismatch[]> {
  const at = (...path: (string | number)[]): (string | number)[] => ['cases', i, 'expect', ...path];
  const out: Mismatch[] = [];
  const e = c.expect;
  for (const sink of seen.unmocked) out.push({ path: ['cases', i, 'name'], message: `sink "${sink}" was called, but the case mocks no reply for it: add sinks: { ${sink}: { reply: ... } }` });

  if (e.error) {
    if (!seen.error) out.push({ path: at('error'), message: `expected the flow to fail${e.error.code ? ` with ${e.error.code}` : ''}, but it delivered`, ...(seen.reply ? { diff: diff(e.error, { status: seen.reply.status, body: comparable(seen.reply.body, seen.reply.headers['content-type']) }) } : {}) });
    else {
      if (e.error.code !== undefined && e.error.code !== seen.error.code) out.push({ path: at('error', 'code'), message: `error code: expected ${e.error.code}, got ${seen.error.code} (${seen.error.message})`, diff: diff(e.error.code, seen.error.code) });
      if (e.error.step !== undefined && e.error.step !== seen.error.step) out.push({ path: at('error', 'step'), message: `error step: expected ${e.error.step}, got ${seen.error.step ?? 'none'} (${seen.error.code}: ${seen.error.message})`, diff: diff(e.error.step, seen.error.step ?? '') });
    }
  } else if (seen.error && !(seen.unmocked.length && seen.error.code === 'INTERNAL') && (e.delivered === true || (e.delivered === undefined && !(e.reply?.status !== undefined && e.reply.status >= 400)))) {
    out.push({ path: e.delivered === true ? at('delivered') : ['cases', i, 'name'], message: `the flow failed: ${seen.error.code} at ${seen.error.step ?? 'the source'}: ${seen.error.message}` });
  }
  if (e.delivered === false && !seen.error) out.push({ path: at('delivered'), message: 'expected the flow not to deliver, but it did' });

  if (e.reply) {
    const r = e.reply;
    const got = seen.reply;
    if (!got) out.push({ path: at('reply'), message: 'expected a reply, but the source gives none' });
    else {
      const type = got.headers['content-type'];
      const body = comparable(got.body, type);
      if (r.status !== undefined && r.status !== got.status) out.push({ path: at('reply', 'status'), message: `reply status: expected ${r.status}, got ${got.status}`, diff: diff({ status: r.status }, { status: got.status, body }) });
      for (const [k, v] of Object.entries(r.headers ?? {})) {
        if (got.headers[k.toLowerCase()] !== v) out.push({ path: at('reply', 'headers', k), message: `reply header ${k}: expected "${v}", got ${got.headers[k.toLowerCase()] === undefined ? 'none' : `"${got.headers[k.toLowerCase()]}"`}` });
      }
      if (r.body !== undefined && !equal(body, expectedValue(r.body))) out.push({ path: at('reply', 'body'), message: 'reply body differs', diff: diff(expectedValue(r.body), body) });
      if (r.body_includes !== undefined && !includes(body, expectedValue(r.body_includes))) out.push({ path: at('reply', 'body_includes'), message: 'reply body does not include what is expected', diff: diff(expectedValue(r.body_includes), narrowed(body, expectedValue(r.body_includes))) });
      if (r.assert) out.push(...(await assertAll(r.assert, asJson(body, got.headers, { flow: '', source: '', receivedAt: '', attempt: 1 }), at('reply', 'assert'), 'reply')));
    }
  }

  if (e.route !== undefined) {
    const want = typeof e.route === 'string' ? [e.route] : e.route;
    if (!equal(want, seen.routes)) out.push({ path: at('route'), message: `route: expected ${want.join(' → ') || 'none'}, took ${seen.routes.join(' → ') || 'none'}`, diff: diff(want, seen.routes) });
  }

  for (const [name, x] of Object.entries(e.sinks ?? {})) {
    const calls = seen.calls.filter((call) => call.sink === name);
    if (x.calls !== undefined && x.calls !== calls.length) {
      const outcomes = calls.map((call) => (call.error ? `${call.error.code}` : 'ok'));
      out.push({ path: at('sinks', name, 'calls'), message: `sink ${name}: expected ${x.calls} call(s), got ${calls.length}${outcomes.length ? ` (${outcomes.join(', ')})` : ''}`, diff: diff(`calls: ${x.calls}`, `calls: ${calls.length}`) });
    }
    const needsCall = x.received !== undefined || x.includes !== undefined || x.headers !== undefined || x.assert !== undefined;
    if (needsCall && calls.length === 0) {
      out.push({ path: at('sinks', name), message: `sink ${name} was never called${seen.routes.length ? ` (the route took ${seen.routes.join(' → ')})` : ''}` });
      continue;
    }
    for (const [n, call] of calls.entries()) {
      const what = `sink ${name}, call ${n + 1}`;
      const body = comparable(call.message.body, call.message.contentType);
      if (x.received !== undefined && !equal(body, expectedValue(x.received))) out.push({ path: at('sinks', name, 'received'), message: `${what}: received a different body`, diff: diff(expectedValue(x.received), body) });
      if (x.includes !== undefined && !includes(body, expectedValue(x.includes))) out.push({ path: at('sinks', name, 'includes'), message: `${what}: the body does not include what is expected`, diff: diff(expectedValue(x.includes), narrowed(body, expectedValue(x.includes))) });
      for (const [k, v] of Object.entries(x.headers ?? {})) {
        const h = call.message.headers[k.toLowerCase()];
        if (h !== v) out.push({ path: at('sinks', name, 'headers', k), message: `${what}: header ${k}: expected "${v}", got ${h === undefined ? 'none' : `"${h}"`}` });
      }
      if (x.assert) {
        const sent = call.message;
        const msg = sent.isJson || /^text\//i.test(sent.contentType ?? '') ? sent : asJson(body, sent.headers as Record<string, string>, sent.meta);
        out.push(...(await assertAll(x.assert, msg, at('sinks', name, 'assert'), what)));
      }
    }
  }

  if (e.order) {
    const first = [...new Set(seen.calls.map((call) => call.sink))];
    const shown = first.filter((s) => e.order!.includes(s));
    if (!equal(e.order, shown)) out.push({ path: at('order'), message: `sinks called in another order: ${first.join(', ') || 'none'}`, diff: diff(e.order, shown) });
  }
  return dedupe(out);
}

/** The same mismatch on each of several calls (the same place and diff) is said once, for the first call. */
function dedupe(list: Mismatch[]): Mismatch[] {
  const seen = new Set<string>();
  return list.filter((m) => {
    const key = `${m.path.join('/')}|${m.diff ?? m.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
