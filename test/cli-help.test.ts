import { describe, expect, it } from 'vitest';
import type { Command, Entry } from '../src/cli/args.js';
import { main, SECTIONS } from '../src/cli/main.js';
import { runHub } from './support/processes.js';

// Every command and subcommand answers --help (and -h) with its own usage and options, exit 0, and runs nothing;
// an unknown option is named, with that command's usage only (not the manual), exit 2.

const entries: Entry[] = SECTIONS.flatMap((s) => s.entries);
const commands: Command[] = entries.flatMap((e) => (e.kind === 'command' ? [e] : [...(e.main ? [e.main] : []), ...e.commands]));

async function hub(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  // No hub to call, no configuration to read: --help must not need one.
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s), { env: { HUB_URL: 'http://127.0.0.1:9', HUB_CONFIG: '/nonexistent/hub.yaml' } });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('hub COMMAND --help', () => {
  it('covers every command there is', () => {
    expect(commands.map((c) => c.name).sort()).toEqual(
      ['adapters', 'admin hash-password', 'admin login-link', 'archive', 'audit', 'compare', 'dead-letters', 'dev', 'flow pause', 'flow reload', 'flow resume', 'flows', 'mesh lint', 'mesh render', 'messages', 'messages fixture', 'messages show', 'replay', 'run', 'schema', 'test', 'trace', 'validate'].sort(),
    );
  });

  it.each(commands.map((c) => [c.name, c] as const))('hub %s --help and -h: its usage, arguments and options, exit 0', async (name, c) => {
    for (const flag of ['--help', '-h']) {
      const r = await hub([...name.split(' '), flag]);
      expect([r.code, r.stderr], `${name} ${flag}`).toEqual([0, '']);
      expect(r.stdout.startsWith(`Usage: ${c.usage[0]}`), r.stdout).toBe(true);
      for (const form of c.usage) expect(r.stdout).toContain(form);
      for (const option of Object.keys(c.options)) expect(r.stdout).toMatch(new RegExp(`^ {2}(-\\w, )?--${option}\\b`, 'm'));
      for (const arg of c.args) expect(r.stdout).toContain(arg.name);
      expect(r.stdout).toContain('-h, --help');
    }
    // `hub help NAME` says the same.
    expect((await hub(['help', ...name.split(' ')])).stdout).toBe((await hub([...name.split(' '), '--help'])).stdout);
  });

  it('each command\'s usage lines name only options it declares, and every option but the common ones', () => {
    const common = ['url', 'user', 'json', 'config'];
    for (const c of commands) {
      const named = new Set(c.usage.flatMap((u) => [...u.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!)));
      expect([...named].filter((o) => !(o in c.options)), c.name).toEqual([]);
      expect(Object.keys(c.options).filter((o) => !named.has(o) && !common.includes(o)), c.name).toEqual([]);
    }
  });

  it.each(entries.filter((e) => e.kind === 'group').map((g) => [g.name, g] as const))('hub %s --help: the group with each of its commands, exit 0', async (name, g) => {
    const r = await hub([name, '--help']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^Usage: hub /);
    for (const c of g.kind === 'group' ? g.commands : []) expect(r.stdout).toMatch(new RegExp(`^ {2}${c.name} +${c.summary.replace(/[.()[\]]/g, '\\$&').slice(0, 30)}`, 'm'));
  });

  it.each(commands.map((c) => [c.name, c] as const))('hub %s --no-such-option: named, with that command\'s usage only, exit 2', async (name, c) => {
    const r = await hub([...name.split(' '), '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hub: CLI_UNKNOWN_OPTION: unknown option --no-such-option(: hub .* takes none)?\n\nUsage: /);
    expect(r.stderr).toContain(`\nUsage: ${c.usage[0]}`);
    expect(r.stderr).not.toContain('Operating a running hub');
    expect(r.stdout).toBe('');
  });

  it('hub --help lists every command with its summary; hub alone does too, as a usage error', async () => {
    const help = await hub(['--help']);
    expect(help.code).toBe(0);
    for (const c of commands) expect(help.stdout).toMatch(new RegExp(`^ {2}${c.name} +\\S`, 'm'));
    expect(help.stdout).toContain('Exit codes: 0 ok');
    expect((await hub([])).code).toBe(2);
    expect((await hub(['help'])).stdout).toBe(help.stdout);
  });

  it('an unknown command: named, with the nearest one and the list of commands, exit 2', async () => {
    const r = await hub(['replya']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hub: CLI_UNKNOWN_COMMAND: unknown command "replya" \(did you mean replay\?\)/);
    expect(r.stderr).toMatch(/^ {2}dead-letters +Dead letters grouped/m);
  });

  it('the built CLI: hub replay --help is its usage, exit 0; a bad option is a usage error, exit 2', async () => {
    const help = await runHub(['replay', '--help']);
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toMatch(/^Usage: hub replay ID /);
    const bad = await runHub(['mesh', 'render', '--out', '/tmp/x', '--stlye', 'hub']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^hub: CLI_UNKNOWN_OPTION: unknown option --stlye \(did you mean --style\?\)\n/);
    expect(bad.stderr).toContain('Usage: hub mesh render ');
  });
});
