import type { Logger } from 'pino';
import { hubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { DedupeReservation, Journal } from '../journal/contract.js';
import { journalUnavailable } from './journal.js';
import type { Deduper } from './message-context.js';

/** How often a message whose key another running message has reserved asks again. */
const BUSY_POLL_MS = 25;
/** Beyond the flow's deadline: how long a reservation outlives its message's run (a replica killed mid-message frees its keys then). */
export const LEASE_MARGIN_MS = 2_000;

/**
 * A flow's dedupe keys (the dedupe step's StepContext.dedupe). A key is reserved in the journal as the message
 * reaches the dedupe step, atomically across replicas, and kept for its time to live once the message settles
 * delivered or parked (`settle`); a message handed back to its source (a crash, a shutdown, a caller's error) gives
 * its reservation up, so that it comes again to a free key. A second message with a key another message has
 * reserved (here or on another replica) waits for that one's outcome: kept, it is a duplicate; given up, or its
 * lease run out (its replica died), it takes the key. So two replicas given one key at the same moment deliver it
 * once. Keys are scoped by flow; a key's owner is the id of the message that reserved it, so the message's own
 * retries pass. One per runner.
 */
export class DedupeKeys {
  readonly #flow: string;
  readonly #journal: Journal | undefined;
  readonly #logger: Logger;
  /** A reservation's lease: the flow's deadline and a margin (the runner's; LEASE_MARGIN_MS). */
  readonly #leaseMs: number;
  /** The keys when the runner has no journal (unit tests): kept (until, owner) and reserved. */
  readonly #memory = new Map<string, { until: number; owner: string; reserved: boolean }>();
  /** The dedupe keys each running message reserved, to be kept or given up when it settles. */
  readonly #taken = new WeakMap<Message, { scoped: string; ttlMs: number }[]>();

  /** The check a message's context makes (MessageContext.dedupe): made once, here, rather than a closure per message. */
  readonly deduper: Deduper = (input, key, ttlMs, run) => this.check(input, key, ttlMs, run);

  constructor(flow: string, journal: Journal | undefined, logger: Logger, leaseMs = 30_000 + LEASE_MARGIN_MS) {
    this.#flow = flow;
    this.#journal = journal;
    this.#logger = logger;
    this.#leaseMs = leaseMs;
  }

  /**
   * The dedupe step's check for `input` (the message as it entered the flow; its id owns the keys it reserves):
   * true when the key was free or is `input`'s own (it is now reserved for it), false for a duplicate (a key another
   * message keeps). While another running message has the key reserved it waits for that one's outcome, at most a
   * lease, or until `run` is cut (its deadline); rejects DOWNSTREAM_UNAVAILABLE (retryable) if it is still
   * undecided then, JOURNAL_UNAVAILABLE when the journal cannot say.
   */
  async check(input: Message, key: string, ttlMs: number, run?: { readonly aborted: boolean }): Promise<boolean> {
    const scoped = `${this.#flow}\u0000${key}`;
    const owner = input.id;
    const giveUp = Date.now() + this.#leaseMs;
    for (;;) {
      let found: DedupeReservation;
      try {
        found = this.#journal ? await this.#journal.reserveDedupe(scoped, owner, this.#leaseMs) : this.#memoryReserve(scoped, owner);
      } catch (err) {
        throw journalUnavailable(err, 'reserve the dedupe key');
      }
      if (found === 'held') return false;
      if (found === 'reserved') {
        // Cut while it waited: the runner has settled it already, so the key goes back at once.
        if (run?.aborted) {
          await this.#release(scoped, owner).catch(() => {});
          throw hubError('TIMEOUT', `the message ran out of time waiting for dedupe key "${key}"`);
        }
        let keys = this.#taken.get(input);
        if (!keys) this.#taken.set(input, (keys = []));
        if (!keys.some((k) => k.scoped === scoped)) keys.push({ scoped, ttlMs });
        return true;
      }
      if (Date.now() > giveUp || run?.aborted) throw hubError('DOWNSTREAM_UNAVAILABLE', `another message with dedupe key "${key}" is still running after ${this.#leaseMs} ms; this one is tried again later`);
      await new Promise((resolve) => setTimeout(resolve, BUSY_POLL_MS));
    }
  }

  /** Whether `input` reserved a key that `settle` has to end: most messages reserve none (their flow has no dedupe step). */
  took(input: Message): boolean {
    return this.#taken.has(input);
  }

  /**
   * Ends the dedupe keys `input` reserved: kept for their time to live when it was delivered or parked (`keep`),
   * given up otherwise. A journal failure here is logged (the message is settled; at worst a later duplicate passes,
   * or the next message with the key waits for the lease). Never rejects.
   */
  async settle(input: Message, keep: boolean): Promise<void> {
    const keys = this.#taken.get(input);
    if (!keys) return;
    this.#taken.delete(input);
    for (const { scoped, ttlMs } of keys) {
      try {
        if (!keep) await this.#release(scoped, input.id);
        else if (this.#journal) await this.#journal.dedupe(scoped, ttlMs, input.id);
        else if (this.#memory.get(scoped)?.owner === input.id) this.#memory.set(scoped, { until: Date.now() + ttlMs, owner: input.id, reserved: false });
      } catch (err) {
        this.#logger.warn({ err, messageId: input.id }, keep ? 'the journal could not keep a dedupe key of a settled message; a later duplicate may pass' : 'the journal could not give up a dedupe key of a failed message; the next message with it waits for its lease');
      }
    }
  }

  async #release(scoped: string, owner: string): Promise<void> {
    if (this.#journal) await this.#journal.releaseDedupe(scoped, owner);
    else if (this.#memory.get(scoped)?.owner === owner && this.#memory.get(scoped)?.reserved) this.#memory.delete(scoped);
  }

  #memoryReserve(scoped: string, owner: string): DedupeReservation {
    const now = Date.now();
    const held = this.#memory.get(scoped);
    if (held !== undefined && held.until > now) return held.owner === owner ? 'reserved' : held.reserved ? 'busy' : 'held';
    this.#memory.set(scoped, { until: now + this.#leaseMs, owner, reserved: true });
    return 'reserved';
  }
}
