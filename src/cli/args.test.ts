import { describe, expect, it } from 'vitest';
import { command, group, parse, UsageError, type Io } from './args.js';

const spec = {
  name: 'try',
  options: {
    name: { type: 'string', value: 'N', description: 'A name.' },
    tag: { type: 'string', value: 'T', multiple: true, description: 'A tag.' },
    style: { type: 'string', value: 'S', choices: ['hub', 'mesh'], default: 'mesh', description: 'A style.' },
    out: { type: 'string', value: 'DIR', required: true, description: 'Where to.' },
    max: { type: 'number', value: 'N', integer: true, min: 1, max: 10, description: 'How many.' },
    rate: { type: 'number', value: 'R', min: 0.5, default: 2, description: 'How fast.' },
    json: { type: 'boolean', description: 'As JSON.' },
  },
  args: [{ name: 'ID', description: 'The id.' }],
} as const;

function problem(argv: string[]): { code: string; message: string } {
  try {
    parse(spec, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return { code: (e as UsageError).code, message: (e as UsageError).message };
  }
  throw new Error(`parsed: ${argv.join(' ')}`);
}

describe('the argument parser', () => {
  it('types the values: defaults, lists, numbers, booleans false when absent, choices, inline values', () => {
    expect(parse(spec, ['--out', 'x'])).toEqual({ help: false, values: { out: 'x', style: 'mesh', rate: 2, json: false }, args: [] });
    expect(parse(spec, ['A', '--out=x', '--tag', 'a', '--tag=b', '--max', '3', '--rate', '0.5', '--json', '--style', 'hub', '--name=-dash'])).toEqual({
      help: false,
      values: { out: 'x', tag: ['a', 'b'], max: 3, rate: 0.5, json: true, style: 'hub', name: '-dash' },
      args: ['A'],
    });
    expect(parse(spec, ['--out', 'x', '--', '--json'])).toMatchObject({ values: { json: false }, args: ['--json'] });
  });

  it('answers --help and -h before any check, also where it would be taken for a value', () => {
    for (const argv of [['--help'], ['-h'], ['--frob', '--help'], ['--max', 'x', '-h'], ['--name', '--help']]) expect(parse(spec, argv)).toEqual({ help: true });
  });

  it('names every unknown option at once, with the nearest known one', () => {
    expect(problem(['--frob', '--nme', 'x', '-z'])).toEqual({ code: 'CLI_UNKNOWN_OPTION', message: 'unknown options --frob, --nme (did you mean --name?), -z' });
    expect(() => parse({ name: 'bare', options: {} }, ['--json'])).toThrow('unknown option --json: hub bare takes none');
  });

  it('says what an option takes: a value, no value, one of its choices, a number in its range, itself when required', () => {
    expect(problem(['--out'])).toEqual({ code: 'CLI_BAD_OPTION', message: '--out needs a value: --out DIR' });
    expect(problem(['--out', '-x']).message).toBe('--out needs a value: --out DIR (a value that starts with "-" goes inline: --out=-x)');
    expect(problem(['--out', 'x', '--json=yes']).message).toBe('--json takes no value (got "--json=yes")');
    expect(problem(['--out', 'x', '--style', 'esb']).message).toBe('--style is hub or mesh (got "esb")');
    expect(problem(['--out', 'x', '--max', '11']).message).toBe('--max must be an integer from 1 to 10 (got "11")');
    expect(problem(['--out', 'x', '--max', '2.5']).message).toBe('--max must be an integer from 1 to 10 (got "2.5")');
    expect(problem(['--out', 'x', '--rate', 'soon']).message).toBe('--rate must be a number of at least 0.5 (got "soon")');
    expect(problem(['--out', 'x', '--rate', '']).message).toBe('--rate must be a number of at least 0.5 (got "")');
    expect(problem([])).toEqual({ code: 'CLI_BAD_OPTION', message: 'hub try needs --out DIR: Where to.' });
  });

  it('counts the arguments', () => {
    expect(problem(['--out', 'x', 'A', 'B'])).toEqual({ code: 'CLI_BAD_ARGUMENTS', message: 'unexpected argument "B" (hub try takes ID)' });
    const required = { name: 'need', options: {}, args: [{ name: 'PATH', required: true, variadic: true, description: 'Files or folders.' }] } as const;
    expect(() => parse(required, [])).toThrow('missing PATH (one or more): files or folders');
    expect(parse(required, ['a', 'b', 'c'])).toMatchObject({ args: ['a', 'b', 'c'] });
  });
});

describe('commands and groups', () => {
  const seen: string[] = [];
  const io: Io = { out: (s) => seen.push(s), err: (s) => seen.push(s), env: {}, stdin: process.stdin };
  const show = command({ name: 'things show', summary: 'One thing.', usage: ['hub things show ID'], options: { json: { type: 'boolean', description: 'As JSON.' } }, args: [{ name: 'ID', required: true, description: 'The thing.' }], run: async (v, [id]) => (v.json ? 10 : 0) + Number(id) });
  const list = command({ name: 'things', summary: 'Every thing.', usage: ['hub things [--url URL]'], options: { url: { type: 'string', value: 'URL', description: 'Where.' } }, run: async (v) => (v.url ? 100 : 1) });
  const things = group({ name: 'things', summary: 'Things.', main: list, commands: [show] });

  it('a group picks its subcommand by the first word, also after options; else runs its own command', async () => {
    expect(await things.invoke(['show', '7'], io)).toBe(7);
    expect(await things.invoke(['--json', 'show', '7'], io)).toBe(17);
    expect(await things.invoke(['--url', 'show'], io)).toBe(100);
    expect(await things.invoke([], io)).toBe(1);
  });

  it('a usage error carries the command it was meant for; an unknown subcommand, the group', async () => {
    const meant = await things.invoke(['show'], io).catch((e: unknown) => e as UsageError);
    expect(meant).toMatchObject({ code: 'CLI_BAD_ARGUMENTS', entry: show });
    const unknown = await things.invoke(['shw', '1'], io).catch((e: unknown) => e as UsageError);
    expect(unknown).toMatchObject({ code: 'CLI_UNKNOWN_COMMAND', entry: things, message: 'unknown command "hub things shw" (did you mean show?); hub things has show' });
  });

  it('--help prints the help of the command, or of the group with its commands, and runs nothing', async () => {
    seen.length = 0;
    expect(await things.invoke(['show', '--help'], io)).toBe(0);
    expect(await things.invoke(['-h'], io)).toBe(0);
    expect(seen[0]).toMatch(/^Usage: hub things show ID\n\nOne thing\.\n\nArguments:\n {2}ID {2}The thing\.\n\nOptions:\n {2}--json {6}As JSON\.\n {2}-h, --help {2}Show this help\.$/);
    expect(seen[1]).toMatch(/^Usage: hub things \[--url URL\]\n[\s\S]*\nCommands:\n {2}things show {2}One thing\./);
  });
});
