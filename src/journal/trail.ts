/**
 * One message's way into the journal under its flow's policy: what the runtime's journal middleware will hold per
 * message in flight. Under `failures` the events are kept in memory (a few small objects) and nothing is written
 * until the first failure, when the record is created with everything held so far in one write, so the success path
 * costs no I/O. Under `all` the record is written at receipt; under `none` only a parked message gets one.
 * One trail per message; its calls must not overlap (they follow the message's own steps).
 */
import type { FlowJournalOptions, Journal, MessageInput, TimelineEvent } from './contract.js';

/** Events that make `failures` create the record. */
const FAILURE_EVENTS: ReadonlySet<TimelineEvent['type']> = new Set(['failed', 'waiting-for-retry', 'dead']);

export class MessageTrail {
  #recorded = false;
  #held: TimelineEvent[] = [];

  private constructor(
    readonly journal: Journal,
    readonly options: FlowJournalOptions,
    readonly message: MessageInput,
  ) {}

  /** Starts a trail with the `received` event (written at once under `all`). */
  static async begin(journal: Journal, options: FlowJournalOptions, message: MessageInput, attempt = 1): Promise<MessageTrail> {
    const trail = new MessageTrail(journal, options, message);
    await trail.event({ type: 'received', at: message.receivedAt, attempt });
    return trail;
  }

  /** True once the message has a record in the journal. */
  get recorded(): boolean {
    return this.#recorded;
  }

  /** Adds an event: written, held in memory, or dropped, as the policy says. Resolves once what it wrote is durable. */
  async event(event: TimelineEvent): Promise<void> {
    if (this.#recorded) return this.journal.append(this.message.id, [event]);
    const policy = this.options.record;
    if (policy === 'none') return;
    if (policy === 'all' || FAILURE_EVENTS.has(event.type)) return this.#create([...this.#held, event]);
    this.#held.push(event);
  }

  /** Makes sure the message has a record, whatever the policy: called before parking it (retry, dead letter). */
  async ensureRecorded(): Promise<void> {
    if (!this.#recorded) await this.#create(this.#held);
  }

  async #create(events: TimelineEvent[]): Promise<void> {
    await this.journal.record(this.message, events, { maxBodyBytes: this.options.maxBodyBytes });
    this.#recorded = true;
    this.#held = [];
  }
}
