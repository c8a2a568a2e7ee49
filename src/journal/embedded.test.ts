import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, appendFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import type { Journal } from './contract.js';
import { journalContractSuite } from './contract.suite.js';
import { openEmbeddedJournal } from './embedded.js';
import { JournalError } from './errors.js';

const HERE = dirname(fileURLToPath(import.meta.url));

journalContractSuite('embedded', async ({ leaseMs }) => {
  const dir = await mkdtemp(join(tmpdir(), 'journal-'));
  const open: Journal[] = [];
  return {
    shared: false,
    async open() {
      const j = await openEmbeddedJournal({ dir, ...(leaseMs ? { leaseMs } : {}) });
      open.push(j);
      return j;
    },
    async destroy() {
      await Promise.all(open.map((j) => j.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded journal', () => {
  const dirs: string[] = [];
  const journals: Journal[] = [];
  afterEach(async () => {
    await Promise.all(journals.splice(0).map((j) => j.close()));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  async function tempDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'journal-'));
    dirs.push(d);
    return d;
  }
  const msg = (id: string) => ({ id, flow: 'f', source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.from(`body of ${id}`) });

  it('refuses a second open of one directory while the first holds it, and opens again once it is closed', async () => {
    const dir = await tempDir();
    const first = await openEmbeddedJournal({ dir });
    const err = await openEmbeddedJournal({ dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe('JOURNAL_LOCKED');
    await first.close();
    journals.push(await openEmbeddedJournal({ dir }));
  });

  it('takes over the lock of a process that is gone', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), '2147483646'); // no such process
    const warnings: string[] = [];
    journals.push(await openEmbeddedJournal({ dir, onWarning: (m) => warnings.push(m) }));
    expect(warnings.join('\n')).toContain('which is gone');
  });

  it('cuts off a torn last line and keeps every whole one', async () => {
    const dir = await tempDir();
    const j = await openEmbeddedJournal({ dir });
    await j.record(msg('a'), [], { maxBodyBytes: 100 });
    await j.close();
    await appendFile(join(dir, 'journal.log'), '{"o":"rec","m":{"id":"b","fl');
    const warnings: string[] = [];
    const k = await openEmbeddedJournal({ dir, onWarning: (m) => warnings.push(m) });
    journals.push(k);
    expect(warnings.join('\n')).toContain('torn last line');
    expect(await k.get('a')).toBeDefined();
    await k.record(msg('c'), [], { maxBodyBytes: 100 });
    await k.close();
    const again = await openEmbeddedJournal({ dir });
    journals.push(again);
    expect((await again.query({})).items.map((i) => i.id)).toEqual(expect.arrayContaining(['a', 'c']));
  });

  it('writes made while it compacts are neither lost nor applied twice on the next open', async () => {
    const dir = await tempDir();
    const j = await openEmbeddedJournal({ dir, compactBytes: 200_000 });
    const now = (): string => new Date().toISOString();
    for (let i = 0; i < 300; i++) await j.record({ ...msg(`m${i}`), body: Buffer.alloc(400, 97) }, [{ type: 'received', at: now() }], { maxBodyBytes: 1000 });
    // Twenty writers at once, so that compactions run while writes arrive.
    await Promise.all(Array.from({ length: 20 }, async (_, w) => {
      for (let k = 0; k < 150; k++) await j.append(`m${(w * 150 + k) % 300}`, [{ type: 'step', at: now(), step: `w${w}-${k}` }]);
    }));
    const before = new Map<string, number>();
    for (let i = 0; i < 300; i++) before.set(`m${i}`, (await j.get(`m${i}`))!.timeline.length);
    await j.close();
    const k = await openEmbeddedJournal({ dir });
    journals.push(k);
    const changed: string[] = [];
    for (let i = 0; i < 300; i++) if ((await k.get(`m${i}`))!.timeline.length !== before.get(`m${i}`)) changed.push(`m${i}`);
    expect(changed).toEqual([]);
    expect([...before.values()].reduce((a, b) => a + b, 0)).toBe(300 + 20 * 150);
  });

  it('compacts a grown log into a snapshot that reopens to the same state', async () => {
    const dir = await tempDir();
    const j = await openEmbeddedJournal({ dir, compactBytes: 20_000 });
    for (let i = 0; i < 60; i++) {
      const id = `m-${String(i).padStart(3, '0')}`;
      await j.record(msg(id), [{ type: 'received', at: new Date().toISOString() }], { maxBodyBytes: 100 });
      for (let k = 0; k < 5; k++) await j.append(id, [{ type: 'step', at: new Date().toISOString(), step: `${k}:transform` }]);
      if (i % 3 === 0) await j.deadLetter(id, { error: { code: 'INTERNAL', message: 'boom', step: '4:transform' }, attempt: 1 });
      else if (i % 3 === 1) await j.remove(id);
    }
    await j.scheduleRetry('m-002', { dueAt: new Date().toISOString(), attempt: 2 });
    const before = { page: await j.query({ limit: 500 }), groups: await j.deadLetterGroups(), rec: await j.get('m-003') };
    await j.close();
    const size = (await stat(join(dir, 'journal.log'))).size;
    expect(size).toBeLessThan(60_000); // uncompacted it would be well over 60 kB
    const k = await openEmbeddedJournal({ dir });
    journals.push(k);
    expect(await k.query({ limit: 500 })).toEqual(before.page);
    expect(await k.deadLetterGroups()).toEqual(before.groups);
    expect(await k.get('m-003')).toEqual(before.rec);
    expect((await k.claimDueRetries(5)).map((c) => c.id)).toEqual(['m-002']);
  });

  it('keeps every acknowledged write when the process is killed with SIGKILL mid-write', async () => {
    // The child runs the real module, transpiled to plain JavaScript (Node 20 cannot run TypeScript itself).
    // Laid out as in src/ (journal/ beside core/), so the journal's imports of core/ resolve.
    const root = await tempDir();
    const build = join(root, 'journal');
    await mkdir(join(root, 'core'));
    await mkdir(build);
    const core = ts.transpileModule(await readFile(join(HERE, '..', 'core', 'errors.ts'), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    await writeFile(join(root, 'core', 'errors.js'), core.outputText);
    await writeFile(join(root, 'package.json'), '{"type":"module"}');
    const parts = (await readdir(join(HERE, 'embedded'))).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => `embedded/${f.slice(0, -3)}`);
    await mkdir(join(build, 'embedded'));
    for (const file of ['contract', 'errors', 'shared', 'embedded', ...parts]) {
      const out = ts.transpileModule(await readFile(join(HERE, `${file}.ts`), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      await writeFile(join(build, `${file}.js`), out.outputText);
    }
    await writeFile(join(build, 'package.json'), '{"type":"module"}');
    await writeFile(
      join(build, 'child.js'),
      `import { openEmbeddedJournal } from './embedded.js';
       const j = await openEmbeddedJournal({ dir: process.argv[2], compactBytes: 50_000 });
       let n = 0;
       const one = async (i) => {
         const id = 'k-' + i;
         await j.record({ id, flow: 'f', source: 's', receivedAt: new Date().toISOString(), headers: {}, body: Buffer.alloc(300, 97) }, [{ type: 'received', at: new Date().toISOString() }], { maxBodyBytes: 1000 });
         await j.deadLetter(id, { error: { code: 'INTERNAL', message: 'x' }, attempt: 1 });
         process.stdout.write('ack ' + id + '\\n');
       };
       for (;;) { const batch = []; for (let k = 0; k < 8; k++) batch.push(one(n++)); await Promise.all(batch); }`,
    );
    const dir = join(await tempDir(), 'journal');
    await mkdir(dir);
    for (let round = 0; round < 3; round++) {
      const acked = await new Promise<string[]>((resolve, reject) => {
        const child = spawn(process.execPath, [join(build, 'child.js'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
        const ids: string[] = [];
        let buf = '';
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) if (l.startsWith('ack ')) ids.push(l.slice(4));
          if (ids.length >= 150 * (round + 1) && !child.killed) child.kill('SIGKILL');
        });
        child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(ids) : reject(new Error(`child exited without being killed: ${err}`))));
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      });
      expect(acked.length).toBeGreaterThan(0);
      const j = await openEmbeddedJournal({ dir }); // the dead child's lock is taken over
      for (const id of acked) expect((await j.get(id))?.status, id).toBe('dead');
      await j.close();
    }
  }, 40_000);
});
