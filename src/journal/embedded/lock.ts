/**
 * The embedded journal's `LOCK` file: one process at a time has the journal's directory open. The file holds the
 * owner's pid; a lock whose process is gone (a crash, a SIGKILL) is taken over with a warning.
 */
import { randomUUID } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalError } from '../errors.js';

const LOCK = 'LOCK';

/** Takes the lock of `dir`. Rejects LOCKED when a live process (this one included) holds it. */
export async function takeLock(dir: string, warn: ((m: string) => void) | undefined): Promise<void> {
  const lock = join(dir, LOCK);
  const mine = join(dir, `${LOCK}.${process.pid}.${randomUUID()}`);
  await writeFile(mine, String(process.pid));
  try {
    for (let tries = 0; tries < 3; tries++) {
      try {
        await link(mine, lock); // atomic: fails when the lock exists
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new JournalError('LOCKED', `the journal in ${dir} is open in process ${holder}`);
      }
      if (holder === process.pid) throw new JournalError('LOCKED', `the journal in ${dir} is already open in this process`);
      warn?.(`taking over the lock of the journal in ${dir} from process ${holder || '?'}, which is gone`);
      await unlink(lock).catch(() => {});
    }
    throw new JournalError('LOCKED', `could not take the lock of the journal in ${dir}`);
  } finally {
    await unlink(mine).catch(() => {});
  }
}

/** Gives the lock of `dir` up (never rejects: a lock left behind is taken over at the next open). */
export async function releaseLock(dir: string): Promise<void> {
  await unlink(join(dir, LOCK)).catch(() => {});
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
