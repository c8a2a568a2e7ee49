import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { compileFast, Unsupported, type Vars } from './jsonata-fast.js';

// The fast path against jsonata itself: for every expression it accepts and every input, it must give jsonata's
// result, or step aside (Unsupported) so that jsonata answers; it must never answer where jsonata fails.

type Outcome = { ok: true; value: string } | { ok: false; error: string };

/** A result as JSON, keeping what JSON would lose (undefined, an array versus an object). */
function canonical(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v, (_k, x: unknown) => (x === undefined ? '__undefined__' : x));
}

async function viaJsonata(source: string, input: unknown, vars: Vars): Promise<Outcome> {
  try {
    return { ok: true, value: canonical(await jsonata(source).evaluate(input, vars)) };
  } catch (err) {
    return { ok: false, error: (err as { code?: string }).code ?? String(err) };
  }
}

function viaFast(source: string, input: unknown, vars: Vars): Outcome | 'not compiled' | 'stepped aside' {
  const fast = compileFast(jsonata(source).ast());
  if (!fast) return 'not compiled';
  try {
    return { ok: true, value: canonical(fast(input, vars)) };
  } catch (err) {
    if (err instanceof Unsupported) return 'stepped aside';
    return { ok: false, error: String(err) };
  }
}

const ORDER = { seq: 7, orderId: 'ORD-7', customerId: 'C-0007', region: 'EU', currency: 'EUR', total: 12000.5, lines: [{ sku: 'A', qty: 2, price: 19.5 }, { sku: 'B', qty: 1, price: 120 }, { sku: 'C', qty: 5, price: 3.25, tags: ['x', 'y'] }], note: '', paid: true, nested: { a: { b: [1, 2, [3, 4]] } }, empty: [], nil: null };
const INPUTS: unknown[] = [
  ORDER,
  { ...ORDER, lines: [{ sku: 'A', qty: 2, price: 19.5 }] },
  { ...ORDER, lines: { sku: 'A', qty: 2, price: 19.5 } },
  { ...ORDER, lines: [{ sku: 'A', qty: '2', price: 19.5 }] },
  { ...ORDER, region: 12, total: 'high', orderId: null },
  { lines: [[{ qty: 1, price: 2 }], [{ qty: 3, price: 4 }]] },
  {},
  null,
  'text',
  42,
  [1, 2, 3],
  [{ orderId: 'a' }, { orderId: 'b' }],
];
const VARS: Vars = { headers: { 'content-type': 'application/json', 'x-priority': 'high', 'x-n': '5' }, meta: { flow: 'f', attempt: 2, params: { id: '42' } }, id: 'msg-1' };

const CORPUS = [
  // what the example flows and the benchmark use
  '{ "seq": seq, "orderId": orderId, "customerId": customerId, "region": region, "total": $sum(lines.(qty * price)), "items": $count(lines) }',
  '$merge([$, { "warehouse": region & "-1" }])',
  '{ "customerId": customerId, "lines": lines }',
  '$sum(lines.(qty * price)) > 10000',
  '{ "orderId": $meta.params.id }',
  '{ "SubmitOrderResponse": { "OrderId": orderId, "Status": "PUBLISHED" } }',
  'region',
  'orderId',
  // paths
  'lines.sku', 'lines.qty', 'lines.tags', 'nested.a.b', 'nested.a.b.x', 'missing.deeper', 'empty', 'nil', 'lines.(qty)', 'lines.($)', '$.orderId', '$',
  '$headers."x-priority"', '$headers.nope', '$meta.attempt', '$id', '$meta.params', 'lines.(qty * price)', 'lines.(sku & "!")', 'lines.({ "s": sku })',
  // operators
  'total + 1', 'total - seq', 'total * 2', 'total / 4', 'seq % 4', '-total', '-region', 'region & "-" & seq', 'region & nested', 'note & nil & paid',
  'total > 10000', 'seq <= 7', 'region < "F"', 'region >= seq', 'missing > 1', 'region = "EU"', 'region != "EU"', 'nested = nested', 'seq = "7"', 'nil = null',
  'paid and total > 1', 'note or empty', 'missing or lines', 'paid ? "yes" : "no"', 'missing ? 1 : 2', 'note ? 1', '(region; total)', '(1 + 2) * 3',
  '[1, 2, [3, 4]]', '[lines.qty, seq]', '[missing]', '["a"]', '[[region]]',
  // functions
  '$count(lines)', '$count(missing)', '$count(region)', '$sum(lines.qty)', '$sum(lines.sku)', '$sum(seq)', '$sum(missing)', '$exists(missing)', '$exists(note)',
  '$not(paid)', '$not(missing)', '$boolean(empty)', '$boolean(lines)', '$string(total)', '$string(nested)', '$string(0.1 + 0.2)', '$uppercase(region)', '$lowercase(orderId)',
  '$uppercase(seq)', '$merge([{ "a": 1 }, { "a": 2, "b": 3 }])', '$merge(lines)', '$merge(seq)',
  '{ "a": missing, "b": region }', '{ "n": { "m": lines.sku } }',
];

describe('jsonata-fast: the same answers as jsonata', () => {
  it('compiles the everyday expressions the flows use, and leaves the rest to jsonata', () => {
    for (const everyday of CORPUS.slice(0, 8)) expect(compileFast(jsonata(everyday).ast()), everyday).toBeTypeOf('function');
    for (const unsupported of ['lines[0]', 'lines[qty > 1]', '$map(lines, function($l) { $l.qty })', 'lines^(price)', '$x := 1', '**.qty', '{ region: seq }', 'lines{ sku: qty }', '$substring(region, 1)', '$sum(lines.qty, 1)']) {
      expect(compileFast(jsonata(unsupported).ast()), unsupported).toBeUndefined();
    }
  });

  it.each(CORPUS)('%s', async (source) => {
    for (const input of INPUTS) {
      const fast = viaFast(source, input, VARS);
      if (fast === 'not compiled' || fast === 'stepped aside') continue;
      expect({ source, input, fast }).toEqual({ source, input, fast: await viaJsonata(source, input, VARS) });
    }
  });

  it('agrees with jsonata on 2,000 random expressions over random inputs', async () => {
    // mulberry32: a seeded generator whose products stay in 32 bits (a plain LCG in doubles collapses).
    let seed = 20261125;
    const rnd = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    const names = ['a', 'b', 'c', 'items', 'x'];
    const gen = (depth: number): string => {
      const leaf = (): string => pick([() => pick(names), () => `${pick(names)}.${pick(names)}`, () => String(rnd(5)), () => `"${pick(['', 'a', 'EU'])}"`, () => pick(['true', 'false', 'null']), () => '$', () => `$headers."${pick(['x-priority', 'x-n', 'nope'])}"`, () => `${pick(names)}.(${pick(names)} * 2)`])();
      if (depth === 0) return leaf();
      const sub = (): string => gen(depth - 1);
      return pick([
        leaf,
        () => `(${sub()} ${pick(['+', '-', '*', '/', '%', '=', '!=', '<', '<=', '>', '>=', '&', 'and', 'or'])} ${sub()})`,
        () => `${sub()} ? ${sub()} : ${sub()}`,
        () => `{ "k": ${sub()}, "l": ${sub()} }`,
        () => `[${sub()}, ${sub()}]`,
        () => `$${pick(['sum', 'count', 'exists', 'boolean', 'not', 'string', 'uppercase', 'lowercase', 'merge'])}(${sub()})`,
        () => `-${sub()}`,
        () => `${pick(names)}.(${sub()})`,
      ])();
    };
    const value = (depth: number): unknown => {
      const r = rnd(depth > 0 ? 9 : 6);
      if (r === 0) return rnd(7) - 2;
      if (r === 1) return pick(['', 'a', 'EU', 'x-1']);
      if (r === 2) return pick([true, false, null]);
      if (r === 3) return rnd(100) / 8;
      if (r === 4 || r === 5) return undefined;
      if (r === 6 || r === 7) return Array.from({ length: rnd(4) }, () => value(depth - 1));
      return Object.fromEntries(names.filter(() => rnd(2) === 0).map((n) => [n, value(depth - 1)]).filter(([, v]) => v !== undefined));
    };
    let compared = 0;
    const distinct = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const source = gen(rnd(4));
      const input = value(3) ?? {};
      const fast = viaFast(source, input, VARS);
      if (fast === 'not compiled' || fast === 'stepped aside') continue;
      compared++;
      distinct.add(source);
      expect({ source, input, fast }).toEqual({ source, input, fast: await viaJsonata(source, input, VARS) });
    }
    expect(compared).toBeGreaterThan(500);
    expect(distinct.size).toBeGreaterThan(400);
  });
});
