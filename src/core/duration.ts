import type { ConfigIssue } from './errors.js';

/** Durations in config: a number of milliseconds, or a string such as "250ms", "10s", "2m", "1h", "1m30s", "7d". */
export type Duration = number | string;

export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$';
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds for a duration; throws a TypeError for a string that is not one. */
export function toMs(value: Duration): number {
  if (typeof value === 'number') return value;
  if (!new RegExp(DURATION_PATTERN).test(value)) throw new TypeError(`"${value}" is not a duration (e.g. 250ms, 10s, 2m, 1h, 7d)`);
  let total = 0;
  for (const m of value.matchAll(PART)) total += Number(m[1]) * UNIT[m[2]!]!;
  return Math.round(total);
}

/**
 * A duration from a component's config, checked at load: one that is not a duration, or is shorter than `min`
 * milliseconds, is reported at `path` and replaced by the fallback, so loading goes on and every problem is found.
 */
export function durationOption(value: Duration | undefined, fallback: Duration, path: (string | number)[], report: (issue: ConfigIssue) => void, min = 0): number {
  try {
    const ms = toMs(value ?? fallback);
    if (ms >= min) return ms;
    report({ path, message: `${path.join('.')} must be at least ${min}ms` });
  } catch (err) {
    report({ path, message: (err as Error).message });
  }
  return toMs(fallback);
}

/** The JSON Schema of a duration, for component schemas. */
export const durationSchema = {
  description: 'A duration: milliseconds as a number, or a string like "250ms", "10s", "2m", "1h".',
  oneOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', pattern: DURATION_PATTERN },
  ],
  examples: ['500ms', '10s', '2m'],
} as const;
