/**
 * The two loads of the request-reply scenarios, both from this process (the pipes run in processes of their own):
 * - closed loop: autocannon with N connections, each sending its next request when the last was answered, for
 *   throughput;
 * - open loop: requests sent on a fixed schedule (RATE per second) whether or not earlier ones were answered, each
 *   one's latency taken from the moment the schedule said to send it, so that a stall shows as the latency of every
 *   request it held back (coordinated omission corrected), in an HDR histogram.
 */
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { now } from '../common.js';

export interface Target {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  /** The request bodies, sent in turn (one for the same body every time). */
  bodies: readonly string[];
  /** The answer a request must get to count as a success. */
  status: number;
}

export interface ClosedResult {
  requests: number;
  failed: number;
  throughput: number;
  p50: number;
  p99: number;
}

export async function closedLoop(target: Target, connections: number, seconds: number): Promise<ClosedResult> {
  const { bodies } = target;
  let next = 0;
  const r = await autocannon({
    url: target.url,
    method: target.method,
    headers: target.headers,
    body: bodies[0],
    connections,
    duration: seconds,
    ...(bodies.length > 1 ? { requests: [{ setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }) }] } : {}),
  });
  // autocannon's errors include its timeouts.
  const failed = r.non2xx + r.errors;
  return { requests: r.requests.total, failed, throughput: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99 };
}

export interface OpenResult {
  sent: number;
  failed: number;
  /** Milliseconds, from each request's scheduled send time. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * `rate` requests per second for `seconds`, the first `warmSeconds` of them not recorded. Stops sending at the end
 * of the schedule and waits (at most 10 s) for the answers still due.
 */
export async function openLoop(target: Target, rate: number, seconds: number, warmSeconds = 1): Promise<OpenResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: 256, pipelining: 1 });
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const warm = Math.round(rate * warmSeconds);
  let sent = 0;
  let done = 0;
  let failed = 0;
  let closed = false;
  const start = now();
  const send = (i: number, due: number): void => {
    pool
      .request({ path: `${url.pathname}${url.search}`, method: target.method, headers: target.headers, body: target.bodies[i % target.bodies.length] })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode !== target.status) failed++;
      })
      .catch(() => failed++)
      .finally(() => {
        if (closed) return;
        if (i >= warm) histogram.recordValue(Math.max(1, Math.round((now() - due) * 1000)));
        done++;
      });
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = now();
      while (sent < total && start + sent * interval <= t) {
        send(sent, start + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, start + sent * interval - now())));
      else resolve();
    };
    tick();
  });
  const deadline = now() + 10_000;
  while (done < sent && now() < deadline) await new Promise((r) => setTimeout(r, 5));
  failed += sent - done;
  // Answers still due after the grace count as failed: the pool is cut, not waited for.
  closed = true;
  await pool.destroy().catch(() => {});
  const ms = (p: number) => histogram.getValueAtPercentile(p) / 1000;
  const result = { sent, failed, p50: ms(50), p99: ms(99), p999: ms(99.9), max: histogram.maxValue / 1000 };
  histogram.destroy();
  return result;
}
