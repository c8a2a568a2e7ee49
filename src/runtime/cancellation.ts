import type { Abortable } from '../core/contracts.js';
import type { HubError } from '../core/errors.js';

/**
 * One message's run being cut short: its timeout ran out or the hub stopped. `aborted` costs nothing to read; the
 * AbortSignal is made only when something asks for it (`signal`), since Node takes microseconds to make one, more
 * than most of a message's way through a flow. `race` settles a run at the cut without waiting for it.
 */
export class Cancellation {
  #reason: HubError | undefined;
  #controller: AbortController | undefined;
  #reject: ((reason: HubError) => void) | undefined;
  /** What follows the cut (SendContext.follow): one slot, since a message waits on one sink call at a time mostly. */
  #follower: Abortable | undefined;
  #followers: Abortable[] | undefined;
  /** When its timeout cuts it (performance.now() milliseconds), for whoever keeps the time: the flow runner. */
  deadline = Number.POSITIVE_INFINITY;

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  /** An AbortSignal that aborts with the cut's reason (already aborted if the cut came first). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Has `target.abort(reason)` called at the cut (at once if it already came), until `unfollow(target)`. */
  follow(target: Abortable): void {
    if (this.#reason) target.abort(this.#reason);
    else if (this.#follower === undefined) this.#follower = target;
    else (this.#followers ??= []).push(target);
  }

  unfollow(target: Abortable): void {
    if (this.#follower === target) this.#follower = undefined;
    else if (this.#followers) {
      const at = this.#followers.indexOf(target);
      if (at !== -1) this.#followers.splice(at, 1);
    }
  }

  /** Cuts the run short; the first reason counts. */
  cut(reason: HubError): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#reject?.(reason);
    const follower = this.#follower;
    const followers = this.#followers;
    this.#follower = undefined;
    this.#followers = undefined;
    follower?.abort(reason);
    if (followers) for (const f of followers) f.abort(reason);
  }

  /** `run`'s outcome, or the cut's reason as soon as it is cut (at once if it already is). One race per cancellation. */
  race<T>(run: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#reason) {
        run.catch(() => {});
        reject(this.#reason);
        return;
      }
      this.#reject = reject;
      run.then(resolve, reject);
    });
  }
}
