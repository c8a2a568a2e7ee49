/**
 * A journal that opens in the background: a hub whose Redis is away when it starts stays up, not ready, and opens
 * the journal as soon as Redis answers, rather than exiting (a service in a cluster restarting in a loop while Redis
 * is down helps nobody). Until then every role rejects UNAVAILABLE, as the Redis journal does while Redis is away
 * after start, so the runtime treats both alike: a message that needs the journal goes back to its source.
 */
import type { Journal } from './contract.js';
import { JournalError } from './errors.js';

export interface DeferredJournalOptions {
  /** Opens the real journal; rejects while its store is away. */
  open: () => Promise<Journal>;
  /** What the journal is, for the errors and the log ("Redis at redis://... (prefix ...)"). */
  where: string;
  /** Between two tries (default 1 s). */
  retryMs?: number;
  /** Each failed try, with its error (the first is already logged by whoever made this). */
  onRetry?: (err: unknown, attempt: number) => void;
}

/** The journal a hub holds while its store is away, and the promise of the real one. Made by the hub (hub.ts). */
export class DeferredJournal {
  /** Hand this to the journal's users: it rejects UNAVAILABLE until the real journal is open, then is that journal. */
  readonly journal: Journal;
  /** The real journal once open; undefined when closed first. */
  readonly opened: Promise<Journal | undefined>;
  #inner: Journal | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(readonly options: DeferredJournalOptions) {
    this.opened = this.#keepTrying();
    const closeJournal = (): Promise<void> => this.#close();
    this.journal = new Proxy({} as Journal, {
      get: (_target, name) => {
        if (name === 'close') return closeJournal;
        const inner = this.#inner as unknown as Record<string | symbol, unknown> | undefined;
        if (inner) {
          const value = inner[name];
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(inner) : value;
        }
        // Not a thenable, nor anything else a caller might probe for.
        if (typeof name !== 'string' || name === 'then') return undefined;
        return () => Promise.reject(this.#unavailable());
      },
    });
  }

  /** Whether the real journal is open. */
  get isOpen(): boolean {
    return this.#inner !== undefined;
  }

  async #keepTrying(): Promise<Journal | undefined> {
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        const journal = await this.options.open();
        if (this.#closed) {
          await journal.close();
          return undefined;
        }
        this.#inner = journal;
        return journal;
      } catch (err) {
        this.options.onRetry?.(err, attempt);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.retryMs ?? 1_000);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
    return undefined;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    const inner = this.#inner ?? (await this.opened);
    await inner?.close();
  }

  #unavailable(): JournalError {
    if (this.#closed) return new JournalError('CLOSED', 'the journal is closed');
    return new JournalError('UNAVAILABLE', `the journal (${this.options.where}) has not answered since the hub started; the hub keeps trying`);
  }
}
