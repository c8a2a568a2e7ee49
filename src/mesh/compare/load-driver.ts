/**
 * The load driver: sends each flow its requests at a fixed rate (open loop: a slow answer does not slow the
 * sender, as real clients do not wait for each other), over its own undici connection pool, for a fixed time, and
 * stops by itself. Bounded: at most `maxInFlight` requests per flow wait for an answer; a request due beyond that
 * is not sent and counted as shed, so a stuck flow cannot make the driver pile up sockets or memory. Loopback
 * only: it refuses any other address, so it cannot be turned on someone else's service.
 */
import { Pool } from 'undici';
import { LatencySamples, round1, type LatencySummary } from './samples.js';

export interface FlowTarget {
  flow: string;
  /** http://127.0.0.1:PORT (or [::1], localhost). */
  origin: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** Answers that count as success. */
  expect: number[];
  /** Requests per second. */
  rate: number;
}

export interface LoadOptions {
  durationMs: number;
  /** Most requests of one flow awaiting an answer at once. */
  maxInFlight: number;
  /** A request without a whole answer after this long counts as an error ("timeout"). */
  timeoutMs: number;
  /** Ended early (Ctrl-C): stops sending and resolves with what was measured. */
  signal?: AbortSignal;
}

export interface FlowLoadResult {
  flow: string;
  /** Requests sent. */
  sent: number;
  /** Answered with an expected status. */
  ok: number;
  /** Answered otherwise, failed or timed out. */
  errors: number;
  /** Due while `maxInFlight` were waiting already: not sent. */
  shed: number;
  /** `ok` per second of the phase. */
  throughput: number;
  /** Time to the whole answer of every request that got one or timed out, successes and errors alike. */
  latency: LatencySummary | undefined;
  /** Errors by kind: "status 502", "timeout", "ECONNREFUSED" ... */
  errorKinds: Record<string, number>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/;
/** How often the driver checks which requests are due; finer than the 1 ms a timer can do is pointless. */
const TICK_MS = 5;

export function checkLoopback(origin: string): void {
  const url = new URL(origin);
  if (url.protocol !== 'http:' || !LOOPBACK.test(url.hostname)) throw new Error(`the load driver only targets http:// on loopback; ${origin} is not`);
}

class FlowDriver {
  readonly pool: Pool;
  readonly samples = new LatencySamples();
  readonly errorKinds: Record<string, number> = {};
  sent = 0;
  ok = 0;
  errors = 0;
  shed = 0;
  due = 0;
  inFlight = 0;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    readonly target: FlowTarget,
    readonly options: LoadOptions,
  ) {
    checkLoopback(target.origin);
    this.pool = new Pool(target.origin, { connections: options.maxInFlight, pipelining: 1, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  }

  fire(): void {
    if (this.inFlight >= this.options.maxInFlight) {
      this.shed++;
      return;
    }
    this.sent++;
    this.inFlight++;
    const p = this.#one().finally(() => {
      this.inFlight--;
      this.#pending.delete(p);
    });
    this.#pending.add(p);
  }

  async #one(): Promise<void> {
    const t = this.target;
    const started = performance.now();
    try {
      const res = await this.pool.request({ method: t.method as 'POST', path: t.path, headers: t.headers, body: t.body, signal: AbortSignal.timeout(this.options.timeoutMs) });
      await res.body.dump({ limit: 1 << 20 });
      this.samples.add(performance.now() - started);
      if (t.expect.includes(res.statusCode)) this.ok++;
      else this.#error(`status ${res.statusCode}`);
    } catch (err) {
      this.samples.add(performance.now() - started);
      const e = err as { code?: string; name?: string };
      this.#error(e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : (e.code ?? e.name ?? 'error'));
    }
  }

  #error(kind: string): void {
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }

  async settle(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  result(seconds: number): FlowLoadResult {
    return { flow: this.target.flow, sent: this.sent, ok: this.ok, errors: this.errors, shed: this.shed, throughput: round1(this.ok / seconds), latency: this.samples.summary(), errorKinds: this.errorKinds };
  }
}

/**
 * Drives every target at its rate for `durationMs`, then waits for the answers still due (each bounded by
 * `timeoutMs`) and closes its connections. `onProgress` gets the fraction of the time done, every tick.
 */
export async function drive(targets: FlowTarget[], options: LoadOptions, onProgress?: (fraction: number) => void): Promise<FlowLoadResult[]> {
  const drivers = targets.filter((t) => t.rate > 0).map((t) => new FlowDriver(t, options));
  const started = performance.now();
  await new Promise<void>((resolveDone) => {
    const tick = (): void => {
      const elapsed = Math.min(performance.now() - started, options.durationMs);
      for (const d of drivers) {
        const due = Math.floor((elapsed / 1000) * d.target.rate);
        while (d.due < due) {
          d.due++;
          d.fire();
        }
      }
      onProgress?.(elapsed / options.durationMs);
      if (elapsed >= options.durationMs || options.signal?.aborted) {
        clearInterval(timer);
        resolveDone();
      }
    };
    const timer = setInterval(tick, TICK_MS);
    tick();
  });
  const seconds = Math.max(0.001, Math.min(performance.now() - started, options.durationMs) / 1000);
  await Promise.all(drivers.map((d) => d.settle()));
  await Promise.all(drivers.map((d) => d.pool.close()));
  const byFlow = new Map(drivers.map((d) => [d.target.flow, d.result(seconds)]));
  return targets.map((t) => byFlow.get(t.flow) ?? { flow: t.flow, sent: 0, ok: 0, errors: 0, shed: 0, throughput: 0, latency: undefined, errorKinds: {} });
}
