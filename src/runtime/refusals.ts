/**
 * A flow's journalling of the requests its caller was answered with an error for: in-flow failures of a request-reply
 * source, and bad input its source refused before delivery (SourceContext.refused). Under the flow's journal policy
 * (`none` keeps nothing); bad input — the caller's own fault — is kept at most REFUSALS_KEPT_PER_MINUTE a minute per
 * flow, so that nobody can fill the journal with malformed requests; the error answer then says "not kept". Each
 * answer's error carries `journal` ('kept' or 'not kept'), which the answer reports beside the message id. A request
 * the gateway turned away (auth, rate limit: isRefusal) is never kept: an unknown caller, or one over its rate, must
 * not be able to write into the journal or use up the flow's budget for bad input.
 */
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { RefusedInput } from '../core/contracts.js';
import type { HubError } from '../core/errors.js';
import type { Journal, TimelineEvent } from '../journal/contract.js';
import { isRefusal } from '../kit/gateway/refusal.js';
import { errorInfo } from './journal.js';

/** Refused requests (bad input) a flow keeps per minute at most. */
export const REFUSALS_KEPT_PER_MINUTE = 120;

/** The `detail` of the `failed` event of a message whose caller was answered with the error: the console marks it. */
export const CALLER_ANSWERED = 'caller answered with this error';

export class Refusals {
  #windowStart = 0;
  #taken = 0;

  constructor(
    readonly def: FlowDefinition,
    readonly journal: Journal | undefined,
    readonly logger: Logger,
  ) {}

  /** One more bad-input record allowed this minute? Takes it if so. */
  take(): boolean {
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#taken = 0;
    }
    if (this.#taken >= REFUSALS_KEPT_PER_MINUTE) return false;
    this.#taken++;
    return true;
  }

  /** SourceContext.refused for this flow. */
  async refused(input: RefusedInput, error: HubError): Promise<void> {
    error.journal = 'not kept';
    if (!this.journal || this.def.journal.record === 'none' || isRefusal(error) || !this.take()) return;
    const at = new Date().toISOString();
    const events: TimelineEvent[] = [
      { type: 'received', at },
      { type: 'failed', at, attempt: 1, error: errorInfo(error), detail: CALLER_ANSWERED },
    ];
    const correlationId = input.headers['correlation-id'];
    try {
      await this.journal.record(
        { id: input.id, flow: this.def.name, source: input.source, receivedAt: at, headers: input.headers, body: input.body ?? Buffer.alloc(0), ...(correlationId ? { correlationId } : {}) },
        events,
        { maxBodyBytes: this.def.journal.maxBodyBytes },
      );
      error.journal = 'kept';
    } catch (err) {
      this.logger.warn({ err, messageId: input.id }, 'a refused request could not be journalled');
    }
  }
}
