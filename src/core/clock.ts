/**
 * The current time as an ISO string, for the timestamps every message gets (receivedAt, its timeline events).
 * Date#toISOString costs about a microsecond and a message takes several: the string is made once per millisecond.
 */
let lastMs = Number.NaN;
let lastIso = '';

export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

let lastAtMs = Number.NaN;
let lastAtIso = '';

/** `ms` (since the epoch) as an ISO string; the last one is kept, since records of one batch share their timestamps. */
export function isoAt(ms: number): string {
  if (ms === lastMs) return lastIso;
  if (ms !== lastAtMs) {
    lastAtMs = ms;
    lastAtIso = new Date(ms).toISOString();
  }
  return lastAtIso;
}
