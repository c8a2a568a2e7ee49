/**
 * Publishing with publisher confirms, basic.return and backpressure, shared by the sink and by the source (which
 * publishes to its retry and dead-letter destinations before it acks).
 */
import type { ConfirmChannel, Message as AmqpMessage, Options } from 'amqplib';

/** How one confirmed publish ended. */
export type PublishOutcome =
  | { ok: true }
  /** The broker could not route it (mandatory): basic.return, then its ack. */
  | { ok: false; reason: 'unroutable'; replyCode: number; replyText: string }
  /** The broker nacked it (an internal error, or a quorum queue rejecting a publish). */
  | { ok: false; reason: 'nacked' }
  /** The channel (or its connection) closed before the confirm came. The message may or may not have arrived. */
  | { ok: false; reason: 'closed'; detail: string };

/** An unconfirmed mandatory publish, which a basic.return may name. */
interface Pending {
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string | undefined;
  returned: { replyCode: number; replyText: string } | undefined;
}

interface ChannelState {
  /** Unconfirmed mandatory publishes, oldest first. */
  pending: Pending[];
  /** Set while the channel's write buffer is full; later publishes wait for it. */
  drained: Promise<void> | undefined;
  /** How many times a publish found the buffer full (for tests and metrics). */
  drainWaits: number;
}

const states = new WeakMap<ConfirmChannel, ChannelState>();

const OK: PublishOutcome = Object.freeze({ ok: true });

function stateOf(ch: ConfirmChannel): ChannelState {
  let state = states.get(ch);
  if (!state) {
    const created: ChannelState = { pending: [], drained: undefined, drainWaits: 0 };
    state = created;
    states.set(ch, created);
    // The broker sends basic.return before the ack of the same message, in publish order, so the oldest unconfirmed
    // publish with the same exchange, routing key and message id is the one returned. Returns are rare: a scan of
    // the unconfirmed ones costs less than a lookup structure kept up for every publish.
    ch.on('return', (msg: AmqpMessage) => {
      const { exchange, routingKey } = msg.fields;
      const messageId = msg.properties.messageId as string | undefined;
      const entry = created.pending.find((p) => !p.returned && p.exchange === exchange && p.routingKey === routingKey && p.messageId === messageId);
      if (entry) entry.returned = { replyCode: (msg.fields as { replyCode?: number }).replyCode ?? 312, replyText: (msg.fields as { replyText?: string }).replyText ?? 'NO_ROUTE' };
    });
  }
  return state;
}

/** Takes a confirmed (or failed) publish off the unconfirmed ones: confirms come in publish order, so mostly the first. */
function forget(pending: Pending[], entry: Pending): void {
  if (pending[0] === entry) pending.shift();
  else {
    const i = pending.indexOf(entry);
    if (i >= 0) pending.splice(i, 1);
  }
}

/** How many times publishes on this channel had to wait for 'drain'. */
export function drainWaits(ch: ConfirmChannel): number {
  return states.get(ch)?.drainWaits ?? 0;
}

/** Who may give up on a publish before it is written: a sink's SendContext. */
export interface PublishCancel {
  readonly aborted: boolean;
  readonly signal: AbortSignal;
}

/**
 * Publishes one message and resolves with how the broker settled it. Waits first while the channel's write buffer is
 * full (publish() returned false earlier) until 'drain'; `cancel` bounds that wait, and nothing is published once it
 * is aborted (rejecting with its signal's reason). The wait for the confirm is not cut short: the confirm, or the
 * channel's close, settles it (a flow that gave up on the message settled it already; it may still arrive: at least
 * once). `onWritten` is called once the publish is on the channel, before its confirm: a publish made after that
 * reaches the broker after it.
 */
export function publishConfirmed(ch: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: Options.Publish, cancel?: PublishCancel, onWritten?: () => void): Promise<PublishOutcome> {
  const state = stateOf(ch);
  if (state.drained) return publishAfterDrain(state, ch, exchange, routingKey, body, options, cancel, onWritten);
  if (cancel?.aborted) return Promise.reject(cancel.signal.reason as Error);
  return publish(state, ch, exchange, routingKey, body, options, onWritten);
}

async function publishAfterDrain(state: ChannelState, ch: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: Options.Publish, cancel?: PublishCancel, onWritten?: () => void): Promise<PublishOutcome> {
  while (state.drained) await abortable(state.drained, cancel?.signal);
  if (cancel?.aborted) cancel.signal.throwIfAborted();
  return publish(state, ch, exchange, routingKey, body, options, onWritten);
}

function publish(state: ChannelState, ch: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: Options.Publish, onWritten?: () => void): Promise<PublishOutcome> {
  const entry: Pending | undefined = options.mandatory ? { exchange, routingKey, messageId: options.messageId, returned: undefined } : undefined;
  if (entry) state.pending.push(entry);
  return new Promise<PublishOutcome>((resolve) => {
    let written: boolean;
    try {
      written = ch.publish(exchange, routingKey, body, options, (err: unknown) => {
        if (entry) forget(state.pending, entry);
        if (!err) resolve(entry?.returned ? { ok: false, reason: 'unroutable', ...entry.returned } : OK);
        else if (err instanceof Error && err.message === 'message nacked') resolve({ ok: false, reason: 'nacked' });
        else resolve({ ok: false, reason: 'closed', detail: err instanceof Error ? err.message : String(err) });
      });
    } catch (err) {
      // amqplib throws synchronously on a channel that has closed (IllegalOperationError).
      if (entry) forget(state.pending, entry);
      resolve({ ok: false, reason: 'closed', detail: err instanceof Error ? err.message : String(err) });
      return;
    }
    onWritten?.();
    if (!written && !state.drained) {
      state.drainWaits++;
      state.drained = new Promise<void>((release) => {
        const done = (): void => {
          ch.removeListener('drain', done);
          ch.removeListener('close', done);
          state.drained = undefined;
          release();
        };
        ch.on('drain', done);
        ch.on('close', done);
      });
    }
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
