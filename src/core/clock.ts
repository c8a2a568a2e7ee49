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
