/**
 * The documentation, kept honest (docs/development.md, "Documentation and its tests"):
 * - the README stays a front door: short, the two commands for a fresh machine, a link to every page of docs/;
 * - every page of docs/ opens with who it is for;
 * - every relative link of the project's Markdown points at a file that exists, and its #anchor at a heading;
 * - every yaml example of the README and docs/ is read by what would read it: hub.yaml by its schema, a flow (or a
 *   part of one, set into a small complete flow) by the hub's linter, anything else must name its file and parse;
 * - every `hub ...` command shown exists, with every --option it uses, and every `npm run NAME` is a script;
 * - every comment in the code that names a *.md document names one that exists.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../src/builtins.js';
import { loadFlows } from '../src/config/load-flows.js';
import { compileFlowSchema, MessageSchemas } from '../src/config/schema-validator.js';
import type { AdapterRegistration } from '../src/core/contracts.js';
import { main } from '../src/cli/main.js';
import { ROOT, runHub } from './support/processes.js';

const read = (file: string) => readFileSync(file, 'utf8');
const rel = (file: string) => relative(ROOT, file);

const README = join(ROOT, 'README.md');
const DOCS = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => join(ROOT, 'docs', f));
/** The pages whose examples are checked: the front door and docs/ (each adapter's README has its own readme.test.ts). */
const PAGES = [README, ...DOCS];

/** Folders never walked: installed, built, cached or generated. */
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', '.cache', '.hub', 'test-results', 'coverage']);

function walk(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, keep, out);
    else if (keep(path)) out.push(path);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown, read as GitHub reads it

interface Fence {
  lang: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Fenced code blocks, also indented ones (inside a list item), with their indentation taken off. */
function fences(markdown: string): Fence[] {
  const out: Fence[] = [];
  for (const m of markdown.matchAll(/^( *)```([\w-]*)[^\n]*\n([\s\S]*?)^\1```[ \t]*$/gm)) {
    const indent = m[1]!.length;
    const text = m[3]!
      .split('\n')
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join('\n');
    out.push({ lang: m[2]!, text, line: markdown.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** The text outside fenced code blocks: the blocks blanked out, so offsets and line numbers still hold. */
function prose(markdown: string): string {
  return markdown.replace(/^( *)```[\s\S]*?^\1```[ \t]*$/gm, (block) => block.replace(/[^\n]/g, ' '));
}

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of prose(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

interface Link {
  target: string;
  line: number;
}

/** Inline links and images outside code (fenced blocks and code spans), with their line. */
function linksOf(markdown: string): Link[] {
  const text = prose(markdown).replace(/`[^`\n]*`/g, (span) => span.replace(/[^\n]/g, ' '));
  return [...text.matchAll(/!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => ({
    target: m[1]!,
    line: text.slice(0, m.index).split('\n').length,
  }));
}

// ---------------------------------------------------------------------------------------------------------------

describe('the README, a front door', () => {
  const readme = read(README);

  it('is short: under 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThan(250);
  });

  it('gives the two commands for a fresh machine: the demo and the whole test suite', () => {
    const first = fences(readme).find((f) => f.lang === 'sh')!;
    const commands = first.text.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '');
    expect(commands).toEqual(['npm run demo', 'npm test']);
    const scripts = (JSON.parse(read(join(ROOT, 'package.json'))) as { scripts: Record<string, string> }).scripts;
    expect(scripts.demo).toBe('bash scripts/demo.sh');
    expect(scripts.test).toBe('bash scripts/test.sh');
    // The demo runs on the hub's embedded defaults: no Redis, no broker.
    expect(read(join(ROOT, 'scripts', 'demo.sh'))).not.toMatch(/REDIS_URL|AMQP_URL|KAFKA_BROKERS|kafka\.sh/);
  });

  it('maps every page of docs/', () => {
    const linked = new Set(linksOf(readme).map((l) => l.target.split('#')[0]));
    expect(DOCS.map(rel).filter((page) => !linked.has(page))).toEqual([]);
  });
});

describe('docs/', () => {
  it.each(DOCS.map(rel))('%s opens with who it is for and what it covers', (page) => {
    const lines = read(join(ROOT, page)).split('\n');
    expect(lines[0]).toMatch(/^# \S/);
    expect(lines[1]).toBe('');
    expect(lines[2], 'the first paragraph starts "*For <readers>.*"').toMatch(/^\*For [^*]+\.\* \S/);
  });
});

describe('links', () => {
  const markdown = walk(ROOT, (f) => f.endsWith('.md'));

  it('finds the Markdown of the project', () => {
    expect(markdown.map(rel)).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'adapters/amqp/README.md', 'src/journal/README.md']));
  });

  it('every relative link points at a file that exists, and every #anchor at a heading of it', () => {
    const broken: string[] = [];
    const anchors = new Map<string, Set<string>>();
    const anchorsIn = (file: string) => anchors.get(file) ?? anchors.set(file, anchorsOf(read(file))).get(file)!;
    for (const file of markdown) {
      for (const { target, line } of linksOf(read(file))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const to = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
        const where = `${rel(file)}:${line}: ${target}`;
        if (!existsSync(to)) broken.push(`${where}: no such file`);
        else if (anchor !== undefined && to.endsWith('.md') && !anchorsIn(to).has(anchor)) broken.push(`${where}: no heading "#${anchor}" in ${rel(to)}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// yaml examples

const FLOW_SCHEMA = JSON.parse(read(join(ROOT, 'schemas', 'flow.schema.json'))) as { properties: Record<string, unknown> };
const FLOW_KEYS = new Set(Object.keys(FLOW_SCHEMA.properties));

type Example = { page: string; line: number; text: string; value: Record<string, unknown> };

function yamlExamples(): { hub: Example[]; flows: Example[]; parts: Example[]; others: Example[]; unknown: string[] } {
  const out = { hub: [] as Example[], flows: [] as Example[], parts: [] as Example[], others: [] as Example[], unknown: [] as string[] };
  for (const file of PAGES) {
    for (const f of fences(read(file)).filter((x) => x.lang === 'yaml' || x.lang === 'yml')) {
      const where = { page: rel(file), line: f.line, text: f.text };
      const value = parseYaml(f.text) as Record<string, unknown>;
      const firstLine = f.text.split('\n')[0]!.trim();
      const keys = value && typeof value === 'object' ? Object.keys(value) : [];
      if (firstLine === '# hub.yaml') out.hub.push({ ...where, value });
      else if (keys.includes('name') && keys.includes('source')) out.flows.push({ ...where, value });
      else if (keys.length > 0 && keys.every((k) => FLOW_KEYS.has(k))) out.parts.push({ ...where, value });
      else if (/^# [\w./-]+\.ya?ml$/.test(firstLine)) out.others.push({ ...where, value });
      else out.unknown.push(`${where.page}:${where.line}`);
    }
  }
  return out;
}

describe('yaml examples', () => {
  const examples = yamlExamples();
  const work = mkdtempSync(join(tmpdir(), 'docs-examples-'));
  let registry: ReturnType<typeof builtinRegistry>;

  beforeAll(async () => {
    registry = builtinRegistry();
    // The adapter of your own that docs/adapters.md shows and its flow uses (imported as hub.yaml would load it).
    const fileDrop = (await import(pathToFileURL(join(ROOT, 'examples', 'adapters', 'file-drop', 'index.js')).href)) as { default: AdapterRegistration };
    registry.registerAdapter(fileDrop.default);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /**
   * Lints one flow file as `hub validate` does, in a folder as deep as its modeline says (`../schemas` or
   * `../../schemas`), so that relative paths such as a WSDL resolve as in flows/. Unset variables are warnings.
   */
  function lint(name: string, text: string): string[] {
    const depth = /\$schema=((?:\.\.\/)+)schemas\/flow\.schema\.json/.exec(text)?.[1]!.length ?? 3;
    const root = mkdtempSync(join(work, 'project-'));
    symlinkSync(join(ROOT, 'schemas'), join(root, 'schemas'), 'dir');
    const dir = join(root, ...Array.from({ length: depth / 3 }, (_, i) => (i === 0 ? 'flows' : `sub${i}`)));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.yaml`), text);
    const result = loadFlows([dir], {
      registry,
      schemas: new MessageSchemas(join(ROOT, 'schemas')),
      logger: pino({ level: 'silent' }),
      limits: { bodyBytes: 1 << 20, maxDepth: 64 },
      env: {},
      mode: 'validate',
    });
    return result.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col}: ${d.message}`);
  }

  it('each says what it is: a hub.yaml, a flow, a part of a flow, or a file named in its first line', () => {
    expect(examples.unknown).toEqual([]);
    expect(examples.hub.length).toBeGreaterThanOrEqual(3);
    expect(examples.flows.length).toBeGreaterThanOrEqual(4);
    expect(examples.parts.length).toBeGreaterThanOrEqual(3);
  });

  it('every hub.yaml matches the hub configuration schema', () => {
    const validate = compileFlowSchema(JSON.parse(read(join(ROOT, 'schemas', 'hub.schema.json'))) as Record<string, unknown>);
    const problems = examples.hub.flatMap((e) => (validate(e.value) ? [] : (validate.errors ?? []).map((x) => `${e.page}:${e.line}: ${x.instancePath || '/'} ${x.message}`)));
    expect(problems).toEqual([]);
  });

  it('every flow passes the linter', () => {
    const problems = examples.flows.flatMap((e, i) => lint(`example-${i}`, e.text).map((d) => `${e.page}:${e.line} (flow ${String(e.value.name)}): ${d}`));
    expect(problems).toEqual([]);
  });

  it('every part of a flow passes the linter, set into a small complete flow', () => {
    const problems = examples.parts.flatMap((e, i) => {
      const part = e.value;
      const flow: Record<string, unknown> = {
        name: `docs-part-${i}`,
        source: { rest: { method: 'POST', path: `/docs-part-${i}` } },
        steps: [{ to: 'out' }],
        ...part,
        sinks: { out: { rest: { url: 'http://127.0.0.1:9/out' } }, ...(part.sinks as object | undefined) },
      };
      return lint(`part-${i}`, JSON.stringify(flow, null, 2)).map((d) => `${e.page}:${e.line} (a part of a flow): ${d}`);
    });
    expect(problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// commands

/** Command lines shown in the pages: shell blocks (their `$ ` lines when they have any), `$ ` lines of plain blocks, code spans. */
function shownCommands(): { where: string; command: string }[] {
  const out: { where: string; command: string }[] = [];
  for (const file of PAGES) {
    const markdown = read(file);
    for (const f of fences(markdown)) {
      const shell = ['sh', 'bash', 'shell', 'console'].includes(f.lang);
      if (!shell && f.lang !== '') continue;
      const lines = f.text.replace(/\\\n\s*/g, ' ').split('\n');
      const prompted = lines.some((l) => l.startsWith('$ '));
      if (!shell && !prompted) continue;
      lines.forEach((l, i) => {
        if (prompted && !l.startsWith('$ ')) return;
        out.push({ where: `${rel(file)}:${f.line + 1 + i}`, command: l.replace(/^\$ /, '') });
      });
    }
    for (const m of prose(markdown).matchAll(/`([^`\n]+)`/g)) out.push({ where: `${rel(file)}:${markdown.slice(0, m.index).split('\n').length}`, command: m[1]! });
  }
  return out.flatMap(({ where, command }) =>
    command
      .replace(/(^|\s)#.*$/, '')
      .split(/\s+\|\s+|\s*&&\s*|\s*;\s*|\s&(?=\s|$)/)
      .map((segment) => ({ where, command: segment.trim() })),
  );
}

describe('commands shown', () => {
  const shown = shownCommands();
  let help = '';
  const perCommand = new Map<string, { code: number | null; text: string }>();

  /** `hub ARGS` in this process (help only: nothing starts), as the CLI prints it; a process per question took minutes. */
  async function hub(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(args, (s) => (stdout += `${s}\n`), (s) => (stderr += `${s}\n`));
    return { code, stdout, stderr };
  }

  beforeAll(async () => {
    const r = await hub(['--help']);
    expect(r.code).toBe(0);
    help = r.stdout;
    // The built CLI answers the same (the in-process answers stand for it).
    expect((await runHub(['--help'])).stdout).toBe(help);
  });

  /** `hub CMD --help` (its help, or its usage error), asked only when the overall help does not settle a question. */
  async function helpOf(words: string[]): Promise<{ code: number | null; text: string }> {
    const key = words.join(' ');
    if (!perCommand.has(key)) {
      const r = await hub([...words, '--help']);
      perCommand.set(key, { code: r.code, text: `${r.stdout}\n${r.stderr}` });
    }
    return perCommand.get(key)!;
  }

  /** Whether `text` names `words` (`hub mesh lint`, `--flow`) as a word of its own. */
  const names = (text: string, words: string) => new RegExp(`(^|[\\s\\[])${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[\\s\\]=,]|$)`, 'm').test(text);

  /** A command exists when the overall help names it, or its own `--help` answers 0 and names it. */
  async function exists(words: string[]): Promise<boolean> {
    const name = `hub ${words.join(' ')}`;
    if (names(help, name)) return true;
    const own = await helpOf(words);
    return own.code === 0 && names(own.text, name);
  }

  it('every `hub ...` command exists, with every option it uses', async () => {
    const hubCommands = shown.flatMap(({ where, command }) => {
      const m = /(?:^|\s)(?:npx\s+)?hub\s+(.+)$/.exec(command);
      return m ? [{ where, args: m[1]! }] : [];
    });
    expect(hubCommands.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const { where, args } of hubCommands) {
      const words: string[] = [];
      for (const token of args.split(/\s+/)) {
        if (words.length === 2 || !/^[a-z][a-z-]*$/.test(token)) break;
        words.push(token);
      }
      const [top, second] = words;
      const command: string[] = [];
      if (top !== undefined) {
        if (!(await exists([top]))) {
          problems.push(`${where}: hub ${top}: no such command`);
          continue;
        }
        command.push(top);
        if (second !== undefined && (await exists([top, second]))) command.push(second);
        else if (second !== undefined) {
          // Not a subcommand: fine for a command that takes arguments (`hub validate flows`), not for a group.
          const about = `${help}\n${(await helpOf([top])).text}`;
          const subs = new Set([...about.matchAll(new RegExp(`hub ${top} ([a-z][a-z-]*)(?=\\s|$)`, 'gm'))].map((x) => x[1]!));
          const plain = new RegExp(`hub ${top}( \\[| [A-Z]|$)`, 'm').test(about);
          if (subs.size > 0 && !plain) {
            problems.push(`${where}: hub ${top} ${second}: no such subcommand (${[...subs].join(', ')})`);
            continue;
          }
        }
      }
      for (const option of new Set([...args.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((x) => x[0]))) {
        if (option === '--help' || option === '--version') continue;
        if (names(help, option) || names((await helpOf(command)).text, option)) continue;
        problems.push(`${where}: hub ${command.join(' ')} ${option}: no such option`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every `npm run NAME` is a script of package.json', () => {
    const scripts = (JSON.parse(read(join(ROOT, 'package.json'))) as { scripts: Record<string, string> }).scripts;
    const missing = shown.flatMap(({ where, command }) => [...command.matchAll(/npm run (?:--silent )?([\w:-]+)/g)].filter((m) => !(m[1]! in scripts)).map((m) => `${where}: npm run ${m[1]}`));
    expect(missing).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// documents named in comments

/**
 * Pointers fixed on another branch that has not met this one yet: tolerated while they are broken. Drop an entry
 * once its fix is merged (it then matches nothing).
 */
/** The [start, end) ranges of a TypeScript or JavaScript file's comments. */
function commentRanges(file: string, text: string): [number, number][] {
  const kind = /\.(m|c)?js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const ranges = new Map<number, [number, number]>();
  const visit = (node: ts.Node) => {
    for (const r of [...(ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []), ...(ts.getTrailingCommentRanges(text, node.getEnd()) ?? [])]) ranges.set(r.pos, [r.pos, r.end]);
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return [...ranges.values()];
}

/** Shell comments: from a # at a line's start or after a space, to the line's end (good enough for our scripts). */
function shellCommentRanges(text: string): [number, number][] {
  return [...text.matchAll(/(^|[ \t])#(?!!)[^\n]*/gm)].map((m) => [m.index + m[1]!.length, m.index + m[0].length]);
}

describe('documents named in comments', () => {
  const files = ['src', 'adapters', 'scripts', 'test', 'bench', 'sim', 'examples'].flatMap((d) => walk(join(ROOT, d), (f) => /\.(ts|js|mjs|cjs|sh)$/.test(f)));

  it('each exists (beside the file, or from the project root), with the section it names', () => {
    expect(files.length).toBeGreaterThan(200);
    const broken: string[] = [];
    let found = 0;
    for (const file of files) {
      const text = read(file);
      const refs = [...text.matchAll(/(?<![\w./*-])[\w.-][\w./-]*\.md\b(?:,? \(?"([^"\n]+)")?/g)];
      if (refs.length === 0) continue;
      const comments = file.endsWith('.sh') ? shellCommentRanges(text) : commentRanges(file, text);
      for (const ref of refs) {
        if (!comments.some(([a, b]) => ref.index >= a && ref.index < b)) continue;
        found++;
        const doc = /^[^,( ]+\.md/.exec(ref[0])![0];
        const at = [resolve(dirname(file), doc), resolve(ROOT, doc)].find((p) => existsSync(p));
        const where = `${rel(file)}:${text.slice(0, ref.index).split('\n').length}`;
        if (!at) {
          broken.push(`${where}: ${doc} does not exist`);
        } else if (ref[1] !== undefined && !anchorsOf(read(at)).has(anchorsOf(`# ${ref[1]}`).values().next().value!)) {
          broken.push(`${where}: ${rel(at)} has no section "${ref[1]}"`);
        }
      }
    }
    expect(found).toBeGreaterThan(5);
    expect(broken).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// docs/dev-and-trace.md, run: its flow on a real hub with a real greeter service, `hub trace` as the page shows it,
// a broken edit and a good one reloaded, each printed as the page shows it.

describe('docs/dev-and-trace.md, run', () => {
  const page = read(join(ROOT, 'docs', 'dev-and-trace.md'));
  const blocks = fences(page);
  const PORT = 22151;
  const TOKEN = 'docs-dev-and-trace-token'.padEnd(40, 'x');
  const work = mkdtempSync(join(tmpdir(), 'docs-dev-trace-'));
  const flowFile = join(work, 'flows', 'greetings.yaml');
  let hub: import('../src/hub.js').Hub;
  let greeter: import('node:http').Server;

  /** Ids, times and durations differ from run to run. */
  const normal = (text: string): string =>
    text
      .replace(/\b[0-9A-HJKMNP-TV-Z]{26}\b/g, 'ID')
      .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME')
      .replace(/\[\d\d:\d\d:\d\d\]/g, '[HH:MM:SS]')
      .replace(/\d+(\.\d+)? ms/g, 'N ms')
      .replace(/\S*greetings\.yaml/g, 'flows/greetings.yaml');

  beforeAll(async () => {
    const { createServer } = await import('node:http');
    greeter = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { name } = JSON.parse(body) as { name: string };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ greeting: `${req.url === '/fr' ? 'Bonjour' : 'Hello'}, ${name}` }));
      });
    });
    await new Promise<void>((done) => greeter.listen(PORT + 1, '127.0.0.1', done));
    mkdirSync(join(work, 'flows'));
    writeFileSync(flowFile, blocks.find((b) => b.lang === 'yaml')!.text);
    const { Hub } = await import('../src/hub.js');
    const { defaultHubConfig } = await import('../src/config/hub-config.js');
    hub = await Hub.build({
      config: defaultHubConfig({ port: PORT, flowsDir: join(work, 'flows'), logLevel: 'silent', journal: { dir: join(work, 'journal') }, admin: { token: TOKEN } }),
      registry: builtinRegistry(),
      logger: pino({ level: 'silent' }),
      env: { ...process.env, GREETER_URL: `http://127.0.0.1:${PORT + 1}` },
    });
    await hub.listen();
  });
  afterAll(async () => {
    await hub?.stop();
    greeter?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('hub trace prints a message as the page shows it', async () => {
    const shown = blocks.find((b) => b.lang === 'text' && b.text.startsWith('tracing greetings'))!.text.trimEnd();
    const command = blocks.find((b) => b.lang === 'sh' && b.text.includes('hub trace'))!.text.trim().replace(/^npx hub /, '').split(/\s+/);
    const out: string[] = [];
    const env = { HUB_URL: `http://127.0.0.1:${PORT}`, HUB_ADMIN_TOKEN: TOKEN };
    const traced = main(command, (s) => out.push(s), (s) => out.push(s), { env });
    const deadline = Date.now() + 5_000;
    while (hub.runners[0]!.traces === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const body of ['{"name":"Ada","lang":"fr"}', '{"name":"Grace"}']) {
      const res = await fetch(`http://127.0.0.1:${PORT}/greetings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(200);
    }
    expect(await traced).toBe(0);
    const printed = normal(out.join('\n')).split('\n');
    const expected = normal(shown).split('\n');
    expect(printed.slice(0, expected.length)).toEqual(expected);
    expect(printed.join('\n')).toContain('→ english');
    expect(printed.at(-1)).toBe('trace ended (limit): 2 message(s)');
  });

  it('a broken edit and a good one, reloaded, print as the page shows; the answer has the keys the page shows', async () => {
    const { formatReload } = await import('../src/cli/trace.js');
    const shown = normal(blocks.find((b) => b.lang === 'text' && b.text.includes('changed: greetings'))!.text.trimEnd()).split('\n').map((l) => l.replace('[HH:MM:SS] ', ''));
    const good = readFileSync(flowFile, 'utf8');
    writeFileSync(flowFile, good.replace('"en" }', '"en", "v": 2 }'));
    const changed = await hub.reload();
    writeFileSync(flowFile, good.replace('transform:', 'transfrom:'));
    const broken = await hub.reload();
    expect(normal([...formatReload(changed), ...formatReload(broken)].join('\n')).split('\n')).toEqual(shown);
    const keys = Object.keys(JSON.parse(blocks.find((b) => b.lang === 'json')!.text) as object);
    expect(Object.keys(changed).sort()).toEqual(keys.sort());
    // The running version goes on serving.
    const res = await fetch(`http://127.0.0.1:${PORT}/greetings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    expect(await res.json()).toEqual({ greeting: 'Hello, Ada' });
  });
});
