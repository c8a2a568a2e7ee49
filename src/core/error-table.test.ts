/**
 * Keeps the two error tables of errors.ts complete: every code the sources raise, compare or pass on is in one of
 * them, every code in them is raised somewhere (or documented), no code is in both, and every entry says how to get
 * out of it. Codes that belong to others (Node's system errors, undici's, fastify's, the yaml package's) are named
 * below with whose they are.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_ERROR_CODES, ERROR_CODES } from './errors.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** Codes of other software that our sources compare errors with. */
const FOREIGN: [RegExp, string][] = [
  [/^E[A-Z]+$/, 'Node system errors (ENOENT, EADDRINUSE ...)'],
  [/^UND_ERR_[A-Z_]+$/, 'undici (fetch)'],
  [/^FST_ERR_[A-Z_]+$/, 'fastify'],
  [/^DUPLICATE_KEY$/, 'the yaml package'],
];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const files = ['src', 'adapters', 'sim'].flatMap((d) => sources(join(ROOT, d))).filter((f) => relative(ROOT, f) !== join('src', 'core', 'errors.ts'));
const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
const docs = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f))].map((f) => readFileSync(f, 'utf8')).join('\n');
const messageCodes = Object.keys(ERROR_CODES);
const configCodes = Object.keys(CONFIG_ERROR_CODES);
const all = new Set([...messageCodes, ...configCodes]);

function matches(pattern: RegExp): string[] {
  return [...new Set([...text.matchAll(pattern)].map((m) => m[1]!))].sort();
}

describe('the error tables', () => {
  it('hold each code once: none is in both', () => {
    expect(messageCodes.filter((c) => configCodes.includes(c))).toEqual([]);
  });

  it('every code raised, passed on or compared with in the sources is in a table (or is another program\'s)', () => {
    const raised = matches(/\b(?:hubError|new (?:Permanent|Retryable|Config|Usage|Admin|ConfigFile|HubConfig)Error)\(\s*'([A-Z][A-Z0-9_]*)'/g);
    expect(raised.length).toBeGreaterThan(30);
    const named = matches(/\bcode:\s*'([A-Z][A-Z0-9_]*)'/g);
    const compared = matches(/\.code\s*[!=]==?\s*'([A-Z][A-Z0-9_]*)'/g);
    const unknown = [...raised, ...named, ...compared].filter((c) => !all.has(c) && !FOREIGN.some(([p]) => p.test(c)));
    expect(unknown).toEqual([]);
  });

  it('every code in a table is raised somewhere, or documented', () => {
    const unused = [...all].filter((c) => !text.includes(`'${c}'`) && !docs.includes(c));
    expect(unused).toEqual([]);
  });

  it('every entry has a title and a hint that says what to do; a command line to correct exits 2, the rest 1', () => {
    for (const [code, spec] of [...Object.entries(ERROR_CODES), ...Object.entries(CONFIG_ERROR_CODES)]) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(spec.title, code).toMatch(/^[A-Z]/);
      expect(spec.hint.length, code).toBeGreaterThan(10);
    }
    const usage = ['CLI_UNKNOWN_COMMAND', 'CLI_UNKNOWN_OPTION', 'CLI_BAD_OPTION', 'CLI_BAD_ARGUMENTS', 'FLOW_UNKNOWN'];
    for (const [code, spec] of Object.entries(CONFIG_ERROR_CODES)) expect([code, spec.exit]).toEqual([code, usage.includes(code) ? 2 : 1]);
  });

  it('no control flow on an error\'s name or message text, but for other programs\' errors', () => {
    // Classes and codes decide; text is for people. Each exception is a line of a file, with why.
    const allowed: [string, string, string][] = [
      ['src/runtime/flow-runner.ts', "name === 'JournalError'", 'being replaced by class and code by the runner\'s owner'],
      ['src/journal/redis.ts', 'NOT_FOUND', 'our Lua scripts\' error replies, which are text on the wire'],
      ['src/kit/http-client.ts', "name === 'TimeoutError'", 'AbortSignal.timeout()\'s DOMException, known by its name as WHATWG says'],
      ['src/mesh/compare/load-driver.ts', "name === 'TimeoutError'", 'the same DOMException'],
      ['adapters/amqp/sink.ts', "name !== 'TimeoutError'", 'the same DOMException'],
      ['adapters/kafka/sink.ts', "name === 'TimeoutError'", 'the same DOMException'],
      ['adapters/kafka/client.ts', 'timed? ?out', 'KafkaJS timeouts, some of which say so only in their text'],
      ['src/config/yaml-source.ts', '/alias/i', 'the yaml package\'s alias limit, a plain ReferenceError'],
      ['adapters/amqp/connection.ts', 'message.includes(e.code)', 'formats a message (no code twice), no branching on the error'],
    ];
    const offenders = files.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\.name\s*[!=]==\s*'[A-Za-z]*Error'|message\.(includes|startsWith|endsWith|match)\(|\.test\(.*\.message\b/.test(line) ? [{ file: relative(ROOT, f), line, at: `${relative(ROOT, f)}:${i + 1}` }] : [])),
    );
    expect(offenders.filter((o) => !allowed.some(([file, snippet]) => o.file === file && o.line.includes(snippet))).map((o) => o.at)).toEqual([]);
  });
});
