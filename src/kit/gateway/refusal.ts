/**
 * A refused request: the error a source turns into its answer (REST problem+json, SOAP fault of the request's
 * version), with the HTTP headers that go with it (WWW-Authenticate, Retry-After, RateLimit-*). Its message is what
 * the caller may read and act on; `reason` is what exactly failed, for the log only (it may name claims, kids,
 * addresses: never the credential itself).
 */
import { PermanentError, RetryableError, type ErrorCode, type HubError } from '../../core/errors.js';

export interface Refusal {
  /** Headers for the answer. */
  readonly answerHeaders: Record<string, string>;
  /** What failed, for the log. */
  readonly reason: string;
}

class PermanentRefusal extends PermanentError implements Refusal {
  override readonly name = 'Refusal';
  constructor(code: ErrorCode, message: string, readonly reason: string, readonly answerHeaders: Record<string, string>) {
    super(code, message);
  }
}

class RetryableRefusal extends RetryableError implements Refusal {
  override readonly name = 'Refusal';
  constructor(code: ErrorCode, message: string, readonly reason: string, readonly answerHeaders: Record<string, string>) {
    super(code, message);
  }
}

export function refuse(code: 'AUTH_REQUIRED' | 'AUTH_FORBIDDEN' | 'RATE_LIMITED' | 'AUTH_UNAVAILABLE', message: string, reason: string, headers: Record<string, string> = {}): HubError & Refusal {
  return code === 'AUTH_UNAVAILABLE' ? new RetryableRefusal(code, message, reason, headers) : new PermanentRefusal(code, message, reason, headers);
}

/** The answer headers a refused request carries, if the error is a refusal. */
export function refusalHeaders(err: unknown): Record<string, string> | undefined {
  return err instanceof PermanentRefusal || err instanceof RetryableRefusal ? err.answerHeaders : undefined;
}

export function isRefusal(err: unknown): err is HubError & Refusal {
  return err instanceof PermanentRefusal || err instanceof RetryableRefusal;
}
