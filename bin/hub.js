#!/usr/bin/env node
// The CLI is compiled TypeScript; `npm run build` (run by the demo and test scripts) produces it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('hub: not built yet. Run `npm run build` (or `npm run demo`) first.');
  process.exit(2);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
