import type { Logger } from 'pino';
import { isoNow } from '../core/clock.js';
import type { Message } from '../core/message.js';

/** A message whose status changed off the common path: parked, delivered by a durable retry or a replay, archived. */
export interface MessageNotice {
  id: string;
  flow: string;
  status: 'delivered' | 'waiting-for-retry' | 'dead' | 'archived';
  at: string;
  replayOf?: string;
}

/** While paused: when and by whom, and the gate held deliveries wait on (opened by resume or stop). */
interface Pause {
  at: string;
  by: string;
  gate: Promise<void>;
  open: () => void;
}

/**
 * An operator's hold on a flow (pause, resume), and who watches its messages' status change (the admin's live feed).
 * The runner asks `holding` on each delivery: while it is true, a broker's delivery waits in `hold` and a caller's
 * is refused (FlowRunner.pause says why); a durable retry that comes due is put back (Parking.retry). The pause
 * lives in this process's memory: a restart runs the flow again. One per runner.
 */
export class FlowControl {
  readonly #flow: string;
  readonly #logger: Logger;
  #pause: Pause | undefined;
  /** Deliveries held while paused. */
  #held = 0;
  #stopped = false;
  readonly #watchers = new Set<(notice: MessageNotice) => void>();

  constructor(flow: string, logger: Logger) {
    this.#flow = flow;
    this.#logger = logger;
  }

  /** True while paused and not stopped: a delivery then waits in `hold` (or is refused), a durable retry is put back. */
  get holding(): boolean {
    return this.#pause !== undefined && !this.#stopped;
  }

  /** The pause, when paused: when, by whom, and how many deliveries it holds. */
  get paused(): { at: string; by: string; held: number } | undefined {
    return this.#pause && { at: this.#pause.at, by: this.#pause.by, held: this.#held };
  }

  /** Pauses the flow on behalf of `by`. False when it was paused already. */
  pause(by: string): boolean {
    if (this.#pause) return false;
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    this.#pause = { at: isoNow(), by, gate, open };
    this.#logger.info({ by }, `flow paused by ${by}`);
    return true;
  }

  /** Takes messages again; held deliveries go on. False when it was not paused. */
  resume(by: string): boolean {
    const pause = this.#pause;
    if (!pause) return false;
    this.#pause = undefined;
    pause.open();
    this.#logger.info({ by, held: this.#held }, `flow resumed by ${by}`);
    return true;
  }

  /**
   * Waits while the flow is paused, counted as held: until resume, or stop (which lets every held delivery go on, to
   * settle as the stopping runner settles it). Paused again before a held one went on, it waits for the next resume.
   */
  async hold(): Promise<void> {
    this.#held++;
    try {
      while (this.#pause && !this.#stopped) await this.#pause.gate;
    } finally {
      this.#held--;
    }
  }

  /** The runner stops: nothing is held from now on, a pause included. */
  stop(): void {
    this.#stopped = true;
    this.#pause?.open();
  }

  /**
   * Calls `watcher` when a message's status changes off the common path: parked (waiting for a retry, or dead),
   * delivered by a durable retry or a replay (a first-time delivery is not announced: that is the rate). Synchronous
   * and cheap: the admin's live feed only queues a line. Returns the function that stops it.
   */
  watch(watcher: (notice: MessageNotice) => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** Tells the watchers that `message` is now `status`; a watcher's failure is logged. */
  notify(message: Message, status: MessageNotice['status']): void {
    if (this.#watchers.size === 0) return;
    const notice: MessageNotice = { id: message.id, flow: this.#flow, status, at: isoNow(), ...(message.meta.replayOf ? { replayOf: message.meta.replayOf } : {}) };
    for (const w of this.#watchers) {
      try {
        w(notice);
      } catch (err) {
        this.#logger.warn({ err }, 'a message watcher failed');
      }
    }
  }
}
