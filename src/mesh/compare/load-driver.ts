/**
 * The load driver: sends each flow its requests at a fixed rate (open loop: a slow answer does not slow the
 * sender, as real clients do not wait for each other), over its own undici connection pool, for a fixed time, and
 * stops by itself. Bounded: at most `maxInFlight` requests per flow wait for an answer; a request due beyond that
 * is not sent and counted as shed, so a stuck flow cannot make the driver pile up sockets or memory. Loopback
 * only: it refuses any other address, so it cannot be turned on someone else's service.
 */
import { Pool } from 'undici';
import type { FlowRequest } from './plan.js';
import { LatencySamples, round1, type LatencySummary } from './samples.js';

/** A flow's requests as the plan gives them, sent to one style's address of that flow. */
export interface FlowTarget extends FlowRequest {
  /** http://127.0.0.1:PORT (or [::1], localhost). */
  origin: string;
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

/** What one flow's requests came to, over one drive or several (the slices of a phase). */
class LoadTally {
  readonly samples = new LatencySamples();
  readonly errorKinds: Record<string, number> = {};
  sent = 0;
  ok = 0;
  errors = 0;
  shed = 0;

  error(kind: string): void {
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }
}

/**
 * The tallies of a phase, by flow, and the seconds driven: pass the same Tallies to several drive() calls to add
 * them up (a phase measured in slices, alternating with the other style).
 */
export class Tallies {
  readonly #byFlow = new Map<string, LoadTally>();
  seconds = 0;

  of(flow: string): LoadTally {
    let t = this.#byFlow.get(flow);
    if (!t) this.#byFlow.set(flow, (t = new LoadTally()));
    return t;
  }

  results(flows: string[]): FlowLoadResult[] {
    const seconds = Math.max(0.001, this.seconds);
    return flows.map((flow) => {
      const t = this.of(flow);
      return { flow, sent: t.sent, ok: t.ok, errors: t.errors, shed: t.shed, throughput: round1(t.ok / seconds), latency: t.samples.summary(), errorKinds: { ...t.errorKinds } };
    });
  }
}

class FlowDriver {
  readonly pool: Pool;
  due = 0;
  inFlight = 0;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    readonly target: FlowTarget,
    readonly options: LoadOptions,
    readonly tally: LoadTally,
  ) {
    checkLoopback(target.origin);
    this.pool = new Pool(target.origin, { connections: options.maxInFlight, pipelining: 1, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  }

  fire(): void {
    if (this.inFlight >= this.options.maxInFlight) {
      this.tally.shed++;
      return;
    }
    this.tally.sent++;
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
      this.tally.samples.add(performance.now() - started);
      if (t.expect.includes(res.statusCode)) this.tally.ok++;
      else this.tally.error(`status ${res.statusCode}`);
    } catch (err) {
      this.tally.samples.add(performance.now() - started);
      const e = err as { code?: string; name?: string };
      this.tally.error(e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : (e.code ?? e.name ?? 'error'));
    }
  }

  async settle(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }
}

/**
 * Drives every target at its rate for `durationMs`, then waits for the answers still due (each bounded by
 * `timeoutMs`) and closes its connections. `onProgress` gets the fraction of the time done, every tick. The
 * figures are added to `into` (new by default); the answer is what `into` holds then.
 */
export async function drive(targets: FlowTarget[], options: LoadOptions, onProgress?: (fraction: number) => void, into = new Tallies()): Promise<FlowLoadResult[]> {
  const drivers = targets.filter((t) => t.rate > 0).map((t) => new FlowDriver(t, options, into.of(t.flow)));
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
  into.seconds += Math.min(performance.now() - started, options.durationMs) / 1000;
  await Promise.all(drivers.map((d) => d.settle()));
  await Promise.all(drivers.map((d) => d.pool.close()));
  return into.results(targets.map((t) => t.flow));
}
