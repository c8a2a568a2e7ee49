import { CONFIG_ERROR_CODES, ConfigError, type ConfigErrorCode } from '../core/errors.js';

/**
 * Why a journal call failed, in the contract's words (src/journal/contract.ts). Each has its code in the table of
 * src/core/errors.ts (CODE_OF); callers branch on the class and `code`, never on the message text.
 */
export type JournalFailure = 'NOT_FOUND' | 'INVALID' | 'UNAVAILABLE' | 'LOCKED' | 'CLOSED';

const CODE_OF = {
  NOT_FOUND: 'JOURNAL_NOT_FOUND',
  INVALID: 'JOURNAL_INVALID_ARGUMENT',
  UNAVAILABLE: 'JOURNAL_STORE_UNAVAILABLE',
  LOCKED: 'JOURNAL_LOCKED',
  CLOSED: 'JOURNAL_CLOSED',
} as const satisfies Record<JournalFailure, ConfigErrorCode>;

export type JournalErrorCode = (typeof CODE_OF)[JournalFailure];

/**
 * A rejection of the journal contract. The backends name the failure (`new JournalError('LOCKED', ...)`); its `code`
 * is the table's (JOURNAL_LOCKED), which `hub` prints and exits with when opening the journal fails.
 */
export class JournalError extends ConfigError {
  override readonly name = 'JournalError';
  declare readonly code: JournalErrorCode;

  constructor(
    readonly failure: JournalFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(CODE_OF[failure], message, options);
  }

  get hint(): string {
    return this.spec.hint;
  }

  /** Only an unavailable store may answer differently later; the rest are final. */
  get retryable(): boolean {
    return this.failure === 'UNAVAILABLE';
  }
}

export function notFound(id: string): JournalError {
  return new JournalError('NOT_FOUND', `no journal record for message "${id}"`);
}

/**
 * What went wrong while `doing` something, for an operator to read: the failure of a JournalError (anything else a
 * store threw counts as unavailable), its message after what was being done, and the table's way out.
 */
export function journalFailure(err: unknown, doing: string): JournalError {
  const failure = err instanceof JournalError ? err.failure : 'UNAVAILABLE';
  const reason = err instanceof Error ? err.message : String(err);
  return new JournalError(failure, `${doing}: ${reason}. ${CONFIG_ERROR_CODES[CODE_OF[failure]].hint}`, { cause: err });
}
