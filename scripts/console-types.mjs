// Rewrites src/admin/console/api-types.ts, the console's types, from the admin API's description as built in dist/
// (npm run console-types builds it first). src/admin/api/console-types.test.ts fails while the file is stale.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { CONSOLE_TYPES_FILE, consoleTypes } = await import(join(root, 'dist', 'src', 'admin', 'api', 'console-types.js'));
writeFileSync(join(root, CONSOLE_TYPES_FILE), consoleTypes());
console.log(`wrote ${CONSOLE_TYPES_FILE}`);
