/**
 * Latency samples of one flow in one phase, and their percentiles. Every answer's time is kept (a phase of the
 * default run is a few thousand requests, so sorting them once at the end is cheaper and more exact than a
 * histogram); past `limit` samples a reservoir keeps an unbiased subset, so a long `--duration` stays bounded.
 */
export class LatencySamples {
  #values: Float64Array;
  #count = 0;
  #seen = 0;
  #max = 0;
  /** A fixed seed: two runs of the same phase sample the same way. */
  #seed = 0x9e3779b9;

  constructor(readonly limit = 200_000) {
    this.#values = new Float64Array(Math.min(limit, 4096));
  }

  /** Records one request's time in milliseconds. */
  add(ms: number): void {
    this.#seen++;
    if (ms > this.#max) this.#max = ms;
    if (this.#count < this.limit) {
      if (this.#count === this.#values.length) {
        const grown = new Float64Array(Math.min(this.limit, this.#values.length * 2));
        grown.set(this.#values);
        this.#values = grown;
      }
      this.#values[this.#count++] = ms;
      return;
    }
    const slot = Math.floor(this.#random() * this.#seen);
    if (slot < this.limit) this.#values[slot] = ms;
  }

  get count(): number {
    return this.#seen;
  }

  /** Nearest-rank percentiles (p in 0..100) of what was recorded, in ms rounded to 0.1; undefined when nothing was. */
  summary(): LatencySummary | undefined {
    if (this.#count === 0) return undefined;
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (p: number): number => round1(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!);
    let sum = 0;
    for (const v of sorted) sum += v;
    return { p50: at(50), p95: at(95), p99: at(99), max: round1(this.#max), mean: round1(sum / sorted.length) };
  }

  /** mulberry32: small, seeded, good enough to pick reservoir slots. */
  #random(): number {
    let t = (this.#seed = (this.#seed + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** To the hundredth: CPU seconds, which /proc counts in ticks of 10 ms (a short phase's few ticks survive it). */
export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
