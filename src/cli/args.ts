/**
 * The one argument parser of `hub`. Each command is declared once, with `command()`: its name, a summary for
 * `hub --help`, its usage lines, its options (type, value placeholder, default, choices or range, description) and
 * its positional arguments. From that declaration come the parsing and checking of its command line, its `--help`
 * (`-h`), and the usage printed with a usage error. `group()` gathers subcommands (`hub mesh lint`, `hub flow
 * pause`), optionally with a command of its own (`hub messages` beside `hub messages show`).
 *
 * node:util's parseArgs cuts the command line into tokens (leniently, so that every unknown option is found and
 * named at once); the checks and conversions are here. A value that starts with "-" must be given inline
 * (`--error-text=-x`), as parseArgs' strict mode asks.
 */
import { parseArgs } from 'node:util';
import { closest } from '../config/load-flows.js';
import { ConfigError } from '../core/errors.js';

export type Print = (s: string) => void;

/** What a command reads and writes; tests pass their own. */
export interface Io {
  out: Print;
  err: Print;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

interface OptionBase {
  description: string;
  short?: string;
}
export interface StringOption extends OptionBase {
  type: 'string';
  /** The value's placeholder in usage and help: FILE, N, URL. */
  value: string;
  default?: string;
  choices?: readonly string[];
  /** May be given several times; the values come as a list. */
  multiple?: boolean;
  required?: boolean;
}
export interface NumberOption extends OptionBase {
  type: 'number';
  value: string;
  default?: number;
  min?: number;
  max?: number;
  integer?: boolean;
}
export interface BooleanOption extends OptionBase {
  type: 'boolean';
}
export type OptionSpec = StringOption | NumberOption | BooleanOption;
export type Options = Record<string, OptionSpec>;

/** The parsed values: booleans are false when absent; the rest undefined unless they have a default (or are required); a string with choices is one of them. */
export type Values<O extends Options> = {
  -readonly [K in keyof O]: O[K] extends BooleanOption
    ? boolean
    : O[K] extends NumberOption
      ? O[K] extends { default: number } ? number : number | undefined
      : O[K] extends { multiple: true }
        ? string[] | undefined
        : Settled<O[K], O[K] extends { choices: readonly (infer C)[] } ? C : string>;
};
type Settled<O, T> = O extends { default: string } | { required: true } ? T : T | undefined;

export interface ArgSpec {
  name: string;
  description: string;
  required?: boolean;
  /** Takes every remaining argument (the last one only). */
  variadic?: boolean;
}

export interface CommandSpec<O extends Options> {
  /** The words after `hub`: "replay", "mesh render". */
  name: string;
  /** One line, for `hub --help`. */
  summary: string;
  /** The forms it takes, each a line starting with `hub NAME`. */
  usage: readonly string[];
  /** What it does, for its --help. */
  description?: string;
  options: O;
  args?: readonly ArgSpec[];
  run(values: Values<O>, args: string[], io: Io): Promise<number>;
}

export interface Command {
  readonly kind: 'command';
  readonly name: string;
  readonly summary: string;
  readonly usage: readonly string[];
  readonly description: string | undefined;
  readonly options: Options;
  readonly args: readonly ArgSpec[];
  invoke(argv: string[], io: Io): Promise<number>;
}

export interface Group {
  readonly kind: 'group';
  readonly name: string;
  readonly summary: string;
  /** What `hub NAME` runs without a subcommand, if anything. */
  readonly main: Command | undefined;
  readonly commands: readonly Command[];
  invoke(argv: string[], io: Io): Promise<number>;
}

export type Entry = Command | Group;

type UsageCode = 'CLI_UNKNOWN_COMMAND' | 'CLI_UNKNOWN_OPTION' | 'CLI_BAD_OPTION' | 'CLI_BAD_ARGUMENTS';

/** A command line to correct (exit 2): printed with the usage of the command it was meant for. */
export class UsageError extends ConfigError {
  override readonly name = 'UsageError';
  declare readonly code: UsageCode;
  /** The command or group whose usage goes with the error; filled in as the error leaves it. */
  entry: Entry | undefined;

  constructor(code: UsageCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

const HELP = { type: 'boolean', short: 'h' } as const;

function tokensOf(options: Options, argv: string[]): ReturnType<typeof parseArgs>['tokens'] & {} {
  const config = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, { type: o.type === 'boolean' ? ('boolean' as const) : ('string' as const), ...(o.short ? { short: o.short } : {}), ...(o.type === 'string' && o.multiple ? { multiple: true } : {}) }]),
  );
  return parseArgs({ args: argv, options: { ...config, help: HELP }, strict: false, allowPositionals: true, tokens: true }).tokens;
}

type Token = ReturnType<typeof tokensOf>[number];

/** `--help` or `-h`, also where it was taken for the value of an option (which would be refused anyway). */
function asksHelp(tokens: Token[]): boolean {
  return tokens.some((t) => t.kind === 'option' && (t.name === 'help' || (!t.inlineValue && (t.value === '--help' || t.value === '-h'))));
}

function list(words: readonly string[], last = 'or'): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} ${last} ${words.at(-1)}`;
}

function numberValue(name: string, o: NumberOption, text: string): number {
  const n = Number(text);
  if (text.trim() !== '' && Number.isFinite(n) && (!o.integer || Number.isInteger(n)) && (o.min === undefined || n >= o.min) && (o.max === undefined || n <= o.max)) return n;
  const range = o.min !== undefined && o.max !== undefined ? ` from ${o.min} to ${o.max}` : o.min !== undefined ? ` of at least ${o.min}` : o.max !== undefined ? ` of at most ${o.max}` : '';
  throw new UsageError('CLI_BAD_OPTION', `--${name} must be ${o.integer ? 'an integer' : 'a number'}${range} (got "${text}")`);
}

/** Parses and checks a command line against a declaration; `help` when it asks for help. */
export function parse<O extends Options>(spec: Pick<CommandSpec<O>, 'name' | 'options' | 'args'>, argv: string[]): { help: true } | { help: false; values: Values<O>; args: string[] } {
  const tokens = tokensOf(spec.options, argv);
  if (asksHelp(tokens)) return { help: true };
  const known = Object.keys(spec.options);
  const unknown = [...new Set(tokens.flatMap((t) => (t.kind === 'option' && !Object.hasOwn(spec.options, t.name) ? [t.rawName] : [])))];
  if (unknown.length) {
    const named = unknown.map((u) => {
      const word = u.replace(/^-+/, '');
      const near = word.length > 2 ? closest(word, known) : undefined;
      return near ? `${u} (did you mean --${near}?)` : u;
    });
    throw new UsageError('CLI_UNKNOWN_OPTION', `unknown option${unknown.length > 1 ? 's' : ''} ${named.join(', ')}${known.length ? '' : `: hub ${spec.name} takes none`}`);
  }
  const values: Record<string, unknown> = {};
  const args: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') args.push(t.value);
    if (t.kind !== 'option') continue;
    const o = spec.options[t.name]!;
    if (o.type === 'boolean') {
      if (t.inlineValue) throw new UsageError('CLI_BAD_OPTION', `--${t.name} takes no value (got "${t.rawName}=${t.value}")`);
      values[t.name] = true;
      continue;
    }
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) {
      throw new UsageError('CLI_BAD_OPTION', `--${t.name} needs a value: --${t.name} ${o.value}${t.value === undefined ? '' : ` (a value that starts with "-" goes inline: --${t.name}=${t.value})`}`);
    }
    if (o.type === 'number') values[t.name] = numberValue(t.name, o, t.value);
    else {
      if (o.choices && !o.choices.includes(t.value)) throw new UsageError('CLI_BAD_OPTION', `--${t.name} is ${list(o.choices)} (got "${t.value}")`);
      values[t.name] = o.multiple ? [...((values[t.name] as string[] | undefined) ?? []), t.value] : t.value;
    }
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (values[name] !== undefined) continue;
    if (o.type === 'boolean') values[name] = false;
    else if (o.default !== undefined) values[name] = o.default;
    else if (o.type === 'string' && o.required) throw new UsageError('CLI_BAD_OPTION', `hub ${spec.name} needs --${name} ${o.value}: ${o.description}`);
  }
  const declared = spec.args ?? [];
  if (!declared.at(-1)?.variadic && args.length > declared.length) {
    throw new UsageError('CLI_BAD_ARGUMENTS', `unexpected argument "${args[declared.length]}"${declared.length ? ` (hub ${spec.name} takes ${list(declared.map((a) => a.name), 'and')})` : ` (hub ${spec.name} takes none)`}`);
  }
  const missing = declared.find((a, i) => a.required && args[i] === undefined);
  if (missing) {
    const what = missing.description.replace(/\.$/, '');
    throw new UsageError('CLI_BAD_ARGUMENTS', `missing ${missing.name}${missing.variadic ? ' (one or more)' : ''}: ${what.charAt(0).toLowerCase()}${what.slice(1)}`);
  }
  return { help: false, values: values as Values<O>, args };
}

/** Declares a command. */
export function command<const O extends Options>(spec: CommandSpec<O>): Command {
  const self: Command = {
    kind: 'command',
    name: spec.name,
    summary: spec.summary,
    usage: spec.usage,
    description: spec.description,
    options: spec.options,
    args: spec.args ?? [],
    async invoke(argv, io) {
      try {
        const parsed = parse(spec, argv);
        if (parsed.help) {
          io.out(helpText(self));
          return 0;
        }
        return await spec.run(parsed.values, parsed.args, io);
      } catch (e) {
        if (e instanceof UsageError) e.entry ??= self;
        throw e;
      }
    },
  };
  return self;
}

/**
 * Declares a group of subcommands, named `${name} WORD`. The first positional word picks the subcommand (options
 * before it are allowed: the words are found with every subcommand's options); without one, `main` runs if there
 * is one, else the group answers with its usage.
 */
export function group(spec: { name: string; summary: string; main?: Command; commands: Command[] }): Group {
  const options: Options = Object.assign({}, ...[...spec.commands].reverse().map((c) => c.options), spec.main?.options ?? {});
  const words = spec.commands.map((c) => c.name.slice(spec.name.length + 1));
  const self: Group = {
    kind: 'group',
    name: spec.name,
    summary: spec.summary,
    main: spec.main,
    commands: spec.commands,
    async invoke(argv, io) {
      const tokens = tokensOf(options, argv);
      const first = tokens.find((t) => t.kind === 'positional');
      const sub = first && spec.commands[words.indexOf(first.value)];
      if (sub) return sub.invoke(argv.filter((_, i) => i !== first.index), io);
      if (asksHelp(tokens)) {
        io.out(helpText(self));
        return 0;
      }
      if (spec.main && !(first && spec.main.args.length === 0)) return spec.main.invoke(argv, io);
      const takes = `hub ${spec.name} ${words.length > 1 ? `takes ${list(words)}` : `has ${words[0]}`}`;
      const problem = first
        ? new UsageError('CLI_UNKNOWN_COMMAND', `unknown command "hub ${spec.name} ${first.value}"${closest(first.value, words) ? ` (did you mean ${closest(first.value, words)}?)` : ''}; ${takes}`)
        : new UsageError('CLI_BAD_ARGUMENTS', `name a command: ${takes}`);
      problem.entry = self;
      throw problem;
    },
  };
  return self;
}

const WIDTH = 118;

function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

function rows(entries: [string, string][], labels: string[] = entries.map(([k]) => k)): string[] {
  const width = Math.min(28, Math.max(...labels.map((k) => k.length)) + 2);
  return entries.map(([k, v]) => `  ${k.length + 2 > width ? `${k}\n  ${' '.repeat(width)}` : k.padEnd(width)}${wrap(v, width + 2)}`);
}

function optionLabel(name: string, o: OptionSpec): string {
  const flag = `${o.short ? `-${o.short}, ` : ''}--${name}`;
  return o.type === 'boolean' ? flag : `${flag} ${o.type === 'string' && o.choices ? o.choices.join('|') : o.value}`;
}

function optionText(o: OptionSpec): string {
  const notes = [o.type === 'string' && o.required ? 'Required.' : '', o.type === 'string' && o.multiple ? 'Repeatable.' : '', o.type !== 'boolean' && o.default !== undefined ? `Default: ${o.default}.` : ''];
  return [o.description, ...notes].filter(Boolean).join(' ');
}

/** The usage lines, for a usage error: the forms the command (or every command of the group) takes. */
export function usageText(entry: Entry): string {
  const forms = entry.kind === 'command' ? entry.usage : [...(entry.main?.usage ?? []), ...entry.commands.flatMap((c) => c.usage)];
  return `${forms.map((f, i) => `${i === 0 ? 'Usage: ' : '       '}${f}`).join('\n')}\nhub ${entry.name} --help says more.`;
}

/** The whole help of a command or group: usage, what it does, arguments, options (or subcommands). */
export function helpText(entry: Entry): string {
  if (entry.kind === 'group') {
    const parts = entry.main ? [helpText(entry.main)] : [`${usageText(entry).split('\n').slice(0, -1).join('\n')}\n\n${entry.summary}`];
    parts.push(['Commands:', ...rows(entry.commands.map((c) => [c.name, c.summary])), '', `hub ${entry.name} COMMAND --help shows one command's options.`].join('\n'));
    return parts.join('\n\n');
  }
  const parts = [entry.usage.map((f, i) => `${i === 0 ? 'Usage: ' : '       '}${f}`).join('\n'), wrap(entry.description ?? entry.summary, 0)];
  if (entry.args.length) parts.push(['Arguments:', ...rows(entry.args.map((a) => [`${a.required ? a.name : `[${a.name}]`}${a.variadic ? '...' : ''}`, a.description]))].join('\n'));
  parts.push(['Options:', ...rows([...Object.entries(entry.options).map(([name, o]): [string, string] => [optionLabel(name, o), optionText(o)]), ['-h, --help', 'Show this help.']])].join('\n'));
  return parts.join('\n\n');
}

function summaries(entries: readonly Entry[]): [string, string][] {
  return entries.flatMap((e): [string, string][] => (e.kind === 'command' ? [[e.name, e.summary]] : [...(e.main ? [[e.name, e.main.summary] as [string, string]] : []), ...e.commands.map((c): [string, string] => [c.name, c.summary])]));
}

/** One line per command (a group's subcommands each on their own), aligned over `all`: for `hub --help` and an unknown command. */
export function commandRows(entries: readonly Entry[], all: readonly Entry[] = entries): string[] {
  return rows(summaries(entries), summaries(all).map(([k]) => k));
}
