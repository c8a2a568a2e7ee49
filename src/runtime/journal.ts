/**
 * The runtime's side of the journal: turning messages into journal records and back, the durable retry's backoff,
 * and writing an outcome nothing waits on. The parking decisions themselves are parking.ts's, the polling of due
 * retries the retry poller's (retry-poller.ts).
 */
import type { Logger } from 'pino';
import type { RetryPolicy } from '../config/load-flows.js';
import { hubError, type HubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import type { ErrorInfo, MessageInput, MessageRecord, TimelineEvent } from '../journal/contract.js';
import { JournalError } from '../journal/errors.js';
import type { MessageTrail, TrailSubject } from '../journal/trail.js';
import { bodyBytes } from '../journal/shared.js';
import { backoffMs } from './retry.js';

/** A message as the journal records it: its body as received, its headers, where and when it came in. */
export function journalInput(message: Message): MessageInput {
  const correlationId = message.headers['correlation-id'];
  const replayOf = message.meta.replayOf;
  // Assigned rather than spread in: this runs for every message.
  const input: MessageInput = { id: message.id, flow: message.meta.flow, source: message.meta.source, receivedAt: message.meta.receivedAt, headers: message.headers, body: message.body };
  if (correlationId) input.correlationId = correlationId;
  if (replayOf) input.replayOf = replayOf;
  return input;
}

/** A message as its trail needs it: the journal input is made only if the trail writes. */
export function trailSubject(message: Message): TrailSubject {
  return new MessageSubject(message);
}

class MessageSubject implements TrailSubject {
  constructor(readonly message: Message) {}
  get id(): string {
    return this.message.id;
  }
  get receivedAt(): string {
    return this.message.meta.receivedAt;
  }
  toInput(): MessageInput {
    return journalInput(this.message);
  }
}

/** The message a journal record holds, ready to run again as try number `attempt`. */
export function messageFromRecord(record: MessageRecord, attempt: number): Message {
  return new Message({
    id: record.id,
    body: bodyBytes(record.body),
    headers: record.headers,
    meta: { flow: record.flow, source: record.source, receivedAt: record.receivedAt, attempt, ...(record.replayOf ? { replayOf: record.replayOf } : {}) },
  });
}

export function errorInfo(e: HubError): ErrorInfo {
  return { code: e.code, message: e.message, ...(e.step ? { step: e.step } : {}) };
}

/** When the next durable retry is due, after try number `attempt` failed. */
export function durableDueAt(policy: RetryPolicy, attempt: number): string {
  return new Date(Date.now() + backoffMs(policy, attempt)).toISOString();
}

/** A journal failure as the error a source sees: retryable, so it keeps the message (no ack, no commit). */
export function journalUnavailable(err: unknown, doing: string): HubError {
  const reason = err instanceof JournalError ? `${err.code}: ${err.message}` : (err as Error)?.message ?? String(err);
  return hubError('JOURNAL_UNAVAILABLE', `the journal could not ${doing} (${reason}); the message stays with its source`, { cause: err });
}

/**
 * Writes an outcome the message does not depend on (it was delivered, or its caller gets the error): a journal
 * failure is logged, not thrown. Undefined when the trail wrote nothing (MessageTrail.event): a caller awaits only a write.
 */
export function recordOutcome(trail: MessageTrail, event: TimelineEvent, logger: Logger): Promise<void> | undefined {
  let written: Promise<void> | undefined;
  try {
    written = trail.event(event);
  } catch (err) {
    written = Promise.reject(err);
  }
  return written?.catch((err: unknown) => {
    logger.warn({ err, messageId: trail.id, event: event.type }, 'the journal could not record an outcome; the message itself is settled');
  });
}

/** Meta every message has, or that says where it is in the hub rather than how it came: not a transport's fact. */
const NOT_FACTS: ReadonlySet<string> = new Set(['flow', 'source', 'receivedAt', 'attempt', 'route', 'parentId', 'replayOf', 'upstreamId', 'status', 'downstreamStatus']);

/** The transport's facts of a message as its source made it (TimelineEvent.meta of `received`, under `all`). */
export function transportFacts(meta: Message['meta']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in meta) if (!NOT_FACTS.has(key) && meta[key] !== undefined) out[key] = meta[key];
  return out;
}
