/**
 * CPU time and memory of a process, read from Linux's /proc: /proc/PID/stat (utime + stime, in clock ticks) and
 * /proc/PID/status (VmRSS, VmHWM). Read from outside the process, so the hub under test runs no extra code and
 * needs no /metrics endpoint. On a system without /proc, or for a process that has gone, a read gives undefined.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcSnapshot {
  /** utime + stime, in seconds. */
  cpuSeconds: number;
  /** Resident set size now, in bytes. */
  rssBytes: number;
  /** The highest resident set size since the process started (VmHWM), in bytes. */
  peakRssBytes: number;
}

let ticksPerSecond: number | undefined;

/** sysconf(_SC_CLK_TCK): 100 on every mainstream Linux build; asked once, in case this one differs. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export function readProc(pid: number): ProcSnapshot | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds: ticks / clockTicks(), rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

export interface ProcUsage {
  pid: number;
  /** CPU seconds used between start() and stop(). */
  cpuSeconds: number;
  /** The highest RSS sampled between start() and stop(), in bytes. */
  peakRssBytes: number;
}

/**
 * Watches processes over one phase: CPU time is the difference of two reads (exact); the peak RSS is the highest of
 * samples every `everyMs` (VmHWM would be the peak since start, not of this phase).
 */
export class ProcSampler {
  readonly #start = new Map<number, ProcSnapshot>();
  readonly #peak = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pids: readonly number[],
    readonly everyMs = 200,
  ) {}

  start(): void {
    for (const pid of this.pids) {
      const s = readProc(pid);
      if (s) this.#start.set(pid, s);
      this.#peak.set(pid, s?.rssBytes ?? 0);
    }
    this.#timer = setInterval(() => this.#sample(), this.everyMs);
    this.#timer.unref();
  }

  stop(): ProcUsage[] {
    clearInterval(this.#timer);
    this.#sample();
    return this.pids.map((pid) => {
      const end = readProc(pid);
      const begin = this.#start.get(pid);
      return { pid, cpuSeconds: begin && end ? Math.max(0, end.cpuSeconds - begin.cpuSeconds) : 0, peakRssBytes: this.#peak.get(pid) ?? 0 };
    });
  }

  #sample(): void {
    for (const pid of this.pids) {
      const s = readProc(pid);
      if (s && s.rssBytes > (this.#peak.get(pid) ?? 0)) this.#peak.set(pid, s.rssBytes);
    }
  }
}
