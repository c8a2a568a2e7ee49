/**
 * The admin console's files as the hub serves them: the page at /admin and its scripts and style sheet at
 * /admin/assets/NAME, from dist/console (npm run build makes it from src/admin/console/). Names are checked against
 * one pattern (no paths), each file is read once, and its content type comes from its extension.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hubError } from '../core/errors.js';
import { CONSOLE_ASSET_NAME } from './api/constants.js';

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  html: 'text/html; charset=utf-8',
};

const ASSET = new RegExp(CONSOLE_ASSET_NAME);

export interface ConsoleFile {
  contentType: string;
  data: Buffer;
}

export class ConsoleFiles {
  readonly #cache = new Map<string, Promise<ConsoleFile | undefined>>();

  /** `dir` holds index.html and assets/. */
  constructor(readonly dir: string) {}

  /** The page; throws NOT_FOUND with how to build it when the console was not built. */
  async page(): Promise<ConsoleFile> {
    const file = await this.#load('index.html', join(this.dir, 'index.html'));
    if (!file) throw hubError('NOT_FOUND', `the admin console is not built (no ${join(this.dir, 'index.html')}): run npm run build; the admin API is at /admin/api (see /admin/docs)`);
    return file;
  }

  /** An asset by name; undefined when there is none by that name. */
  async asset(name: string): Promise<ConsoleFile | undefined> {
    if (!ASSET.test(name)) return undefined;
    return this.#load(name, join(this.dir, 'assets', name));
  }

  #load(key: string, path: string): Promise<ConsoleFile | undefined> {
    let file = this.#cache.get(key);
    if (!file) {
      const ext = key.slice(key.lastIndexOf('.') + 1);
      file = readFile(path).then(
        (data) => ({ contentType: TYPES[ext] ?? 'application/octet-stream', data }),
        (err: NodeJS.ErrnoException) => {
          // A file that is not there now may be built later: only files found are kept.
          this.#cache.delete(key);
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
      this.#cache.set(key, file);
    }
    return file;
  }
}
