import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root (where package.json, flows/ and schemas/ are), from source (vitest) or from dist/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('integration-hub: cannot find the project root (no package.json above the code)');
    dir = up;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot();
