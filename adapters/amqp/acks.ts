/**
 * Coalesced acks for the deliveries of one AMQP channel.
 *
 * A basic.ack with `multiple=true` acks the delivery it names and every lower delivery tag still unacked on the
 * channel. So the source may ack that way only up to the highest tag below which every delivery has settled: the
 * contiguous run, from the lowest delivery still open, of deliveries that settled successfully. Nothing here acks a
 * delivery before its flow settled it, and no tag is acked twice (a second ack of a tag is a channel error).
 *
 * - `track` notes a delivery as it arrives (delivery tags rise on a channel, so arrival order is tag order).
 * - `settled` marks a delivery settled successfully: its ack is due. Due acks are flushed once per tick
 *   (setImmediate), or at once when `threshold` of them are due or when every open delivery has settled (nothing
 *   is left to wait for: a lone delivery is acked as promptly as without coalescing), and by `flush()` (the source
 *   calls it before it closes the channel on stop).
 * - `release` says a delivery that settled by failure got its own frame (ack after a dead-letter or retry publish,
 *   nack): it no longer blocks the run. Until then it does: a multiple ack must never cover it.
 * - A flush acks the contiguous run with one frame (`multiple=true` when it holds more than one delivery). A
 *   delivery that settled behind one still open (in the flow, or waiting for its dead-letter publish) is held for at
 *   most `holdMs`, or until `threshold` of them are held, in the hope that the open one settles and they join the
 *   run; then each is acked alone. So a slow delivery never holds back the acks of later ones for long.
 * - A channel that died (an ack throws): nothing is acked any more, nothing throws; the broker redelivers whatever
 *   was unacked.
 */

/** What the tracker needs of an amqplib channel and message. */
export interface AckChannel<M extends AckMessage = AckMessage> {
  ack(message: M, allUpTo?: boolean): void;
}
export interface AckMessage {
  fields: { deliveryTag: number };
}

export interface ChannelAcksOptions {
  /** Flush at once when this many acks are due (or held); at least 1. */
  threshold: number;
  /** Longest a settled delivery waits behind an open lower one before it is acked alone. */
  holdMs: number;
  /** Told when an ack could not be sent because the channel is gone. */
  onDead?: (err: unknown) => void;
}

interface Entry<M> {
  msg: M;
  /** Settled successfully: its ack is due. */
  ok: boolean;
}

export class ChannelAcks<M extends AckMessage = AckMessage> {
  readonly #ch: AckChannel<M>;
  readonly #threshold: number;
  readonly #holdMs: number;
  readonly #onDead: ((err: unknown) => void) | undefined;
  /** Deliveries not acked or released yet, in tag order (a Map keeps insertion order). */
  readonly #open = new Map<number, Entry<M>>();
  /** Entries with `ok` set. */
  #due = 0;
  #immediate: NodeJS.Immediate | undefined;
  #holdTimer: NodeJS.Timeout | undefined;
  #dead = false;

  constructor(ch: AckChannel<M>, options: ChannelAcksOptions) {
    this.#ch = ch;
    this.#threshold = Math.max(1, Math.floor(options.threshold));
    this.#holdMs = Math.max(0, options.holdMs);
    this.#onDead = options.onDead;
  }

  /** Deliveries neither acked nor released. */
  get open(): number {
    return this.#open.size;
  }

  /** Settled deliveries whose ack has not been sent yet. */
  get due(): number {
    return this.#due;
  }

  get dead(): boolean {
    return this.#dead;
  }

  track(msg: M): void {
    if (this.#dead) return;
    this.#open.set(msg.fields.deliveryTag, { msg, ok: false });
  }

  /** The flow settled this delivery successfully: ack it (soon). */
  settled(msg: M): void {
    if (this.#dead) return;
    const entry = this.#open.get(msg.fields.deliveryTag);
    if (!entry || entry.ok) return;
    entry.ok = true;
    this.#due++;
    if (this.#due >= this.#threshold || this.#due === this.#open.size) this.flush();
    else this.#schedule();
  }

  /** This delivery was settled with its own frame (or needs none): it no longer blocks the contiguous run. */
  release(msg: M): void {
    const entry = this.#open.get(msg.fields.deliveryTag);
    if (!entry) return;
    this.#open.delete(msg.fields.deliveryTag);
    if (entry.ok) this.#due--;
    if (this.#due > 0 && this.#due === this.#open.size) this.flush();
    else if (this.#due > 0) this.#schedule();
  }

  /**
   * Sends the due acks: the contiguous run with one frame; the settled deliveries behind an open one alone when
   * `force` is set, or they have waited `holdMs`, or `threshold` of them are waiting.
   */
  flush(force = false): void {
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    if (this.#dead || this.#due === 0) return;

    let last: Entry<M> | undefined;
    let run = 0;
    for (const entry of this.#open.values()) {
      if (!entry.ok) break;
      last = entry;
      run++;
    }
    if (last) {
      if (!this.#send(last.msg, run > 1)) return;
      let n = run;
      for (const [tag] of this.#open) {
        if (n-- === 0) break;
        this.#open.delete(tag);
      }
      this.#due -= run;
    }
    if (this.#due === 0) {
      clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
      return;
    }
    // Settled deliveries behind an open one.
    if (force || this.#due >= this.#threshold) this.#ackHeld();
    else
      this.#holdTimer ??= setTimeout(() => {
        this.#holdTimer = undefined;
        this.flush(true);
      }, this.#holdMs);
  }

  /** The channel is going away (closed by the source, or lost): drop everything, send nothing more. */
  dispose(): void {
    this.#dead = true;
    this.#open.clear();
    this.#due = 0;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
  }

  /** Acks alone every settled delivery left (all of them are behind an open one: the run was acked first). */
  #ackHeld(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    if (this.#dead || this.#due === 0) return;
    for (const [tag, entry] of this.#open) {
      if (!entry.ok) continue;
      // Alone (multiple=false): a lower delivery is still open.
      if (!this.#send(entry.msg, false)) return;
      this.#open.delete(tag);
      this.#due--;
    }
  }

  #schedule(): void {
    this.#immediate ??= setImmediate(() => {
      this.#immediate = undefined;
      this.flush();
    });
  }

  #send(msg: M, multiple: boolean): boolean {
    try {
      this.#ch.ack(msg, multiple);
      return true;
    } catch (err) {
      // The channel closed under us: the broker puts back everything unacked on it, so there is nothing to ack.
      this.dispose();
      this.#onDead?.(err);
      return false;
    }
  }
}
