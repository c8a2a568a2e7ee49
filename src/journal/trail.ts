/**
 * One message's way into the journal under its flow's policy: what the runtime holds per message in flight. Under
 * `failures` the events are kept in memory (a few small objects) and nothing is written until the first failure,
 * when the record is created with everything held so far in one write, so the success path costs no I/O. Under
 * `all` the record is written at receipt and each later write carries the events noted since; under `none` only a
 * parked message gets one. One trail per message; its calls must not overlap (they follow the message's own steps).
 *
 * A trail writes to the message log alone. It keeps the journal it was given as it was given (`J`, the whole Journal
 * by default), since the flow runner parks the message through `trail.journal` (scheduleRetry, deadLetter).
 */
import type { FlowJournalOptions, Journal, MessageInput, MessageLog, TimelineEvent } from './contract.js';

/** Events that make `failures` create the record. */
const FAILURE_EVENTS: ReadonlySet<TimelineEvent['type']> = new Set(['failed', 'waiting-for-retry', 'dead']);

/** No cap: a parked message is kept whole, since the journal is then its only copy. */
const WHOLE = Number.MAX_SAFE_INTEGER;

/**
 * A message as a trail needs it up front: its id and when it was received. The whole input (headers, body) is made
 * by `toInput` only when something is written: under `failures` the success path never needs it.
 */
export interface TrailSubject {
  readonly id: string;
  readonly receivedAt: string;
  toInput(): MessageInput;
}

export class MessageTrail<J extends MessageLog = Journal> {
  #recorded: boolean;
  readonly #subject: MessageInput | TrailSubject;
  #input: MessageInput | undefined;
  /** Whether the stored body is the whole body (false once a record was made under the cap with a longer body). */
  #whole = true;
  #held: TimelineEvent[] = [];

  private constructor(
    readonly journal: J,
    readonly options: FlowJournalOptions,
    subject: MessageInput | TrailSubject,
    recorded: boolean,
  ) {
    this.#subject = subject;
    this.#recorded = recorded;
  }

  get id(): string {
    return this.#subject.id;
  }

  /** The message as the journal records it (made on first use from a TrailSubject). */
  get message(): MessageInput {
    return (this.#input ??= 'toInput' in this.#subject ? this.#subject.toInput() : this.#subject);
  }

  /**
   * Starts a trail with the `received` event (written at once under `all`), with the transport's facts (`meta`)
   * when the caller gives them. Returns the trail itself when nothing
   * was written (`failures`, `none`: the common case, without a turn of the microtask queue).
   */
  static begin<J extends MessageLog>(journal: J, options: FlowJournalOptions, message: MessageInput | TrailSubject, attempt = 1, meta?: Record<string, unknown>): MessageTrail<J> | Promise<MessageTrail<J>> {
    const trail = new MessageTrail(journal, options, message, false);
    const written = trail.event(meta ? { type: 'received', at: message.receivedAt, attempt, meta } : { type: 'received', at: message.receivedAt, attempt });
    return written ? written.then(() => trail) : trail;
  }

  /** The trail of a message that already has its whole record (a retry taken from the journal). */
  static resume<J extends MessageLog>(journal: J, options: FlowJournalOptions, message: MessageInput | TrailSubject): MessageTrail<J> {
    return new MessageTrail(journal, options, message, true);
  }

  /** True once the message has a record in the journal. */
  get recorded(): boolean {
    return this.#recorded;
  }

  /**
   * Notes an event without writing: it goes out with the next write (or the record's creation), so a step costs no
   * I/O of its own. Dropped under `none` unless the message gets a record later.
   */
  note(event: TimelineEvent): void {
    this.#held.push(event);
  }

  /**
   * Adds an event: written (with those noted before it), held in memory, or dropped, as the policy says. Returns a
   * promise that resolves once what it wrote is durable, or undefined when it wrote nothing.
   */
  event(event: TimelineEvent): Promise<void> | undefined {
    if (this.#recorded) return this.#flush(event);
    const policy = this.options.record;
    if (policy === 'all' || (policy === 'failures' && FAILURE_EVENTS.has(event.type))) return this.#create([...this.#held, event], this.options.maxBodyBytes);
    this.#held.push(event);
    return undefined;
  }

  /**
   * Makes sure the message has a record with its whole body, whatever the policy: called before parking it (retry,
   * dead letter), when the journal becomes its only copy. A record made earlier under the body cap with a longer
   * body is made again whole, its timeline kept.
   */
  async ensureRecorded(): Promise<void> {
    if (!this.#recorded) return this.#create(this.#held, WHOLE);
    if (this.#whole) return this.#flush();
    const existing = await this.journal.get(this.id);
    await this.journal.remove(this.id);
    await this.#create([...(existing?.timeline ?? []), ...this.#held], WHOLE);
  }

  async #flush(event?: TimelineEvent): Promise<void> {
    if (event) this.#held.push(event);
    if (this.#held.length === 0) return;
    const events = this.#held;
    this.#held = [];
    await this.journal.append(this.id, events);
  }

  async #create(events: TimelineEvent[], maxBodyBytes: number): Promise<void> {
    await this.journal.record(this.message, events, { maxBodyBytes });
    this.#recorded = true;
    this.#whole = this.message.body.length <= maxBodyBytes;
    this.#held = [];
  }
}
