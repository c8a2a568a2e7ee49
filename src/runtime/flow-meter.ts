/** A flow's counts since its runner started (FlowRunner.stats): the admin API's flow list and the console read them. */
export interface FlowStats {
  received: number;
  completed: number;
  failed: number;
  inFlight: number;
  /** Messages parked for a durable retry (each time). */
  waiting: number;
  /** Messages parked as dead. */
  dead: number;
  /** Durable retries run from the journal. */
  retried: number;
  lastError?: { code: string; message: string; step?: string; at: string; messageId: string };
}

/** Seconds the rate is taken over. */
export const METER_WINDOW_S = 60;
/** Completions whose latency is kept for the p99: the latest ones, within the window. */
export const METER_SAMPLES = 1024;

export interface FlowRate {
  /** Messages delivered per second over the window (or since start, when the flow is younger). */
  perSecond: number;
  /** The 99th percentile of the time from the runner taking a message to its delivery (ms), over the latest samples; absent with none. */
  p99Ms?: number;
  /** Completions the p99 was taken from. */
  samples: number;
  windowSeconds: number;
}

/**
 * A flow's rolling rate and latency, cheap on the message path: `record` writes two numbers into fixed typed arrays
 * (no allocation); the work (a copy and a sort of at most METER_SAMPLES numbers) is done by `snapshot`, which the
 * admin API calls about once a second.
 */
export class FlowMeter {
  readonly #counts = new Uint32Array(METER_WINDOW_S);
  /** The second (since the epoch) each slot of #counts belongs to. */
  readonly #slotSecond = new Float64Array(METER_WINDOW_S);
  readonly #latency = new Float64Array(METER_SAMPLES);
  readonly #sampledAt = new Float64Array(METER_SAMPLES);
  #next = 0;
  #filled = 0;

  constructor(readonly startedAt = Date.now()) {}

  /** One delivered message that took `latencyMs`; `undefined` counts it for the rate only (a durable retry's run). */
  record(latencyMs: number | undefined, now = Date.now()): void {
    const second = Math.floor(now / 1000);
    const slot = second % METER_WINDOW_S;
    if (this.#slotSecond[slot] !== second) {
      this.#slotSecond[slot] = second;
      this.#counts[slot] = 0;
    }
    this.#counts[slot]!++;
    if (latencyMs === undefined) return;
    this.#latency[this.#next] = latencyMs;
    this.#sampledAt[this.#next] = now;
    this.#next = (this.#next + 1) % METER_SAMPLES;
    if (this.#filled < METER_SAMPLES) this.#filled++;
  }

  snapshot(now = Date.now()): FlowRate {
    const second = Math.floor(now / 1000);
    let count = 0;
    for (let i = 0; i < METER_WINDOW_S; i++) {
      const age = second - this.#slotSecond[i]!;
      if (age >= 0 && age < METER_WINDOW_S) count += this.#counts[i]!;
    }
    const span = Math.min(METER_WINDOW_S, Math.max(1, (now - this.startedAt) / 1000));
    const since = now - METER_WINDOW_S * 1000;
    const recent: number[] = [];
    for (let i = 0; i < this.#filled; i++) if (this.#sampledAt[i]! > since) recent.push(this.#latency[i]!);
    recent.sort((a, b) => a - b);
    const p99 = recent.length ? recent[Math.min(recent.length - 1, Math.ceil(recent.length * 0.99) - 1)] : undefined;
    return { perSecond: Math.round((count / span) * 100) / 100, ...(p99 !== undefined ? { p99Ms: Math.round(p99 * 10) / 10 } : {}), samples: recent.length, windowSeconds: METER_WINDOW_S };
  }
}
