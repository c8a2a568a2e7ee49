/** Why a journal call failed. Callers branch on `code`, never on the message text. */
export type JournalErrorCode = 'NOT_FOUND' | 'INVALID' | 'UNAVAILABLE' | 'LOCKED' | 'CLOSED';

const HINTS: Record<JournalErrorCode, string> = {
  NOT_FOUND: 'The message has no journal record (it was never recorded under its flow\'s journal policy, or it was removed), or the retry claim is no longer held.',
  INVALID: 'A bad argument: a bug in the caller.',
  UNAVAILABLE: 'The journal store cannot be reached or written; retry later, and settle no transport on the strength of this call.',
  LOCKED: 'Another process has this journal open; stop it, or give this hub its own journal directory.',
  CLOSED: 'The journal was closed.',
};

export class JournalError extends Error {
  override readonly name = 'JournalError';
  constructor(
    readonly code: JournalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get hint(): string {
    return HINTS[this.code];
  }

  get retryable(): boolean {
    return this.code === 'UNAVAILABLE';
  }
}

export function notFound(id: string): JournalError {
  return new JournalError('NOT_FOUND', `no journal record for message "${id}"`);
}
