/**
 * A synchronous evaluator for the everyday subset of JSONata that flows use most (field paths, object and array
 * constructors, arithmetic, comparisons, `&`, `and`/`or`, conditions, and a few functions such as `$sum` and
 * `$count`), working on the parsed expression's AST. jsonata 2.x evaluates every node through promises, which at
 * tens of thousands of messages a second costs more CPU (and garbage) than the rest of a flow put together.
 *
 * It mirrors jsonata's own evaluation rules (sequences, singleton unwrapping, flattening of path steps, undefined
 * propagation) for the nodes it accepts, and is only ever a shortcut: `compileFast` returns undefined for an AST
 * with anything else in it, and at run time anything outside the subset (a value of an unexpected type, an error of
 * any kind, an unbound variable) throws `Unsupported`, and the caller evaluates with jsonata itself, which then
 * gives the result or the error exactly as it would have. src/kit/jsonata-fast.test.ts checks it against jsonata
 * on every expression shape it accepts.
 */

/** Thrown when the fast path cannot answer for sure: evaluate with jsonata instead. */
export class Unsupported extends Error {}

const UNSUPPORTED = new Unsupported('outside the fast subset');

export type Vars = Readonly<Record<string, unknown>>;
export type FastExpression = (input: unknown, vars: Vars) => unknown;

type Node = Record<string, unknown> & { type: string };
type Eval = (input: unknown, vars: Vars) => unknown;

/** A jsonata sequence: an array flagged as one (jsonata sets an own `sequence` property). */
type Sequence = unknown[] & { sequence?: boolean; keepSingleton?: boolean; cons?: boolean };

function sequence(): Sequence {
  const s: Sequence = [];
  s.sequence = true;
  return s;
}

function isSequence(v: unknown): v is Sequence {
  return Array.isArray(v) && (v as Sequence).sequence === true;
}

/** What jsonata's evaluate() does to every node's result: an empty sequence is nothing, a singleton its item. */
function unwrap(result: unknown): unknown {
  if (result !== undefined && result !== null && isSequence(result)) {
    if (result.length === 0) return undefined;
    if (result.length === 1) return result.keepSingleton ? result : result[0];
  }
  return result;
}

function isNumber(v: unknown): v is number {
  if (typeof v !== 'number' || Number.isNaN(v)) return false;
  if (!Number.isFinite(v)) throw UNSUPPORTED;
  return true;
}

function lookup(input: unknown, key: string): unknown {
  if (Array.isArray(input)) {
    const result = sequence();
    for (const item of input) {
      const res = lookup(item, key);
      if (res === undefined) continue;
      if (Array.isArray(res)) for (const v of res) result.push(v);
      else result.push(res);
    }
    return result;
  }
  if (input !== null && typeof input === 'object' && Object.prototype.hasOwnProperty.call(input, key)) {
    const v = (input as Record<string, unknown>)[key];
    if (typeof v === 'function') throw UNSUPPORTED;
    return v;
  }
  return undefined;
}

function boolean(arg: unknown): boolean | undefined {
  if (arg === undefined) return undefined;
  if (Array.isArray(arg)) {
    if (arg.length === 1) return boolean(arg[0]);
    return arg.length > 1 && arg.some((v) => boolean(v));
  }
  if (typeof arg === 'string') return arg.length > 0;
  if (isNumber(arg)) return arg !== 0;
  if (arg !== null && typeof arg === 'object') return Object.keys(arg).length > 0;
  if (typeof arg === 'function') throw UNSUPPORTED;
  return arg === true;
}

const boolize = (v: unknown): boolean => boolean(v) ?? false;

/** jsonata's $string for the values the subset meets: strings, numbers (15 significant digits), booleans, null. */
function string(arg: unknown): string | undefined {
  if (arg === undefined) return undefined;
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'number') {
    if (!Number.isFinite(arg)) throw UNSUPPORTED;
    return JSON.stringify(Number.isInteger(arg) ? arg : Number(arg.toPrecision(15)));
  }
  if (typeof arg === 'boolean' || arg === null) return String(arg);
  throw UNSUPPORTED;
}

function append(a: unknown[], value: unknown): unknown[] {
  return a.concat(Array.isArray(value) ? value : [value]);
}

/** Arrays of numbers as jsonata's `a<n>` signature accepts them: one number is an array of one. */
function numbers(arg: unknown): number[] | undefined {
  if (arg === undefined) return undefined;
  const list = Array.isArray(arg) ? arg : [arg];
  for (const v of list) if (!isNumber(v)) throw UNSUPPORTED;
  return list as number[];
}

/** The functions the subset knows, each as jsonata defines it, for exactly one argument. */
const FUNCTIONS: Record<string, (arg: unknown) => unknown> = {
  sum(arg) {
    const list = numbers(arg);
    if (list === undefined) return undefined;
    let total = 0;
    for (const n of list) total += n;
    return total;
  },
  count(arg) {
    if (arg === undefined) return 0;
    return Array.isArray(arg) ? arg.length : 1;
  },
  exists: (arg) => arg !== undefined,
  boolean: (arg) => boolean(arg),
  not: (arg) => (arg === undefined ? undefined : !boolean(arg)),
  string: (arg) => string(arg),
  uppercase(arg) {
    if (arg === undefined) return undefined;
    if (typeof arg !== 'string') throw UNSUPPORTED;
    return arg.toUpperCase();
  },
  lowercase(arg) {
    if (arg === undefined) return undefined;
    if (typeof arg !== 'string') throw UNSUPPORTED;
    return arg.toLowerCase();
  },
  merge(arg) {
    if (arg === undefined) return undefined;
    const list = Array.isArray(arg) ? arg : [arg];
    const result = Object.create(null) as Record<string, unknown>;
    for (const obj of list) {
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw UNSUPPORTED;
      for (const k of Object.keys(obj)) result[k] = (obj as Record<string, unknown>)[k];
    }
    return result;
  },
};

/** Properties a node of each accepted kind may have; any other (predicates, grouping, focus ...) means "not here". */
const ALLOWED: Record<string, ReadonlySet<string>> = {
  string: new Set(['type', 'value', 'position']),
  number: new Set(['type', 'value', 'position']),
  value: new Set(['type', 'value', 'position']),
  name: new Set(['type', 'value', 'position']),
  variable: new Set(['type', 'value', 'position']),
  path: new Set(['type', 'steps', 'position']),
  block: new Set(['type', 'expressions', 'position']),
  binary: new Set(['type', 'value', 'lhs', 'rhs', 'position']),
  condition: new Set(['type', 'condition', 'then', 'else', 'position']),
  unary: new Set(['type', 'value', 'expression', 'expressions', 'lhs', 'position', 'consarray']),
  function: new Set(['type', 'value', 'procedure', 'arguments', 'position']),
};

/** Compiles an AST to a synchronous evaluator, or returns undefined when it holds anything outside the subset. */
export function compileFast(ast: unknown): FastExpression | undefined {
  try {
    const run = compile(ast as Node);
    return (input, vars) => {
      // A JSON array as the whole input is wrapped specially by jsonata: leave it to jsonata.
      if (Array.isArray(input)) throw UNSUPPORTED;
      return run(input, vars);
    };
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

function check(node: Node): void {
  const allowed = ALLOWED[node.type];
  if (!allowed) throw UNSUPPORTED;
  // jsonata leaves some flags on nodes as undefined or false (a function node's `name`): those say nothing.
  for (const k of Object.keys(node)) if (!allowed.has(k) && node[k] !== undefined && node[k] !== false) throw UNSUPPORTED;
}

function compile(node: Node): Eval {
  check(node);
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      const v = node.value;
      return () => v;
    }
    case 'variable':
      return variable(node);
    case 'path':
      return path(node);
    case 'block': {
      const exprs = (node.expressions as Node[]).map(compile);
      if (exprs.length === 0) throw UNSUPPORTED;
      return (input, vars) => {
        let result: unknown;
        for (const e of exprs) result = e(input, vars);
        return unwrap(result);
      };
    }
    case 'condition': {
      const cond = compile(node.condition as Node);
      const then = compile(node.then as Node);
      const otherwise = node.else === undefined ? undefined : compile(node.else as Node);
      return (input, vars) => unwrap(boolize(cond(input, vars)) ? then(input, vars) : otherwise?.(input, vars));
    }
    case 'binary':
      return binary(node);
    case 'unary':
      return unary(node);
    case 'function':
      return call(node);
  }
  throw UNSUPPORTED;
}

function variable(node: Node): Eval {
  const name = node.value as string;
  if (name === '') return (input) => input;
  return (_input, vars) => {
    if (!Object.prototype.hasOwnProperty.call(vars, name)) throw UNSUPPORTED;
    return unwrap(vars[name]);
  };
}

/** A path of name steps (the first may be a variable) and block steps, as jsonata's evaluatePath and evaluateStep. */
function path(node: Node): Eval {
  const steps = node.steps as Node[];
  if (steps.length === 0) throw UNSUPPORTED;
  const compiled = steps.map((step, i) => {
    check(step);
    if (step.type === 'name') {
      const key = step.value as string;
      return (item: unknown) => unwrap(lookup(item, key));
    }
    if (step.type === 'variable' && i === 0) return variable(step);
    if (step.type === 'block') return compile(step);
    throw UNSUPPORTED;
  });
  const absolute = steps[0]!.type === 'variable';
  const last = compiled.length - 1;
  const general: Eval = (input, vars) => {
    let inputSequence: unknown[];
    if (Array.isArray(input) && !absolute) inputSequence = input;
    else {
      inputSequence = sequence();
      inputSequence.push(input);
    }
    let result: Sequence | unknown[] | undefined;
    for (let i = 0; i <= last; i++) {
      result = step(compiled[i]!, inputSequence, vars, i === last);
      if (result.length === 0) break;
      inputSequence = result;
    }
    return unwrap(result);
  };
  // Fields of objects (`orderId`, `customer.name`), the commonest paths: what the steps above come to without their
  // sequences while no step meets an array. A JSON value is never a sequence, so the last field's value is the
  // answer as it is (an array included), or undefined; an array on the way goes the general way, from the start.
  if (steps.every((s) => s.type === 'name')) {
    const keys = steps.map((s) => s.value as string);
    if (keys.length === 1) {
      const key = keys[0]!;
      return (input, vars) => (Array.isArray(input) ? general(input, vars) : lookup(input, key));
    }
    return (input, vars) => {
      let value = input;
      for (const key of keys) {
        if (Array.isArray(value)) return general(input, vars);
        value = lookup(value, key);
        if (value === undefined) return undefined;
      }
      return value;
    };
  }
  return general;
}

function step(run: Eval, input: unknown[], vars: Vars, lastStep: boolean): Sequence | unknown[] {
  const results: unknown[] = [];
  for (const item of input) {
    const res = run(item, vars);
    if (res !== undefined) results.push(res);
  }
  if (lastStep && results.length === 1 && Array.isArray(results[0]) && !isSequence(results[0])) return results[0];
  const out = sequence();
  for (const res of results) {
    if (!Array.isArray(res) || (res as Sequence).cons) out.push(res);
    else for (const v of res) out.push(v);
  }
  return out;
}

function binary(node: Node): Eval {
  const op = node.value as string;
  const lhs = compile(node.lhs as Node);
  const rhs = compile(node.rhs as Node);
  switch (op) {
    case 'and':
      return (input, vars) => boolize(lhs(input, vars)) && boolize(rhs(input, vars));
    case 'or':
      return (input, vars) => boolize(lhs(input, vars)) || boolize(rhs(input, vars));
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return (input, vars) => {
        const l = lhs(input, vars);
        const r = rhs(input, vars);
        if ((l !== undefined && !isNumber(l)) || (r !== undefined && !isNumber(r))) throw UNSUPPORTED;
        if (l === undefined || r === undefined) return undefined;
        const a = l as number;
        const b = r as number;
        const v = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : op === '/' ? a / b : a % b;
        return v;
      };
    case '=':
    case '!=':
      return (input, vars) => {
        const l = lhs(input, vars);
        const r = rhs(input, vars);
        if (l === undefined || r === undefined) return false;
        // Deep equality of objects and arrays is jsonata's business.
        if ((l !== null && typeof l === 'object') || (r !== null && typeof r === 'object')) throw UNSUPPORTED;
        return op === '=' ? l === r : l !== r;
      };
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (input, vars) => {
        const l = lhs(input, vars);
        const r = rhs(input, vars);
        const lt = typeof l;
        const rt = typeof r;
        if (!(lt === 'undefined' || lt === 'string' || lt === 'number') || !(rt === 'undefined' || rt === 'string' || rt === 'number')) throw UNSUPPORTED;
        if (l === undefined || r === undefined) return undefined;
        if (lt !== rt) throw UNSUPPORTED;
        if (lt === 'number' && (!isNumber(l) || !isNumber(r))) throw UNSUPPORTED;
        const a = l as number | string;
        const b = r as number | string;
        return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
      };
    case '&':
      return (input, vars) => (string(lhs(input, vars)) ?? '') + (string(rhs(input, vars)) ?? '');
  }
  throw UNSUPPORTED;
}

function unary(node: Node): Eval {
  switch (node.value) {
    case '-': {
      const e = compile(node.expression as Node);
      return (input, vars) => {
        const v = e(input, vars);
        if (v === undefined) return undefined;
        if (!isNumber(v)) throw UNSUPPORTED;
        return -v;
      };
    }
    case '[': {
      const items = (node.expressions as Node[]).map((n) => ({ nested: n.value === '[' && n.type === 'unary', run: compile(n) }));
      const cons = node.consarray === true;
      return (input, vars) => {
        let result: unknown[] = [];
        for (const item of items) {
          const v = item.run(input, vars);
          if (v === undefined) continue;
          if (item.nested) result.push(v);
          else result = append(result, v);
        }
        if (cons) Object.defineProperty(result, 'cons', { enumerable: false, configurable: false, value: true });
        return unwrap(result);
      };
    }
    case '{': {
      const pairs = (node.lhs as [Node, Node][]).map(([k, v]) => {
        check(k);
        // Constant keys only: computed keys group the input, which is jsonata's business.
        if (k.type !== 'string' || typeof k.value !== 'string') throw UNSUPPORTED;
        return { key: k.value, value: compile(v) };
      });
      const keys = new Set(pairs.map((p) => p.key));
      if (keys.size !== pairs.length || keys.has('_jsonata_lambda') || keys.has('_jsonata_function')) throw UNSUPPORTED;
      return (input, vars) => {
        // Over an array the constructor groups its items: jsonata's business.
        if (Array.isArray(input)) throw UNSUPPORTED;
        const result = Object.create(null) as Record<string, unknown>;
        for (const { key, value } of pairs) {
          const v = value(input, vars);
          if (v !== undefined) result[key] = v;
        }
        return result;
      };
    }
  }
  throw UNSUPPORTED;
}

function call(node: Node): Eval {
  const procedure = node.procedure as Node;
  check(procedure);
  const fn = procedure.type === 'variable' ? FUNCTIONS[procedure.value as string] : undefined;
  const args = node.arguments as Node[];
  if (!fn || node.value !== '(' || args.length !== 1) throw UNSUPPORTED;
  const arg = compile(args[0]!);
  return (input, vars) => {
    // A binding of the same name (an extra variable) would shadow the built-in: jsonata's business.
    if (Object.prototype.hasOwnProperty.call(vars, procedure.value as string)) throw UNSUPPORTED;
    return unwrap(fn(arg(input, vars)));
  };
}
