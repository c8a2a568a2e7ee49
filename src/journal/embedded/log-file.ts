/**
 * The embedded journal's log on disk: `journal.log`, an append-only file of JSON lines, one operation each.
 * - Read once, at open: every line is handed to the caller, which rebuilds its memory from them. A torn last line
 *   (a crash mid-write: that write was never acknowledged) is cut off; an unreadable line is skipped with a warning.
 * - Writes are group-committed: operations that arrive while a write is in progress go out together in the next
 *   write, followed by one fdatasync, and each append resolves only after the fdatasync that covers its line.
 * - When the log has grown past `compactBytes` and to twice its live size, it is rewritten as a snapshot beside it
 *   and renamed over it (then the directory is fsync'd).
 * - If a write fails the log refuses every later one (`broken`): memory then holds what the disk may not, and
 *   nothing more may be acknowledged on its strength.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, readFile, rename, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalError } from '../errors.js';

const LOG = 'journal.log';

export interface LogFileOptions<Op> {
  /** The log is compacted only past this size (bytes). */
  compactBytes: number;
  /** Told about a line that could not be read (skipped), a torn last line cut off, a compaction that failed. */
  warn: (message: string) => void;
  /**
   * What a compaction writes: the operations that rebuild memory as it is at the moment of the call. Called
   * synchronously, and its operations are serialized before anything else happens (they may refer to live objects).
   */
  snapshot: () => Op[];
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class LogFile<Op> {
  readonly path: string;
  readonly #dir: string;
  readonly #options: LogFileOptions<Op>;
  #fh: FileHandle | undefined;
  #size = 0;
  #liveSize = 0;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #broken: Error | undefined;

  constructor(dir: string, options: LogFileOptions<Op>) {
    this.#dir = dir;
    this.path = join(dir, LOG);
    this.#options = options;
  }

  /** The error of the write that failed, once one has: every later append rejects UNAVAILABLE. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /** Reads the log, handing each operation to `apply` in order, and opens it for appending. Called once, at open. */
  async load(apply: (op: Op) => void): Promise<void> {
    let text: Buffer;
    try {
      text = await readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      text = Buffer.alloc(0);
    }
    let start = 0;
    let lineNo = 0;
    while (start < text.length) {
      const nl = text.indexOf(0x0a, start);
      if (nl < 0) {
        // A torn last line: the write that made it was never acknowledged. Cut it off so new lines start clean.
        this.#options.warn(`cutting off a torn last line (${text.length - start} bytes) from ${this.path}`);
        await truncate(this.path, start);
        break;
      }
      lineNo++;
      const line = text.subarray(start, nl).toString('utf8');
      start = nl + 1;
      if (line.length === 0) continue;
      let op: Op;
      try {
        op = JSON.parse(line) as Op;
      } catch {
        this.#options.warn(`skipping unreadable line ${lineNo} of ${this.path}`);
        continue;
      }
      apply(op);
    }
    this.#size = Math.min(start, text.length);
    this.#liveSize = this.#size;
    this.#fh = await open(this.path, 'a');
  }

  /**
   * Appends operations (already applied to memory by the caller) as one group of lines; resolves once they are
   * durable. Rejects UNAVAILABLE when the write, or an earlier one, failed.
   */
  append(ops: Op[]): Promise<void> {
    const line = ops.map((op) => JSON.stringify(op) + '\n').join('');
    const done = new Promise<void>((resolve, reject) => this.#pending.push({ line, resolve, reject }));
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = undefined));
    return done;
  }

  /** Waits for the writes under way to settle, then closes the file. */
  async close(): Promise<void> {
    await this.#flushing?.catch(() => {});
    await this.#fh?.close();
    this.#fh = undefined;
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        if (this.#broken) throw this.#broken;
        const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
        await this.#fh!.write(buf);
        await this.#fh!.datasync();
        this.#size += buf.length;
        for (const p of batch) p.resolve();
      } catch (err) {
        // Memory now holds what the disk may not: stop taking writes rather than acknowledge anything more.
        this.#broken ??= err as Error;
        const e = new JournalError('UNAVAILABLE', `the journal cannot write to ${this.path}: ${(err as Error).message}`, { cause: err });
        for (const p of batch) p.reject(e);
        continue;
      }
      if (this.#size > this.#options.compactBytes && this.#size > 2 * this.#liveSize) {
        await this.#compact().catch((err: unknown) => this.#options.warn(`compaction of ${this.path} failed (the log is kept as it is): ${(err as Error).message}`));
      }
    }
  }

  /**
   * Rewrites the log as a snapshot of what is live. Runs inside the flush loop, so no flush overlaps it. The snapshot
   * is taken in one synchronous pass: memory then holds exactly what the log and the writes pending at that moment
   * hold, so those writes are covered by it (resolved once it is durable, never appended again: they would be
   * applied twice on the next open), and writes made later go to the new log.
   */
  async #compact(): Promise<void> {
    const lines = this.#options.snapshot().map((op) => JSON.stringify(op));
    const covered = this.#pending;
    this.#pending = [];
    const tmp = `${this.path}.compact`;
    let size = 0;
    try {
      const fh = await open(tmp, 'w');
      try {
        for (let i = 0; i < lines.length; i += 500) {
          const buf = Buffer.from(lines.slice(i, i + 500).join('\n') + '\n', 'utf8');
          await fh.write(buf);
          size += buf.length;
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const dirFd = openSync(this.#dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (err) {
      // The old log stands: what the snapshot covered goes to it as before.
      this.#pending = covered.concat(this.#pending);
      throw err;
    }
    await this.#fh!.close();
    this.#fh = await open(this.path, 'a');
    this.#size = size;
    this.#liveSize = size;
    for (const p of covered) p.resolve();
  }
}
