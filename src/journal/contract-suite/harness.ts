/**
 * What the contract suite's cases share: the harness a backend passes (a store of its own per test), and the helpers
 * that make messages and events and check rejections.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Journal, MessageInput, RetryClaim, TimelineEvent } from '../contract.js';
import { JournalError } from '../errors.js';

export interface JournalHarness {
  /** Opens a journal on this test's store; may be called again after close() (a restart) and, when `shared`, while another is open. */
  open(): Promise<Journal>;
  /** True when several instances may have one store open at once (several hub replicas). */
  shared: boolean;
  /** Closes whatever is still open and deletes the store. */
  destroy(): Promise<void>;
}

export interface HarnessOptions {
  /** Retry claim lease for this test (ms). */
  leaseMs?: number;
}

export type HarnessFactory = (options: HarnessOptions) => Promise<JournalHarness>;

export const CAP = { maxBodyBytes: 1024 };

export function message(over: Partial<MessageInput> = {}): MessageInput {
  return {
    id: `m-${randomUUID()}`,
    correlationId: `c-${randomUUID()}`,
    flow: 'orders',
    source: 'rest:POST /api/orders',
    receivedAt: new Date().toISOString(),
    headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' },
    body: Buffer.from('{"orderId":"A-1"}'),
    ...over,
  };
}

export const at = (offsetMs = 0): string => new Date(Date.now() + offsetMs).toISOString();
export const received = (): TimelineEvent => ({ type: 'received', at: at(), attempt: 1 });
export const failed = (code: string, text: string, step = 'sink:orders', attempt = 1): TimelineEvent => ({ type: 'failed', at: at(), attempt, error: { code, message: text, step } });
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function rejection(p: Promise<unknown>): Promise<JournalError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(JournalError);
    return err as JournalError;
  }
  throw new Error('expected a rejection');
}

/** Claims until nothing is due, returning every claim. */
export async function claimAll(j: Journal, batch = 5): Promise<RetryClaim[]> {
  const out: RetryClaim[] = [];
  for (let i = 0; i < 100; i++) {
    const got = await j.claimDueRetries(batch);
    if (got.length === 0) break;
    out.push(...got);
  }
  return out;
}

/** Opens a journal on a fresh store of this test's own (destroyed after the test), with the harness that made it. */
export type Setup = (options?: HarnessOptions) => Promise<{ h: JournalHarness; j: Journal }>;

