import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(p));
    else if (/\.(ts|json)$/.test(entry.name) && !entry.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** End-to-end tests run the built CLI: rebuild it first when a source file is newer than the build. */
export default function setup(): void {
  const stamp = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  const sources = Math.max(...['src', 'adapters', 'sim'].map((d) => newest(join(ROOT, d))));
  if (sources <= built) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });
  } catch {
    // tsc still emits JavaScript on type errors; the test command's own type check step is what fails on them.
    console.warn('build-global-setup: the build has type errors (see above); tests run on what it emitted');
  }
}
