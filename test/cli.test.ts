import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { freePort, ROOT, runHub, startHub } from './support/processes.js';

describe('hub validate', () => {
  it('passes the example flows with a one-line summary', async () => {
    const r = await runHub(['validate', 'flows/']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^ok: \d+ flow file\(s\) are valid$/);
  });

  it('reports every problem of every broken flow at its line and column, and exits 1', async () => {
    const r = await runHub(['validate', 'test/fixtures/broken']);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^test\/fixtures\/broken\/a-orders\.yaml:10:9: JSONata does not compile: Expected "\)", got "}"/),
      'test/fixtures/broken/a-orders.yaml:13:13: unknown sink "big": the flow\'s sinks are "small"; declare it under `sinks:`',
      expect.stringMatching(/^test\/fixtures\/broken\/a-orders\.yaml:16:63: invalid value; expected: Longest time for one attempt/),
      'test/fixtures/broken/b-orders-again.yaml:3:31: http POST /api/orders/:param is already claimed by flow "a-orders" (test/fixtures/broken/a-orders.yaml:3:31)',
      expect.stringMatching(/^test\/fixtures\/broken\/b-orders-again\.yaml:5:25: schema "no-such-schema\.v1" not found/),
      expect.stringMatching(/^test\/fixtures\/broken\/b-orders-again\.yaml:6:40: JSONata does not compile/),
      expect.stringMatching(/^test\/fixtures\/broken\/b-orders-again\.yaml:8:110: "password" is a secret/),
      '7 error(s), 0 warning(s) in 2 file(s)',
    ]);
  });

  it('refuses to start a hub whose flows have errors, printing the same diagnostics', async () => {
    const r = await runHub(['run', '--flows', 'test/fixtures/broken', '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a-orders\.yaml:10:9: JSONata does not compile/);
    expect(r.stdout).not.toMatch(/listening/);
  });

  it('answers usage errors with exit 2', async () => {
    expect((await runHub(['frobnicate'])).code).toBe(2);
    expect((await runHub(['validate'])).code).toBe(2);
    expect((await runHub(['run', '--port', 'abc'])).code).toBe(2);
    const help = await runHub(['--help']);
    expect([help.code, help.stdout]).toEqual([0, expect.stringMatching(/^ {2}validate +Lint flow files/m)]);
  });

  it('says clearly when the port is taken', async () => {
    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const r = await runHub(['run', '--port', String(port)], { env: { HUB_LOG_LEVEL: 'silent' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`port ${port} .* already in use`));
    } finally {
      blocker.close();
    }
  });
});

describe('hub schema', () => {
  it('matches the committed schemas/flow.schema.json (regenerate with `hub schema --out schemas/flow.schema.json`)', async () => {
    const r = await runHub(['schema']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(join(ROOT, 'schemas', 'flow.schema.json'), 'utf8')));
  });

  it('every example flow (and its test file) names its schema in its yaml-language-server modeline', () => {
    for (const [dir, up] of [['flows', '..'], ['flows/brokers', '../..'], ['flows/compare', '../..'], ['flows/patterns', '../..']] as const) {
      for (const f of readdirSync(join(ROOT, dir)).filter((x) => x.endsWith('.yaml'))) {
        const schema = f.endsWith('.test.yaml') ? 'flow-test' : 'flow';
        expect(readFileSync(join(ROOT, dir, f), 'utf8').split('\n')[0], `${dir}/${f}`).toBe(`# yaml-language-server: $schema=${up}/schemas/${schema}.schema.json`);
      }
    }
  });
});

describe('adapters of your own', () => {
  const config = 'test/fixtures/user-adapter/hub.yaml';

  it('hub adapters lists built-in and user adapters with their schemas', async () => {
    const plain = await runHub(['adapters']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^rest {2}\(built-in\)/m);
    expect(plain.stdout).toMatch(/^soap {2}\(built-in\)/m);
    const r = await runHub(['adapters', '--config', config, '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; origin: string; source?: { required?: string[] }; sink?: unknown }[];
    const drop = list.find((a) => a.name === 'file_drop');
    expect(drop).toMatchObject({ origin: '../../../examples/adapters/file-drop/index.js', source: { required: ['dir'] }, sink: expect.any(Object) });
  });

  it('joins the flow schema and the linter', async () => {
    const schema = JSON.parse((await runHub(['schema', '--config', config])).stdout) as { $defs: Record<string, unknown> };
    expect(Object.keys(schema.$defs)).toEqual(expect.arrayContaining(['source.file_drop', 'sink.file_drop']));
    const withAdapter = await runHub(['validate', '--config', config, 'test/fixtures/user-adapter/flows'], { env: { DROP_INBOX: '/tmp/in', DROP_OUTBOX: '/tmp/out' } });
    expect(withAdapter.code).toBe(0);
    const without = await runHub(['validate', 'test/fixtures/user-adapter/flows']);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/drop-to-drop\.yaml:5:3: unknown adapter "file_drop"/);
  });

  it('runs a flow through it for real', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-drop-'));
    const inbox = join(dir, 'in');
    const outbox = join(dir, 'out');
    const hub = await startHub(['--config', config], { env: { DROP_INBOX: inbox, DROP_OUTBOX: outbox } });
    try {
      writeFileSync(join(inbox, 'order-1.json'), JSON.stringify({ name: 'ada' }));
      const deadline = Date.now() + 10_000;
      let written: string[] = [];
      while (Date.now() < deadline && written.length === 0) {
        await sleep(50);
        written = existsSync(outbox) ? readdirSync(outbox).filter((f) => f.endsWith('.json')) : [];
      }
      expect(written).toHaveLength(1);
      expect(JSON.parse(readFileSync(join(outbox, written[0]!), 'utf8'))).toEqual({ name: 'ADA', seen: true });
      await sleep(100);
      expect(readdirSync(inbox).filter((f) => f.endsWith('.json'))).toEqual([]);
    } finally {
      expect(await hub.stop()).toBe(0);
    }
  });
});

describe('docs/adapters.md', () => {
  it('shows the example adapter exactly as the tests load it', () => {
    const readme = readFileSync(join(ROOT, 'docs', 'adapters.md'), 'utf8');
    const code = readFileSync(join(ROOT, 'examples', 'adapters', 'file-drop', 'index.js'), 'utf8');
    expect(readme).toContain('```js\n' + code + '```');
  });
});
