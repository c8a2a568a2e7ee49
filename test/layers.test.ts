/**
 * The layers of docs/architecture.md, kept by a test over the import graph:
 *   core ← kit ← {journal, config, steps, adapters} ← runtime ← {admin, mesh, flow-test} ← hub ← cli
 * A file imports only its own layer and layers to its left. A failure names each offending import as
 * `file:line → target`, so the fix is obvious: move the shared part left, or inject it from the composition root.
 * Test files are left out (a test may reach any layer to set up what it tests); test-support files are not.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/processes.js';

/** Each layer and its rank: a file may import a layer of lower rank, or its own. */
const RANK: Record<string, number> = {
  core: 0,
  kit: 1,
  sim: 1, // the simulated peers (legacy ERP, shipping API): a leaf that the demo, compare and tests start
  journal: 2,
  config: 2,
  steps: 2,
  adapters: 2,
  runtime: 3,
  admin: 4,
  mesh: 4,
  'flow-test': 4, // hub test's engine: runs a flow's cases through the runtime, its sinks mocked
  hub: 5, // src/hub.ts (the composition root) and src/builtins.ts
  cli: 6,
  api: 6, // src/index.ts, the public API for adapter and step authors
};

/**
 * Imports between layers of the same rank, each one way only, with its reason. Anything else sideways is refused.
 * - config → journal: the flow's `journal:` block and the hub's retention are in the journal's own terms (what it
 *   records, what it keeps), so their types live with the journal.
 * - admin → mesh: the admin API serves the reports `hub compare` writes, read through mesh/compare/report-folder.ts.
 */
const SIDEWAYS = new Set(['config → journal', 'admin → mesh']);

function layerOf(file: string): string | undefined {
  const rel = relative(ROOT, file);
  if (rel.startsWith('adapters/')) return 'adapters';
  if (rel.startsWith('sim/')) return 'sim';
  if (rel === 'src/hub.ts' || rel === 'src/builtins.ts') return 'hub';
  if (rel === 'src/index.ts') return 'api';
  return /^src\/([^/]+)\//.exec(rel)?.[1];
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'console') continue; // the console is a browser bundle of its own
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

interface Edge {
  from: string;
  to: string;
  where: string;
}

function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of ['src', 'adapters', 'sim'].flatMap((d) => sources(join(ROOT, d)))) {
    const text = readFileSync(file, 'utf8');
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), ref.fileName).replace(/\.js$/, '.ts');
      const line = text.slice(0, ref.pos).split('\n').length;
      edges.push({ from: file, to: target, where: `${relative(ROOT, file)}:${line} → ${relative(ROOT, target)}` });
    }
  }
  return edges;
}

const edges = importEdges();

describe('layers', () => {
  it('finds every source file in a known layer', () => {
    const unknown = [...new Set(edges.flatMap((e) => [e.from, e.to]))].filter((f) => layerOf(f) === undefined || RANK[layerOf(f)!] === undefined);
    expect(unknown.map((f) => relative(ROOT, f))).toEqual([]);
    expect(edges.length).toBeGreaterThan(300);
  });

  it.each(Object.keys(RANK))('%s imports only its own layer and layers to its left', (layer) => {
    const offending = edges
      .filter((e) => layerOf(e.from) === layer)
      .filter((e) => {
        const to = layerOf(e.to)!;
        if (to === layer) return false;
        if (RANK[to]! < RANK[layer]!) return false;
        return !SIDEWAYS.has(`${layer} → ${to}`);
      })
      .map((e) => e.where);
    expect(offending, `imports against the layers (docs/architecture.md):\n${offending.join('\n')}`).toEqual([]);
  });

  it('leaves no loop between folders', () => {
    const folders = new Map<string, Set<string>>();
    const folderOf = (f: string) => dirname(relative(ROOT, f));
    for (const e of edges) {
      const a = folderOf(e.from);
      const b = folderOf(e.to);
      if (a !== b && !b.startsWith(`${a}/`) && !a.startsWith(`${b}/`)) (folders.get(a) ?? folders.set(a, new Set()).get(a)!).add(b);
    }
    const loops: string[] = [];
    const visit = (node: string, path: string[]) => {
      for (const next of folders.get(node) ?? []) {
        const at = path.indexOf(next);
        if (at >= 0) loops.push([...path.slice(at), next].join(' → '));
        else if (path.length < 12) visit(next, [...path, next]);
      }
    };
    for (const start of folders.keys()) visit(start, [start]);
    expect(loops, `folder loops:\n${[...new Set(loops)].join('\n')}`).toEqual([]);
  });

  it('allows each sideways import one way only', () => {
    for (const pair of SIDEWAYS) {
      const [a, b] = pair.split(' → ');
      const back = edges.filter((e) => layerOf(e.from) === b && layerOf(e.to) === a).map((e) => e.where);
      expect(back, `${b} imports ${a}, which imports it`).toEqual([]);
    }
  });
});
