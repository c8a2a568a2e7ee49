/**
 * BENCH_WHATIF=pooled-random: an experiment, never on by default, to measure one suggested fix without touching the
 * runtime. ulid (used for every message id) asks `crypto.getRandomValues` for ONE byte per character, 16 calls per
 * id, each a trip into the native CSPRNG; this serves small requests from a 4 KiB pool refilled with
 * crypto.randomFillSync (the same CSPRNG, so ids stay as random), which is what a pooled PRNG passed to
 * `ulid(undefined, prng)` / `monotonicFactory(prng)` in the runtime would do.
 */
import { randomFillSync, webcrypto } from 'node:crypto';

export const WHATIF = (process.env.BENCH_WHATIF ?? '').split(',').filter((w) => w !== '');

export function installWhatIf(): string[] {
  const applied: string[] = [];
  if (WHATIF.includes('pooled-random')) {
    const pool = Buffer.alloc(4096);
    let pos = pool.length;
    const original = webcrypto.getRandomValues.bind(webcrypto);
    const pooled = <T extends ArrayBufferView | null>(array: T): T => {
      if (array === null || array.byteLength > 64) return original(array as never) as T;
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      if (pos + bytes.length > pool.length) {
        randomFillSync(pool);
        pos = 0;
      }
      bytes.set(pool.subarray(pos, pos + bytes.length));
      pos += bytes.length;
      return array;
    };
    Object.defineProperty(globalThis.crypto, 'getRandomValues', { value: pooled, configurable: true, writable: true });
    applied.push('pooled-random (ulid served from a 4 KiB CSPRNG pool)');
  }
  return applied;
}
