import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker, BROKER_URL, unique, waitFor } from '../adapters/amqp/test-support.js';
import { Downstream } from './support/downstream.js';
import { HUB_BIN, ROOT, runHub, startHub, type HubProcess } from './support/processes.js';

// `hub messages`, `hub dead-letters` and `hub replay` as an operator runs them, against a real hub process with the
// admin token it made for itself (the CLI finds it in the hub's state folder, as the hub's user on its machine
// would), fed by the real RabbitMQ, in front of a downstream service that fails, then works.

const TOKEN = 'cli-admin-test-token-0123456789abcdef';

describe('hub messages / dead-letters / replay against a running hub', () => {
  const broker = new Broker();
  const downstream = new Downstream();
  const queue = unique('cli-admin');
  const auditQueue = unique('cli-admin-audit');
  const tmp = mkdtempSync(join(tmpdir(), 'cli-admin-'));
  let hub: HubProcess;
  /** The CLI as the hub's user runs it on its machine: no token given, the hub's state folder where it looks. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = hub.cliEnv()) => runHub([...args, '--url', hub.url], { env });

  beforeAll(async () => {
    await broker.open();
    broker.track({ queues: [queue, `${queue}.retry`, `${queue}.dead`, auditQueue] });
    const ch = await broker.channel();
    await ch.assertQueue(auditQueue, { durable: false });
    await ch.close();
    const url = await downstream.start();
    hub = await startHub(['--flows', 'test/fixtures/admin/flows'], {
      env: { AMQP_URL: BROKER_URL, ADMIN_TEST_QUEUE: queue, ADMIN_TEST_AUDIT_QUEUE: auditQueue, ADMIN_TEST_DOWNSTREAM: url, HUB_SCHEMAS: 'test/fixtures/admin/schemas' },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await downstream.close();
    await broker.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const publish = (order: unknown, correlationId: string): Promise<void> => broker.publish('', queue, Buffer.from(JSON.stringify(order)), { contentType: 'application/json', correlationId });

  /** The ids of the flow's `n` dead messages, newest first, and the id of each correlation id's. */
  async function deadIds(n: number): Promise<string[] & { of: (correlationId: string) => string }> {
    let items: { id: string; correlationId?: string }[] = [];
    await waitFor(async () => {
      const r = await cli(['messages', '--flow', 'admin-orders', '--status', 'dead', '--json']);
      items = (JSON.parse(r.stdout) as { items: { id: string; correlationId?: string }[] }).items;
      return items.length === n;
    }, 20_000, `${n} dead messages`);
    const of = (correlationId: string): string => items.find((m) => m.correlationId === correlationId)!.id;
    return Object.assign(items.map((m) => m.id), { of });
  }

  it('lists, shows and replays dead letters; refuses clearly; replays by filter', async () => {
    for (const n of [1, 2, 3]) await publish({ orderId: `c-${n}`, qty: n }, `cli-${n}`);
    // The flow runs them side by side: which one failed last is not known, so c-3 is found by its correlation id.
    const dead = await deadIds(3);
    const newest = dead.of('cli-3');
    const others = dead.filter((id) => id !== newest);

    const list = await cli(['messages', '--flow', 'admin-orders', '--status', 'dead']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+FLOW\s+STATUS\s+TRIES\s+RECEIVED\s+ERROR/);
    expect(list.stdout).toContain(`${newest}  admin-orders  dead`);
    expect(list.stdout).toContain('DOWNSTREAM_UNAVAILABLE at 2:to');

    const show = await cli(['messages', 'show', newest!]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('status:      dead (tries: 1)');
    expect(show.stdout).toContain('{"orderId":"c-3","qty":3}');
    expect(show.stdout).toMatch(/\sdead\s+try 1/);

    const groups = await cli(['dead-letters']);
    expect(groups.stdout).toMatch(/admin-orders\s+2:to\s+DOWNSTREAM_UNAVAILABLE\s+3/);

    // Without the token (another state folder: another user's, or none) the hub says so, and the CLI says how to fix it.
    const denied = await cli(['messages'], { HUB_STATE_DIR: tmp });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('Unauthorized (401 UNAUTHORIZED)');
    expect(denied.stderr).toContain('HUB_ADMIN_TOKEN');

    downstream.failing = false;
    const fixed = join(tmp, 'fixed.json');
    writeFileSync(fixed, JSON.stringify({ orderId: 'c-3', qty: 30 }));
    const one = await cli(['replay', newest!, '--body-file', fixed, '--note', 'qty corrected']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^replayed ${newest} as \\w{26}: delivered`));
    expect(downstream.bodies('/orders')).toEqual([{ orderId: 'c-3', qty: 30 }]);
    const again = await cli(['replay', newest!, '--body-file', fixed, '--note', 'qty corrected']);
    expect(again.stdout).toContain('was already replayed as');
    expect(downstream.bodies('/orders')).toHaveLength(1);

    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ orderId: 'c-2', qty: 'lots' }));
    const refused = await cli(['replay', others[0]!, '--body-file', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Validation failed (422 VALIDATION_FAILED)');
    expect(refused.stderr).toMatch(/\/qty: must be integer/);

    const missing = await cli(['replay', '01NOSUCHMESSAGE0000000000']);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining('no such message: 01NOSUCHMESSAGE0000000000')]);
    const usage = await cli(['replay']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--flow FLOW');
    expect((await cli(['replay', newest!, '--to', 'middle'])).code).toBe(2);

    const bulk = await cli(['replay', '--flow', 'admin-orders', '--error-code', 'DOWNSTREAM_UNAVAILABLE']);
    expect(bulk.code, bulk.stderr).toBe(0);
    expect(bulk.stdout).toContain('matched 2, replayed 2 (delivered 2, waiting for retry 0, dead 0), duplicates 0, failed 0');
    // It ran as a job, polled until done.
    expect(bulk.stdout).toMatch(/^replaying: [0-2] of 2 done \(delivered \d, duplicates 0, failed 0\) at 20 msg\/s$/m);
    expect(downstream.bodies('/orders')).toHaveLength(3);
    const none = await cli(['replay', '--flow', 'admin-orders']);
    expect([none.code, none.stderr]).toEqual([1, expect.stringContaining('no message matches the filter')]);
    expect((await cli(['dead-letters'])).stdout).toContain('no dead letters');
  }, 90_000);

  it('shows the flows, checks a body, archives one and a group, pauses and resumes, and reads the audit (what the console does)', async () => {
    downstream.failing = true;
    for (const n of [4, 5, 6]) await publish({ orderId: `c-${n}`, qty: n }, `cli-${n}`);
    const [first, ...rest] = await deadIds(3);

    const flows = await cli(['flows']);
    expect(flows.code, flows.stderr).toBe(0);
    expect(flows.stdout).toMatch(/^FLOW\s+STATE\s+READY\s+RATE\/S\s+P99\s+IN\s+OUT\s+FAILED\s+WAITING\s+DEAD/);
    expect(flows.stdout).toMatch(/admin-orders\s+running\s+yes\s+\d+\.\d\d\s+(\d+ ms|-)\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+DOWNSTREAM_UNAVAILABLE/);

    const bad = join(tmp, 'check-bad.json');
    writeFileSync(bad, JSON.stringify({ orderId: 'c-4', qty: 'lots' }));
    const refused = await cli(['replay', first!, '--check', '--body-file', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('refused against admin-order.v1');
    expect(refused.stdout).toMatch(/\/qty: must be integer/);
    const good = join(tmp, 'check-good.json');
    writeFileSync(good, JSON.stringify({ orderId: 'c-4', qty: 4 }));
    const passes = await cli(['replay', first!, '--check', '--body-file', good]);
    expect([passes.code, passes.stdout]).toEqual([0, expect.stringContaining('ok: the body passes against admin-order.v1')]);
    expect((await cli(['replay', '--flow', 'admin-orders', '--check'])).code).toBe(2);

    const one = await cli(['archive', first!, '--reason', 'cancelled by phone']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^archived ${first}`));
    expect((await cli(['archive', first!])).stderr).toContain('(409');
    expect((await cli(['archive', '--flow', 'admin-orders'])).code).toBe(2);
    const group = await cli(['archive', '--flow', 'admin-orders', '--step', '2:to', '--code', 'DOWNSTREAM_UNAVAILABLE', '--reason', 'outage']);
    expect(group.code, group.stderr).toBe(0);
    expect(group.stdout).toMatch(/^matched 2, archived 2, failed 0/);
    expect((await cli(['messages', '--flow', 'admin-orders', '--status', 'archived', '--json'])).stdout).toContain(rest[0]!);
    expect((await cli(['dead-letters'])).stdout).toContain('no dead letters');

    const paused = await cli(['flow', 'pause', 'admin-orders']);
    expect([paused.code, paused.stdout]).toEqual([0, expect.stringContaining('paused admin-orders')]);
    expect((await cli(['flows'])).stdout).toMatch(/admin-orders\s+paused by token:cli:\S+ \(0 held\)/);
    expect((await cli(['flow', 'pause', 'admin-orders'])).stdout).toContain('admin-orders was paused already');
    expect((await cli(['flow', 'resume', 'admin-orders'])).stdout).toContain('resumed admin-orders');
    const missing = await cli(['flow', 'pause', 'no-such-flow']);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining('(404')]);
    expect((await cli(['flow', 'stop', 'admin-orders'])).code).toBe(2);

    const audit = await cli(['audit', '--limit', '20']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/^AT\s+ACTION\s+OUTCOME\s+ACTOR/);
    for (const action of ['resume', 'pause', 'bulk-archive', 'archive']) expect(audit.stdout).toMatch(new RegExp(`\\s${action}\\s+ok\\s+token:cli:`));
    expect(audit.stdout.split('\n').length).toBeLessThanOrEqual(21);
    // Some twenty CLI processes, each a Node start: over 30 s on a busy 2-core machine.
  }, 90_000);

  it('a hub that is not there is a clear failure', async () => {
    const r = await runHub(['messages', '--url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the hub at http://127.0.0.1:9');
  });
});

describe('closed by default: the token a hub makes at first start, its one-time login links, and the CLI that finds it', () => {
  const state = mkdtempSync(join(tmpdir(), 'cli-admin-state-'));
  const flows = mkdtempSync(join(tmpdir(), 'cli-admin-state-flows-'));
  const run = (env: NodeJS.ProcessEnv = {}) => startHub(['--flows', flows], { env: { HUB_STATE_DIR: state, ...env }, readyTimeoutMs: 60_000 });
  afterAll(() => {
    rmSync(state, { recursive: true, force: true });
    rmSync(flows, { recursive: true, force: true });
  });

  it('keeps the token readable by its user only, prints the token once and a login link at each start; no one is admin for being local', async () => {
    let hub = await run();
    try {
      const file = join(state, 'admin-token');
      const token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(state).mode & 0o077).toBe(0);
      expect(hub.logs()).toContain(file);
      expect(hub.logs()).toContain(`HUB_ADMIN_TOKEN=${token}`);
      // A loopback client without the token is no one.
      const local = await fetch(`${hub.url}/admin/api/flows`);
      expect(local.status).toBe(401);
      // The printed link opens the console once, as admin.
      const link = /open (http:\/\/\S+\/admin\/login\?code=\S+)/.exec(hub.logs())![1]!;
      expect(link.startsWith(`${hub.url}/admin/login?code=`)).toBe(true);
      const opened = await fetch(link, { redirect: 'manual' });
      expect([opened.status, opened.headers.get('location')]).toEqual([303, '/admin/']);
      const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
      expect(await (await fetch(`${hub.url}/admin/api/session`, { headers: { cookie } })).json()).toMatchObject({ user: 'login-link', role: 'admin', via: 'session' });
      expect((await fetch(link, { redirect: 'manual' })).status).toBe(401);
      // The CLI of this user finds the token in the state folder: no HUB_ADMIN_TOKEN anywhere.
      const flowsCmd = await runHub(['flows', '--json'], { env: hub.cliEnv() });
      expect([flowsCmd.code, flowsCmd.stderr]).toEqual([0, '']);
      const fresh = await runHub(['admin', 'login-link'], { env: hub.cliEnv() });
      expect([fresh.code, fresh.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^${hub.url}/admin/login\\?code=`))]);
    } finally {
      await hub.stop();
    }
    // The second start: the same token, a new link, and the token not printed again.
    hub = await run();
    try {
      expect(hub.adminToken()).toBe(readFileSync(join(state, 'admin-token'), 'utf8').trim());
      expect(hub.logs()).toContain('/admin/login?code=');
      expect(hub.logs()).not.toContain('HUB_ADMIN_TOKEN=');
      expect((await fetch(`${hub.url}/admin/api/flows`, { headers: hub.adminHeaders() })).status).toBe(200);
    } finally {
      await hub.stop();
    }
  }, 180_000); // two hub starts and three CLI runs: minutes on a busy two-core machine

  it('refuses to start with a token file others may read', async () => {
    chmodSync(join(state, 'admin-token'), 0o644);
    try {
      const r = await runHub(['run', '--flows', flows, '--port', '0'], { env: { HUB_STATE_DIR: state } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('ADMIN_TOKEN_UNSAFE');
      expect(r.stderr).toContain('chmod 600');
    } finally {
      chmodSync(join(state, 'admin-token'), 0o600);
    }
  });
});

describe('the CLI against a hub with users: hub admin hash-password, --user with HUB_ADMIN_PASSWORD', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cli-admin-users-'));
  const flows = mkdtempSync(join(tmpdir(), 'cli-admin-users-flows-'));
  let hub: HubProcess;

  /** `hub admin hash-password` with the password on stdin, as an operator pipes it. */
  async function hashPassword(password: string): Promise<string> {
    const child = spawn(process.execPath, [HUB_BIN, 'admin', 'hash-password'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin.end(`${password}\n`);
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    return stdout.trim();
  }

  beforeAll(async () => {
    const [ada, vera] = [await hashPassword('ada-password-1'), await hashPassword('vera-password-1')];
    expect(ada).toMatch(/^scrypt\$32768\$8\$1\$/);
    const config = join(tmp, 'hub.yaml');
    writeFileSync(config, [`flows: ${flows}`, 'admin:', `  token: ${TOKEN}`, '  users:', `    - { name: ada, role: admin, password_hash: "${ada}" }`, `    - { name: vera, role: viewer, password_hash: "${vera}" }`, ''].join('\n'));
    hub = await startHub(['--config', config]);
  });
  afterAll(async () => {
    await hub?.stop();
    rmSync(tmp, { recursive: true, force: true });
    rmSync(flows, { recursive: true, force: true });
  });

  const as = (user: string, password: string, args: string[]) => runHub([...args, '--url', hub.url, '--user', user], { env: { HUB_ADMIN_PASSWORD: password, HUB_ADMIN_TOKEN: '' } });

  it('logs in for the command, acts with the user\'s role, and logs out', async () => {
    const list = await as('ada', 'ada-password-1', ['messages']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('no messages match');
    // A viewer may not replay: refused before the hub even looks for the message.
    const viewer = await as('vera', 'vera-password-1', ['replay', '01NOSUCHMESSAGE0000000000']);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain('Forbidden (403 FORBIDDEN)');
    expect(viewer.stderr).toContain('needs role operator; vera is viewer');
    const admin = await as('ada', 'ada-password-1', ['replay', '01NOSUCHMESSAGE0000000000']);
    expect([admin.code, admin.stderr]).toEqual([1, expect.stringContaining('no such message')]);

    const wrong = await as('ada', 'not-the-password', ['dead-letters']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('Unauthorized (401 UNAUTHORIZED): the name or the password is wrong');
    expect(wrong.stderr).toContain('HUB_ADMIN_PASSWORD');
    const noPassword = await runHub(['messages', '--url', hub.url, '--user', 'ada'], { env: { HUB_ADMIN_PASSWORD: '' } });
    expect([noPassword.code, noPassword.stderr]).toEqual([2, expect.stringContaining('set HUB_ADMIN_PASSWORD')]);

    // The token still works, and its audit shows each command's login and logout.
    const audit = await fetch(`${hub.url}/admin/api/audit?limit=100`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const entries = ((await audit.json()) as { items: { action: string; outcome: string; actor: string }[] }).items.reverse();
    expect(entries.filter((e) => e.action === 'login' || e.action === 'logout').map((e) => `${e.action} ${e.outcome} ${e.actor}`)).toEqual([
      'login ok ada',
      'logout ok ada',
      'login ok vera',
      'logout ok vera',
      'login ok ada',
      'logout ok ada',
      'login failed ada',
    ]);
  });
});
