/**
 * Node-RED 4 as scenario 4's third pipe: http in → change (the same JSONata) → http request → http response. It is
 * not a dependency of the hub: the bench installs it on demand into .cache/node-red (npm, once) and runs it with a
 * settings file of its own (no editor, no admin API, warnings only). When it cannot be installed (no registry), the
 * scenario says so and goes on without it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/config/paths.js';
import type { Target } from './load.js';
import { startProcess, type Proc } from './pipes.js';

const VERSION = process.env.BENCH_NODE_RED_VERSION ?? '4';
const HOME = join(PROJECT_ROOT, '.cache', 'node-red');
const RED = join(HOME, 'node_modules', 'node-red', 'red.js');

/** Installs Node-RED into .cache/node-red when it is not there yet; resolves with the path of red.js. */
export async function ensureNodeRed(): Promise<string> {
  if (existsSync(RED)) return RED;
  mkdirSync(HOME, { recursive: true });
  writeFileSync(join(HOME, 'package.json'), JSON.stringify({ name: 'bench-node-red', private: true }));
  await promisify(execFile)('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', `node-red@${VERSION}`], { cwd: HOME, timeout: 300_000 });
  if (!existsSync(RED)) throw new Error(`npm installed node-red@${VERSION} but ${RED} is missing`);
  return RED;
}

/** The flow: the same mapping as the hub's, in the change node's JSONata (which sees the whole msg). */
export function nodeRedFlow(jsonata: string, backendUrl: string): unknown[] {
  return [
    { id: 'bench', type: 'tab', label: 'bench' },
    { id: 'in', type: 'http in', z: 'bench', url: '/orders', method: 'post', upload: false, wires: [['map']] },
    { id: 'map', type: 'change', z: 'bench', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: jsonata, tot: 'jsonata' }], wires: [['call']] },
    { id: 'call', type: 'http request', z: 'bench', method: 'POST', ret: 'txt', paytoqs: 'ignore', url: backendUrl, persist: true, wires: [['out']] },
    { id: 'out', type: 'http response', z: 'bench', statusCode: '', headers: { 'content-type': 'application/json' }, wires: [] },
  ];
}

export async function startNodeRed(jsonata: string, backendUrl: string, ready: Target): Promise<Proc> {
  const red = await ensureNodeRed();
  const dir = mkdtempSync(join(tmpdir(), 'bench-node-red-'));
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(nodeRedFlow(jsonata, backendUrl)));
  writeFileSync(
    join(dir, 'settings.cjs'),
    `module.exports = { uiHost: '127.0.0.1', uiPort: Number(process.env.PORT), flowFile: 'flows.json', userDir: ${JSON.stringify(dir)},
       httpAdminRoot: false, disableEditor: true, credentialSecret: false, logging: { console: { level: 'warn', metrics: false, audit: false } },
       telemetry: { enabled: false }, diagnostics: { enabled: false }, externalModules: { autoInstall: false, palette: { allowInstall: false } } };\n`,
  );
  return startProcess('node-red', () => [red, '--settings', join(dir, 'settings.cjs'), '--userDir', dir], { scratch: dir, ready, timeoutMs: 90_000 });
}
