// Builds the admin console into dist/console: the browser TypeScript to ES modules in assets/ (its own tsconfig,
// DOM types), and the page and style sheet copied. The hub serves it at /admin (src/admin/console-files.ts).
// An argument builds it elsewhere (the browser test builds its own copy).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'admin', 'console');
const out = process.argv[2] ?? join(root, 'dist', 'console');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(source, 'tsconfig.json'), '--outDir', join(out, 'assets')], { stdio: 'inherit' });
copyFileSync(join(source, 'index.html'), join(out, 'index.html'));
for (const f of readdirSync(source)) if (/\.(css|svg|png)$/.test(f)) copyFileSync(join(source, f), join(out, 'assets', f));
