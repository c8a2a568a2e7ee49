import type { Logger } from 'pino';
import type { Abortable, SendContext, StepContext } from '../core/contracts.js';
import type { Message } from '../core/message.js';
import type { MessageTrail } from '../journal/trail.js';
import type { Cancellation } from './cancellation.js';

/** Where a replayed message enters the flow. */
export interface ReplayTarget {
  /** Resume at this step (its index): the steps before it run again, but sinks that only take messages (no reply) are not called again. */
  startAt?: number;
  /** Skip the steps and send the message straight to this sink of the flow. */
  sink?: string;
}

/** How the runner handles one message: what it was handed for, and what becomes of it if it is not delivered. */
export interface Handling {
  /** Park a failed message in the journal (retry or dead) and resolve, rather than reject to the caller. */
  park: boolean;
  target?: ReplayTarget;
  /** The message already has its whole record (a replay booked with its safety retry): no `received` is written. */
  recorded?: boolean;
  /** An ordered source pipelines this message (DeliverOptions.onIssued); set only when the flow can keep the order. */
  lane?: Lane;
  /** The first step to run (a message a step emitted, StepRuntime.emit: the one after it); 0 when unset. */
  from?: number;
}

/**
 * One pipelined delivery's order point: `issue` is handed to the one sink send as SendContext.issued, and tells the
 * source once; after that, a retryable failure goes back to the source (which delivers it and what followed again,
 * in order) instead of being retried here while later messages are already written.
 */
export class Lane {
  issued = false;
  constructor(readonly onIssued: () => void) {}
  readonly issue = (): void => {
    if (this.issued) return;
    this.issued = true;
    this.onIssued();
  };
}

/** How a message's context sends: made once per runner (SinkCalls), never per message. */
export type Sender = (sink: string, message: Message, ctx: MessageContext) => Promise<Message | undefined>;

/** The dedupe check of a message's context: `input` is the message as it entered the flow; `run`, its run (cut: give up waiting). */
export type Deduper = (input: Message, key: string, ttlMs: number, run?: { readonly aborted: boolean }) => Promise<boolean>;

/** The dedupe check of a message that passes every key: a replay (an operator's decision), a dead letter. */
export const ALWAYS_NEW: Deduper = () => Promise.resolve(true);

/**
 * What a message's steps get (StepContext), and its sink calls (SendContext): an instance of a class, since an
 * object literal with getters costs over a microsecond to make, and with methods rather than closures, since it
 * lives as long as the message. The message's child logger and the AbortSignal are made only if asked for: most
 * messages never log, and few sinks need the signal itself.
 */
export class MessageContext implements StepContext, SendContext {
  #logger: Logger | undefined;
  readonly #base: Logger;
  readonly #input: Message;
  readonly #cancel: Cancellation;
  readonly #sender: Sender;
  readonly #deduper: Deduper;
  readonly issued: (() => void) | undefined;
  /** The runner's own, for the run of the steps: the message's trail, and a replay's resume point and context. */
  trail: MessageTrail | undefined = undefined;
  resume = 0;
  replay: MessageContext | undefined = undefined;

  constructor(
    readonly flow: string,
    base: Logger,
    input: Message,
    cancel: Cancellation,
    sender: Sender,
    deduper: Deduper,
    readonly lane: Lane | undefined,
  ) {
    this.#base = base;
    this.#input = input;
    this.#cancel = cancel;
    this.#sender = sender;
    this.#deduper = deduper;
    this.issued = lane?.issue;
  }

  /** The id of the message as it entered the flow. */
  get messageId(): string {
    return this.#input.id;
  }

  send(sink: string, message: Message): Promise<Message | undefined> {
    return this.#sender(sink, message, this);
  }

  dedupe(key: string, ttlMs: number): Promise<boolean> {
    return this.#deduper(this.#input, key, ttlMs, this.#cancel);
  }

  get logger(): Logger {
    return (this.#logger ??= this.#base.child({ messageId: this.#input.id }));
  }

  get signal(): AbortSignal {
    return this.#cancel.signal;
  }

  follow(target: Abortable): void {
    this.#cancel.follow(target);
  }

  unfollow(target: Abortable): void {
    this.#cancel.unfollow(target);
  }

  get aborted(): boolean {
    return this.#cancel.aborted;
  }
}
