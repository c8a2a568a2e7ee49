import type { Logger } from 'pino';
import type { Message } from '../core/message.js';
import type { Journal } from '../journal/contract.js';
import { journalUnavailable } from './journal.js';
import type { Deduper } from './message-context.js';

/**
 * A flow's dedupe keys (the dedupe step's StepContext.dedupe): which message holds each key, in the journal and among
 * the messages running in this process. A key is checked while a message runs and taken only when it settles
 * delivered or parked (`settle`), so that a message handed back to its source (a crash, a shutdown, a caller's
 * error) comes again to a free key. Keys are scoped by flow; a key's owner is the id of the message that took it, so
 * the message's own retries pass. One per runner.
 */
export class DedupeKeys {
  readonly #flow: string;
  readonly #journal: Journal | undefined;
  readonly #logger: Logger;
  /** The kept keys when the runner has no journal (unit tests): the holder of each, and until when. */
  readonly #seen = new Map<string, { until: number; owner: string }>();
  /** Dedupe keys of the messages running in this process, with the id of the message that has each. */
  readonly #runningKeys = new Map<string, string>();
  /** The dedupe keys each running message passed, to be kept or given up when it settles. */
  readonly #taken = new WeakMap<Message, { scoped: string; ttlMs: number }[]>();

  /** The check a message's context makes (MessageContext.dedupe): made once, here, rather than a closure per message. */
  readonly deduper: Deduper = (input, key, ttlMs) => this.check(input, key, ttlMs);

  constructor(flow: string, journal: Journal | undefined, logger: Logger) {
    this.#flow = flow;
    this.#journal = journal;
    this.#logger = logger;
  }

  /**
   * The dedupe step's check for `input` (the message as it entered the flow; its id owns the keys it takes): true
   * when the key is free or `input`'s own, false for a duplicate (a key another message holds in the journal, or is
   * running with in this process). Nothing durable is written here; the key is taken when `input` settles. Rejects
   * JOURNAL_UNAVAILABLE when the journal cannot say.
   */
  async check(input: Message, key: string, ttlMs: number): Promise<boolean> {
    const scoped = `${this.#flow}\u0000${key}`;
    const owner = input.id;
    const running = this.#runningKeys.get(scoped);
    if (running !== undefined && running !== owner) return false;
    this.#runningKeys.set(scoped, owner);
    let holder: string | undefined;
    try {
      holder = this.#journal ? await this.#journal.dedupeHolder(scoped) : this.#memoryHolder(scoped);
    } catch (err) {
      if (this.#runningKeys.get(scoped) === owner) this.#runningKeys.delete(scoped);
      throw journalUnavailable(err, 'check the dedupe key');
    }
    if (holder !== undefined && holder !== owner) {
      if (this.#runningKeys.get(scoped) === owner) this.#runningKeys.delete(scoped);
      return false;
    }
    let keys = this.#taken.get(input);
    if (!keys) this.#taken.set(input, (keys = []));
    keys.push({ scoped, ttlMs });
    return true;
  }

  /** Whether `input` passed a key that `settle` has to end: most messages pass none (their flow has no dedupe step). */
  took(input: Message): boolean {
    return this.#taken.has(input);
  }

  /**
   * Ends the dedupe keys `input` passed: kept for their time to live when it was delivered or parked (`keep`; a
   * journal failure here is logged: the message is settled, and at worst a later duplicate passes), given up
   * otherwise. Never rejects.
   */
  async settle(input: Message, keep: boolean): Promise<void> {
    const keys = this.#taken.get(input);
    if (!keys) return;
    this.#taken.delete(input);
    for (const { scoped, ttlMs } of keys) {
      if (keep) {
        try {
          if (this.#journal) await this.#journal.dedupe(scoped, ttlMs, input.id);
          else this.#seen.set(scoped, { until: Date.now() + ttlMs, owner: input.id });
        } catch (err) {
          this.#logger.warn({ err, messageId: input.id }, 'the journal could not keep a dedupe key of a settled message; a later duplicate may pass');
        }
      }
      if (this.#runningKeys.get(scoped) === input.id) this.#runningKeys.delete(scoped);
    }
  }

  #memoryHolder(scoped: string): string | undefined {
    const held = this.#seen.get(scoped);
    return held !== undefined && held.until > Date.now() ? held.owner : undefined;
  }
}
