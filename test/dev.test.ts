import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../adapters/amqp/test-support.js';
import { HUB_BIN, ROOT } from './support/processes.js';

// `hub dev` and `hub run`'s SIGHUP as real processes: an edit is picked up in under a second while requests keep
// coming, none of them failing; a broken edit keeps the running version and prints its problems at file:line:col.

const hello = (greeting: string): string => `name: hello
source:
  rest: { method: POST, path: /hello }
steps:
  - transform: { jsonata: '{ "greeting": "${greeting}, " & name }' }
`;

interface Proc {
  child: ChildProcess;
  output: () => string;
  url: string;
}

const work = mkdtempSync(join(tmpdir(), 'h15-dev-'));
const started: Proc[] = [];

function start(args: string[], port: number, flows: string): Proc {
  const child = spawn(process.execPath, [HUB_BIN, ...args, '--flows', flows, '--port', String(port)], { cwd: ROOT, env: { ...process.env, HUB_JOURNAL_DIR: join(work, `journal-${port}`), HUB_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const proc = { child, output: () => output, url: `http://127.0.0.1:${port}` };
  started.push(proc);
  return proc;
}

async function greet(url: string, name = 'Ada'): Promise<{ status: number; greeting?: string }> {
  const res = await request(`${url}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  const body = (await res.body.json()) as { greeting?: string };
  return { status: res.statusCode, ...(body.greeting ? { greeting: body.greeting } : {}) };
}

afterAll(async () => {
  for (const p of started) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      await once(p.child, 'exit');
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('hub dev', () => {
  it('picks up an edit in under a second with no failed request; a broken edit keeps the running version', async () => {
    const flows = join(work, 'dev-flows');
    mkdirSync(flows);
    writeFileSync(join(flows, 'hello.yaml'), hello('Hello'));
    const dev = start(['dev'], 22121, flows);
    await waitFor(() => dev.output().includes('hub dev: serving 1 flow(s)'), 20_000, 'hub dev to serve');
    expect((await greet(dev.url)).greeting).toBe('Hello, Ada');

    let loading = true;
    const failures: string[] = [];
    const seen: { at: number; greeting: string }[] = [];
    const worker = async (): Promise<void> => {
      while (loading) {
        try {
          const r = await greet(dev.url);
          if (r.status !== 200) failures.push(String(r.status));
          else seen.push({ at: Date.now(), greeting: r.greeting! });
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const load = Promise.all([worker(), worker(), worker()]);
    await sleep(300);
    const saved = Date.now();
    writeFileSync(join(flows, 'hello.yaml'), hello('Bonjour'));
    await waitFor(() => seen.some((s) => s.greeting === 'Bonjour, Ada'), 5_000, 'the edit to be served');
    const tookMs = seen.find((s) => s.greeting === 'Bonjour, Ada')!.at - saved;
    await sleep(200);
    loading = false;
    await load;
    expect(failures).toEqual([]);
    expect(tookMs).toBeLessThan(1000);
    expect(dev.output()).toMatch(/\] changed: hello/);

    // A broken edit: the problems at file:line:col; the running version goes on.
    writeFileSync(join(flows, 'hello.yaml'), hello('Hallo').replace('transform', 'transfrom'));
    await waitFor(() => dev.output().includes('kept: hello'), 5_000, 'the broken edit to be reported');
    expect(dev.output()).toMatch(new RegExp(`${join(flows, 'hello.yaml').replace(/[/.]/g, '\\$&')}:5:\\d+: .*transfrom`));
    expect((await greet(dev.url)).greeting).toBe('Bonjour, Ada');

    // A new flow file: its route at once; the file removed: 404 at once.
    writeFileSync(join(flows, 'bye.yaml'), hello('Bye').replace('name: hello', 'name: bye').replace('/hello', '/bye'));
    await waitFor(() => dev.output().includes('added: bye'), 5_000, 'the new flow');
    const bye = await request(`${dev.url}/bye`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    expect(await bye.body.json()).toEqual({ greeting: 'Bye, Ada' });
    unlinkSync(join(flows, 'bye.yaml'));
    await waitFor(() => dev.output().includes('removed: bye'), 5_000, 'the flow removed');
    expect((await request(`${dev.url}/bye`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).statusCode).toBe(404);
  });
});

describe('hub run: SIGHUP', () => {
  it('reloads the flows that changed, without a restart', async () => {
    const flows = join(work, 'run-flows');
    mkdirSync(flows);
    writeFileSync(join(flows, 'hello.yaml'), hello('Hello'));
    const run = start(['run'], 22122, flows);
    await waitFor(async () => (await fetch(`${run.url}/readyz`).then((r) => r.status, () => 0)) === 200, 20_000, 'hub run to be ready');
    writeFileSync(join(flows, 'hello.yaml'), hello('Hej'));
    await sleep(100);
    expect((await greet(run.url)).greeting).toBe('Hello, Ada');
    run.child.kill('SIGHUP');
    await waitFor(async () => (await greet(run.url)).greeting === 'Hej, Ada', 5_000, 'the reloaded flow');
    // The line comes once the old version has finished what it had in flight, a moment after the new one serves.
    await waitFor(async () => /reloaded the flows: changed hello/.test(run.output()), 5_000, 'the reload to be logged');
    expect(run.child.exitCode).toBe(null);
  });
});
