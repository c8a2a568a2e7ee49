/**
 * The journal contract suite: every backend runs these same cases against its real store (embedded.test.ts,
 * redis.test.ts). A backend passes a harness factory; each test gets a store of its own and destroys it after.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Journal, MessageInput, RetryClaim, TimelineEvent } from './contract.js';
import { JournalError } from './errors.js';
import { sha256 } from './shared.js';

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

const CAP = { maxBodyBytes: 1024 };

function message(over: Partial<MessageInput> = {}): MessageInput {
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

const at = (offsetMs = 0): string => new Date(Date.now() + offsetMs).toISOString();
const received = (): TimelineEvent => ({ type: 'received', at: at(), attempt: 1 });
const failed = (code: string, text: string, step = 'sink:orders', attempt = 1): TimelineEvent => ({ type: 'failed', at: at(), attempt, error: { code, message: text, step } });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function rejection(p: Promise<unknown>): Promise<JournalError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(JournalError);
    return err as JournalError;
  }
  throw new Error('expected a rejection');
}

/** Claims until nothing is due, returning every claim. */
async function claimAll(j: Journal, batch = 5): Promise<RetryClaim[]> {
  const out: RetryClaim[] = [];
  for (let i = 0; i < 100; i++) {
    const got = await j.claimDueRetries(batch);
    if (got.length === 0) break;
    out.push(...got);
  }
  return out;
}

export function journalContractSuite(name: string, factory: HarnessFactory): void {
  describe(`journal contract: ${name}`, () => {
    const harnesses: JournalHarness[] = [];
    afterEach(async () => {
      await Promise.all(harnesses.splice(0).map((h) => h.destroy()));
    });
    async function setup(options: HarnessOptions = {}): Promise<{ h: JournalHarness; j: Journal }> {
      const h = await factory(options);
      harnesses.push(h);
      return { h, j: await h.open() };
    }

    describe('record, append, get', () => {
      it('records a message with its headers, body and timeline, and appends events to it', async () => {
        const { j } = await setup();
        const m = message();
        expect(await j.record(m, [received()], CAP)).toEqual({ created: true });
        await j.append(m.id, [{ type: 'step', at: at(), step: '0:validate' }, failed('TIMEOUT', 'no answer in 2000 ms')]);
        const rec = await j.get(m.id);
        expect(rec).toMatchObject({
          id: m.id,
          correlationId: m.correlationId,
          flow: 'orders',
          source: m.source,
          receivedAt: m.receivedAt,
          headers: m.headers,
          body: { encoding: 'utf8', data: '{"orderId":"A-1"}', size: 17, truncated: false, sha256: sha256(m.body) },
          status: 'failed',
          attempts: 1,
          lastError: { code: 'TIMEOUT', message: 'no answer in 2000 ms', step: 'sink:orders' },
          replayedAs: [],
        });
        expect(rec!.timeline.map((e) => e.type)).toEqual(['received', 'step', 'failed']);
        expect(rec!.timeline[1]).toMatchObject({ step: '0:validate' });
      });

      it('recording an id twice keeps the first message and appends the events (a second replica, a retry)', async () => {
        const { j } = await setup();
        const m = message();
        await j.record(m, [received()], CAP);
        expect(await j.record({ ...m, body: Buffer.from('other') }, [failed('TIMEOUT', 'late', 'sink:orders', 2)], CAP)).toEqual({ created: false });
        const rec = await j.get(m.id);
        expect(rec!.body.data).toBe('{"orderId":"A-1"}');
        expect(rec!.timeline.map((e) => e.type)).toEqual(['received', 'failed']);
        expect(rec!.attempts).toBe(2);
      });

      it('truncates a body over the cap, on a character boundary, and marks it so', async () => {
        const { j } = await setup();
        const body = Buffer.from('héllo wörld, this is long', 'utf8');
        const m = message({ body });
        await j.record(m, [received()], { maxBodyBytes: 9 }); // "héllo w" is 8 bytes; the 9th byte starts "ö"
        const rec = await j.get(m.id);
        expect(rec!.body).toEqual({ encoding: 'utf8', data: 'héllo w', size: body.length, truncated: true, sha256: sha256(body) });
      });

      it('stores a body that is not valid UTF-8 as base64 and marks it so, truncated or not', async () => {
        const { j } = await setup();
        const body = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3]);
        const whole = message({ body });
        const cut = message({ body });
        await j.record(whole, [received()], CAP);
        await j.record(cut, [received()], { maxBodyBytes: 2 });
        expect((await j.get(whole.id))!.body).toEqual({ encoding: 'base64', data: body.toString('base64'), size: 5, truncated: false, sha256: sha256(body) });
        expect((await j.get(cut.id))!.body).toEqual({ encoding: 'base64', data: Buffer.from([0xff, 0xfe]).toString('base64'), size: 5, truncated: true, sha256: sha256(body) });
      });

      it('folds events into status, attempts and the last error', async () => {
        const { j } = await setup();
        const m = message();
        await j.record(m, [received()], CAP);
        expect((await j.get(m.id))!.status).toBe('received');
        await j.append(m.id, [failed('DOWNSTREAM_UNAVAILABLE', '503 from orders', 'sink:orders', 1), failed('DOWNSTREAM_UNAVAILABLE', '503 again', 'sink:orders', 3)]);
        await j.append(m.id, [{ type: 'delivered', at: at(), attempt: 4, step: 'orders' }]);
        expect(await j.get(m.id)).toMatchObject({ status: 'delivered', attempts: 4, lastError: { message: '503 again' } });
        await j.append(m.id, [{ type: 'archived', at: at(), detail: 'retention' }]);
        expect((await j.get(m.id))!.status).toBe('archived');
      });

      it('rejects a bad argument as INVALID', async () => {
        const { j } = await setup();
        expect((await rejection(j.record(message({ id: '' }), [], CAP))).code).toBe('JOURNAL_INVALID_ARGUMENT');
        const m = message();
        await j.record(m, [], CAP);
        expect((await rejection(j.append(m.id, [{ type: 'bogus' as 'step', at: at() }]))).code).toBe('JOURNAL_INVALID_ARGUMENT');
        expect((await rejection(j.append(m.id, [{ type: 'step', at: 'yesterday' }]))).code).toBe('JOURNAL_INVALID_ARGUMENT');
      });
    });

    describe('a message that no longer exists', () => {
      it('gives a clear not-found result from every call that needs it', async () => {
        const { j } = await setup();
        const m = message();
        await j.record(m, [received()], CAP);
        await j.scheduleRetry(m.id, { dueAt: at(60_000), attempt: 2 });
        expect(await j.remove(m.id)).toBe(true);
        expect(await j.remove(m.id)).toBe(false);
        expect(await j.get(m.id)).toBeUndefined();
        expect((await j.query({ flow: 'orders' })).items).toEqual([]);
        for (const call of [
          () => j.append(m.id, [received()]),
          () => j.scheduleRetry(m.id, { dueAt: at(), attempt: 2 }),
          () => j.deadLetter(m.id, { error: { code: 'INTERNAL', message: 'x' }, attempt: 1 }),
          () => j.recordReplay({ requestKey: randomUUID(), originalId: m.id, newId: `m-${randomUUID()}`, by: 'ops', target: { to: 'start' } }),
        ]) {
          const err = await rejection(call());
          expect(err.code).toBe('JOURNAL_NOT_FOUND');
          expect(err.message).toContain(m.id);
        }
        expect(await j.claimDueRetries(10)).toEqual([]);
      });
    });

    describe('query', () => {
      async function seed(j: Journal): Promise<MessageInput[]> {
        const base = Date.parse('2030-01-01T00:00:00.000Z');
        const ms: MessageInput[] = [];
        for (let i = 0; i < 7; i++) {
          const m = message({ flow: i % 2 === 0 ? 'orders' : 'invoices', receivedAt: new Date(base + i * 1000).toISOString(), correlationId: i < 3 ? 'corr-A' : `corr-${i}` });
          ms.push(m);
          await j.record(m, [received()], CAP);
        }
        await j.append(ms[1]!.id, [failed('TIMEOUT', 'Orders API did not answer')]);
        await j.deadLetter(ms[2]!.id, { error: { code: 'VALIDATION_FAILED', message: '/lines must NOT have fewer than 1 items', step: '1:validate' }, attempt: 1 });
        await j.deadLetter(ms[4]!.id, { error: { code: 'VALIDATION_FAILED', message: '/customerId is required', step: '1:validate' }, attempt: 1 });
        await j.append(ms[5]!.id, [{ type: 'delivered', at: at(), attempt: 1 }]);
        return ms;
      }
      const ids = (page: { items: { id: string }[] }): string[] => page.items.map((i) => i.id);

      it('finds by flow, correlation id, status, time range, error code, error step and error text, newest first', async () => {
        const { j } = await setup();
        const ms = await seed(j);
        const id = (i: number): string => ms[i]!.id;
        expect(ids(await j.query({ flow: 'orders' }))).toEqual([id(6), id(4), id(2), id(0)]);
        expect(ids(await j.query({ correlationId: 'corr-A' }))).toEqual([id(2), id(1), id(0)]);
        expect(ids(await j.query({ status: 'dead' }))).toEqual([id(4), id(2)]);
        expect(ids(await j.query({ status: ['dead', 'failed'] }))).toEqual([id(4), id(2), id(1)]);
        expect(ids(await j.query({ from: ms[2]!.receivedAt, to: ms[5]!.receivedAt }))).toEqual([id(4), id(3), id(2)]);
        expect(ids(await j.query({ errorCode: 'VALIDATION_FAILED', flow: 'orders' }))).toEqual([id(4), id(2)]);
        expect(ids(await j.query({ errorStep: '1:validate' }))).toEqual([id(4), id(2)]);
        expect(ids(await j.query({ errorText: 'did NOT answer' }))).toEqual([id(1)]);
        expect(ids(await j.query({ flow: 'nope' }))).toEqual([]);
        const one = (await j.query({ correlationId: 'corr-A', status: 'failed' })).items[0]!;
        expect(one).toMatchObject({ id: id(1), flow: 'invoices', status: 'failed', attempts: 1, lastError: { code: 'TIMEOUT' } });
        expect(one).not.toHaveProperty('body');
        expect(one).not.toHaveProperty('timeline');
      });

      it('pages with a cursor: every match once, in order', async () => {
        const { j } = await setup();
        const ms = await seed(j);
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let pages = 0; pages < 10; pages++) {
          const page = await j.query({ limit: 2, ...(cursor ? { cursor } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(2);
          seen.push(...ids(page));
          if (!page.next) break;
          cursor = page.next;
        }
        expect(seen).toEqual(ms.map((m) => m.id).reverse());
        const filtered = await j.query({ flow: 'orders', limit: 3 });
        expect(filtered.items).toHaveLength(3);
        expect(ids(await j.query({ flow: 'orders', limit: 3, cursor: filtered.next! }))).toEqual([ms[0]!.id]);
      });

      it('orders messages received in the same millisecond by id, and pages through them', async () => {
        const { j } = await setup();
        const receivedAt = '2031-05-05T05:05:05.005Z';
        const same = ['m-a', 'm-b', 'm-c', 'm-d'].map((id) => message({ id: `${id}-${randomUUID()}`, receivedAt, flow: 'same-ms' }));
        for (const m of same) await j.record(m, [], CAP);
        const first = await j.query({ flow: 'same-ms', limit: 3 });
        const second = await j.query({ flow: 'same-ms', limit: 3, cursor: first.next! });
        expect([...ids(first), ...ids(second)]).toEqual(same.map((m) => m.id).reverse());
        expect(second.next).toBeUndefined();
      });

      it('keeps newest-first order for messages recorded out of order, removed, and recorded again, also within a time range and a correlation id', async () => {
        const { j } = await setup();
        const base = Date.parse('2032-02-02T00:00:00.000Z');
        const slots = [5, 0, 9, 3, 11, 1, 7, 2, 10, 4, 8, 6];
        const ms = slots.map((slot, i) => message({ id: `m-${String(i).padStart(2, '0')}-${randomUUID()}`, flow: 'shuffled', correlationId: slot % 3 === 0 ? 'corr-S' : `corr-${slot}`, receivedAt: new Date(base + slot * 1000).toISOString() }));
        for (const m of ms) await j.record(m, [received()], CAP);
        await j.query({ flow: 'shuffled', limit: 1 }); // an index built, then changed under it
        const removed = [0, 3, 6, 9];
        for (const i of removed) await j.remove(ms[i]!.id);
        const again = { ...ms[3]!, receivedAt: new Date(base + 12 * 1000).toISOString() };
        await j.record(again, [received()], CAP);
        const live = [...ms.filter((_, i) => !removed.includes(i)), again].sort((a, b) => Date.parse(b.receivedAt) - Date.parse(a.receivedAt));
        const walk = async (q: { correlationId?: string; from?: string; to?: string }, limit: number): Promise<string[]> => {
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; pages < 20; pages++) {
            const page = await j.query({ flow: 'shuffled', ...q, limit, ...(cursor ? { cursor } : {}) });
            seen.push(...ids(page));
            if (!page.next) break;
            cursor = page.next;
          }
          return seen;
        };
        expect(await walk({}, 4)).toEqual(live.map((m) => m.id));
        const from = new Date(base + 2000).toISOString();
        const to = new Date(base + 9000).toISOString();
        expect(await walk({ from, to }, 2)).toEqual(live.filter((m) => m.receivedAt >= from && m.receivedAt < to).map((m) => m.id));
        expect(await walk({ correlationId: 'corr-S' }, 1)).toEqual(live.filter((m) => m.correlationId === 'corr-S').map((m) => m.id));
      });

      it('refuses a bad cursor or limit as INVALID', async () => {
        const { j } = await setup();
        expect((await rejection(j.query({ cursor: 'not-a-cursor' }))).code).toBe('JOURNAL_INVALID_ARGUMENT');
        expect((await rejection(j.query({ limit: 0 }))).code).toBe('JOURNAL_INVALID_ARGUMENT');
      });
    });

    describe('durable retries', () => {
      it('holds a retry until it is due, hands it out once, and forgets it when completed', async () => {
        const { j } = await setup();
        const soon = message();
        const later = message();
        for (const m of [soon, later]) await j.record(m, [received(), failed('TIMEOUT', 'slow')], CAP);
        await j.scheduleRetry(soon.id, { dueAt: at(300), attempt: 2, error: { code: 'TIMEOUT', message: 'slow' } });
        await j.scheduleRetry(later.id, { dueAt: at(60_000), attempt: 2 });
        expect(await j.get(soon.id)).toMatchObject({ status: 'waiting-for-retry', attempts: 2 });
        expect((await j.get(soon.id))!.timeline.at(-1)).toMatchObject({ type: 'waiting-for-retry', attempt: 2 });
        expect(await j.claimDueRetries(10)).toEqual([]);
        await sleep(400);
        const [claim, ...rest] = await j.claimDueRetries(10);
        expect(rest).toEqual([]);
        expect(claim).toMatchObject({ id: soon.id, flow: 'orders', attempt: 2 });
        expect(await j.claimDueRetries(10)).toEqual([]);
        await j.completeRetry(claim!);
        await j.append(soon.id, [{ type: 'delivered', at: at(), attempt: 2 }]);
        expect((await j.get(soon.id))!.status).toBe('delivered');
        expect(await j.claimDueRetries(10)).toEqual([]);
        expect((await rejection(j.completeRetry(claim!))).code).toBe('JOURNAL_NOT_FOUND');
      });

      it('takes a released retry back: due again at a new time, or at once', async () => {
        const { j } = await setup();
        const m = message();
        await j.record(m, [received()], CAP);
        await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
        const [first] = await j.claimDueRetries(1);
        await j.releaseRetry(first!, { dueAt: at(300), attempt: 3, error: { code: 'TIMEOUT', message: 'still slow' } });
        expect(await j.get(m.id)).toMatchObject({ status: 'waiting-for-retry', attempts: 3, lastError: { message: 'still slow' } });
        expect(await j.claimDueRetries(1)).toEqual([]);
        await sleep(400);
        const [second] = await j.claimDueRetries(1);
        expect(second).toMatchObject({ id: m.id, attempt: 3 });
        await j.releaseRetry(second!); // a stopping replica gives it back untouched
        const [third] = await j.claimDueRetries(1);
        expect(third).toMatchObject({ id: m.id, attempt: 3 });
        await j.completeRetry(third!);
      });

      it('hands a claim whose lease ran out to the next caller, and the old claim is no longer held', async () => {
        const { j } = await setup({ leaseMs: 1000 });
        const m = message();
        await j.record(m, [received()], CAP);
        await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
        const [stale] = await j.claimDueRetries(1);
        expect(stale).toBeDefined();
        let again: RetryClaim[] = [];
        for (let i = 0; i < 40 && again.length === 0; i++) {
          await sleep(100);
          again = await j.claimDueRetries(1);
        }
        expect(again).toHaveLength(1);
        expect(again[0]).toMatchObject({ id: m.id, attempt: 2 });
        expect((await rejection(j.completeRetry(stale!))).code).toBe('JOURNAL_NOT_FOUND');
        await j.completeRetry(again[0]!);
      });

      it('removes only a record whose status is asked for and that no retry waits for, when told so (retention)', async () => {
        const { j } = await setup();
        const waiting = message();
        const done = message();
        for (const m of [waiting, done]) await j.record(m, [received(), { type: 'failed', at: at(), attempt: 1, error: { code: 'TIMEOUT', message: 'slow' } }], CAP);
        await j.scheduleRetry(waiting.id, { dueAt: at(60_000), attempt: 2 });
        await j.append(waiting.id, [{ type: 'failed', at: at(), attempt: 2, error: { code: 'TIMEOUT', message: 'slow' } }]);
        expect(await j.remove(waiting.id, { ifStatus: ['failed'] })).toBe(false);
        expect(await j.remove(done.id, { ifStatus: ['delivered'] })).toBe(false);
        expect(await j.get(waiting.id)).toBeDefined();
        expect(await j.remove(done.id, { ifStatus: ['failed', 'delivered'] })).toBe(true);
        expect(await j.get(done.id)).toBeUndefined();
        expect(await claimAll(j)).toEqual([]);
      });

      it('keeps a claim that is extended past its lease, and refuses to extend one no longer held', async () => {
        const { h, j } = await setup({ leaseMs: 1000 });
        const other = h.shared ? await h.open() : j;
        const m = message();
        await j.record(m, [received()], CAP);
        await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
        const [claim] = await j.claimDueRetries(1);
        for (let i = 0; i < 6; i++) {
          await sleep(400);
          await j.extendRetry(claim!);
          expect(await other.claimDueRetries(1)).toEqual([]);
        }
        await j.releaseRetry(claim!, { dueAt: at(60_000), attempt: 3 });
        expect((await rejection(j.extendRetry(claim!))).code).toBe('JOURNAL_NOT_FOUND');
        expect(await j.get(m.id)).toMatchObject({ status: 'waiting-for-retry', attempts: 3 });
      });

      it('gives each due retry to exactly one of several concurrent claimers', async () => {
        const { h, j } = await setup();
        const other = h.shared ? await h.open() : j;
        const ms = Array.from({ length: 24 }, () => message());
        for (const m of ms) {
          await j.record(m, [received()], CAP);
          await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
        }
        const [a, b, c] = await Promise.all([claimAll(j, 3), claimAll(other, 3), claimAll(other, 2)]);
        const claimed = [...a!, ...b!, ...c!].map((cl) => cl.id);
        expect(claimed.sort()).toEqual(ms.map((m) => m.id).sort());
        if (h.shared) expect(a!.length).toBeGreaterThan(0);
        await Promise.all([...a!.map((cl) => j.completeRetry(cl)), ...b!.map((cl) => other.completeRetry(cl)), ...c!.map((cl) => other.completeRetry(cl))]);
        expect(await j.claimDueRetries(10)).toEqual([]);
      });

      it('claims only the named flows\' retries and leaves the others due for their own claimer, untouched', async () => {
        const { h, j } = await setup();
        const other = h.shared ? await h.open() : j;
        const orders = [message({ flow: 'orders' }), message({ flow: 'orders' })];
        const quotes = [message({ flow: 'quotes' }), message({ flow: 'quotes' })];
        for (const m of [...orders, ...quotes]) {
          await j.record(m, [received()], CAP);
          await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
        }
        expect(await j.claimDueRetries(10, { flows: [] })).toEqual([]);
        const mine = await j.claimDueRetries(10, { flows: ['orders'] });
        expect(mine.map((c) => c.id).sort()).toEqual(orders.map((m) => m.id).sort());
        expect(await j.claimDueRetries(10, { flows: ['orders'] })).toEqual([]);
        // The other flow's retries were never claimed: its own claimer gets them at once, not after a lease.
        const theirs = await other.claimDueRetries(10, { flows: ['quotes', 'nobody'] });
        expect(theirs.map((c) => ({ id: c.id, flow: c.flow }))).toEqual(expect.arrayContaining(quotes.map((m) => ({ id: m.id, flow: 'quotes' }))));
        expect(theirs).toHaveLength(2);
        for (const m of quotes) expect((await j.get(m.id))!.timeline.map((e) => e.type)).toEqual(['received', 'waiting-for-retry']);
        await Promise.all([...mine.map((c) => j.completeRetry(c)), ...theirs.map((c) => other.completeRetry(c))]);
        expect(await j.claimDueRetries(10)).toEqual([]);
      });

      it('without flows claims every flow\'s due retries', async () => {
        const { j } = await setup();
        const ms = [message({ flow: 'orders' }), message({ flow: 'quotes' })];
        for (const m of ms) {
          await j.record(m, [received()], CAP);
          await j.scheduleRetry(m.id, { dueAt: at(-1), attempt: 2 });
        }
        const claims = await claimAll(j);
        expect(claims.map((c) => c.flow).sort()).toEqual(['orders', 'quotes']);
        for (const c of claims) await j.completeRetry(c);
      });
    });

    describe('dead letters', () => {
      it('parks messages with their reason and groups them by flow, step and error code', async () => {
        const { j } = await setup();
        const dead = async (flow: string, code: string, step: string, when: string): Promise<string> => {
          const m = message({ flow });
          await j.record(m, [received()], CAP);
          await j.deadLetter(m.id, { error: { code, message: `${code} at ${step}`, step }, attempt: 1, at: when });
          return m.id;
        };
        const first = await dead('orders', 'VALIDATION_FAILED', '1:validate', '2030-02-01T00:00:00.000Z');
        await dead('orders', 'VALIDATION_FAILED', '1:validate', '2030-02-03T00:00:00.000Z');
        await dead('orders', 'VALIDATION_FAILED', '1:validate', '2030-02-02T00:00:00.000Z');
        await dead('orders', 'DOWNSTREAM_REJECTED', 'sink:orders', '2030-02-04T00:00:00.000Z');
        await dead('invoices', 'VALIDATION_FAILED', '1:validate', '2030-02-05T00:00:00.000Z');
        expect(await j.get(first)).toMatchObject({ status: 'dead', lastError: { code: 'VALIDATION_FAILED', step: '1:validate' } });
        expect(await j.deadLetterGroups()).toEqual([
          { flow: 'orders', step: '1:validate', code: 'VALIDATION_FAILED', count: 3, firstSeen: '2030-02-01T00:00:00.000Z', lastSeen: '2030-02-03T00:00:00.000Z' },
          { flow: 'invoices', step: '1:validate', code: 'VALIDATION_FAILED', count: 1, firstSeen: '2030-02-05T00:00:00.000Z', lastSeen: '2030-02-05T00:00:00.000Z' },
          { flow: 'orders', step: 'sink:orders', code: 'DOWNSTREAM_REJECTED', count: 1, firstSeen: '2030-02-04T00:00:00.000Z', lastSeen: '2030-02-04T00:00:00.000Z' },
        ]);
        expect((await j.deadLetterGroups({ flow: 'invoices' })).map((g) => g.count)).toEqual([1]);
        expect((await j.query({ status: 'dead', flow: 'orders', errorCode: 'VALIDATION_FAILED' })).items).toHaveLength(3);

        // A dead letter that is replayed (resolved) leaves its group; the last one out removes the group.
        await j.recordReplay({ requestKey: randomUUID(), originalId: first, newId: `m-${randomUUID()}`, by: 'ops', target: { to: 'start' } });
        expect((await j.deadLetterGroups({ flow: 'orders' }))[0]).toMatchObject({ count: 2, firstSeen: '2030-02-02T00:00:00.000Z' });
        const [rejected] = (await j.query({ errorCode: 'DOWNSTREAM_REJECTED' })).items;
        await j.append(rejected!.id, [{ type: 'resolved', at: at(), detail: 'fixed by hand' }]);
        expect((await j.deadLetterGroups({ flow: 'orders' })).map((g) => g.code)).toEqual(['VALIDATION_FAILED']);
      });
    });

    describe('replay bookkeeping', () => {
      it('links the new id to the original, resolves the original and writes the audit entry', async () => {
        const { j } = await setup();
        const original = message();
        await j.record(original, [received()], CAP);
        await j.deadLetter(original.id, { error: { code: 'VALIDATION_FAILED', message: 'bad', step: '1:validate' }, attempt: 1 });
        const edited = Buffer.from('{"orderId":"A-1","lines":[1]}');
        const newId = `m-${randomUUID()}`;
        const out = await j.recordReplay({ requestKey: 'req-1', originalId: original.id, newId, by: 'alice', target: { to: 'failed-step', step: '1:validate' }, editedBody: edited, note: 'added a line' });
        expect(out.accepted).toBe(true);
        expect(out.replay).toMatchObject({
          requestKey: 'req-1',
          originalId: original.id,
          newId,
          flow: 'orders',
          by: 'alice',
          target: { to: 'failed-step', step: '1:validate' },
          edited: true,
          bodyHashBefore: sha256(original.body),
          bodyHashAfter: sha256(edited),
          note: 'added a line',
        });
        const rec = await j.get(original.id);
        expect(rec).toMatchObject({ status: 'resolved', replayedAs: [newId] });
        expect(rec!.timeline.slice(-2).map((e) => e.type)).toEqual(['replayed', 'resolved']);
        expect(rec!.timeline.at(-2)!.detail).toBe(newId);
        expect(await j.getReplay('req-1')).toEqual(out.replay);
        expect(await j.getReplay('req-unknown')).toBeUndefined();

        // The replayed message is recorded like any other, carrying its link.
        await j.record(message({ id: newId, replayOf: original.id }), [received()], CAP);
        expect((await j.query({ flow: 'orders' })).items.find((i) => i.id === newId)).toMatchObject({ replayOf: original.id });
      });

      it('accepts the same replay request key once, even when submitted twice at the same time', async () => {
        const { h, j } = await setup();
        const other = h.shared ? await h.open() : j;
        const original = message();
        await j.record(original, [received()], CAP);
        const request = (newId: string) => ({ requestKey: 'same-key', originalId: original.id, newId, by: 'bob', target: { to: 'start' as const } });
        const [a, b] = await Promise.all([j.recordReplay(request('m-new-1')), other.recordReplay(request('m-new-2'))]);
        expect([a!.accepted, b!.accepted].sort()).toEqual([false, true]);
        expect(a!.replay.newId).toBe(b!.replay.newId);
        const again = await j.recordReplay(request('m-new-3'));
        expect(again).toEqual({ accepted: false, replay: a!.replay });
        expect((await j.get(original.id))!.replayedAs).toEqual([a!.replay.newId]);
        expect((await j.listReplays({ originalId: original.id })).items).toHaveLength(1);
      });

      it('lists the audit newest first, by original, paged', async () => {
        const { j } = await setup();
        const a = message();
        const b = message();
        for (const m of [a, b]) await j.record(m, [received()], CAP);
        const times = ['2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z', '2030-03-03T00:00:00.000Z'];
        await j.recordReplay({ requestKey: 'k1', originalId: a.id, newId: 'n1', by: 'ops', at: times[0], target: { to: 'start' } });
        await j.recordReplay({ requestKey: 'k2', originalId: b.id, newId: 'n2', by: 'ops', at: times[1], target: { to: 'start' } });
        await j.recordReplay({ requestKey: 'k3', originalId: a.id, newId: 'n3', by: 'ops', at: times[2], target: { to: 'start', sink: 'orders-v2' } });
        const first = await j.listReplays({ limit: 2 });
        expect(first.items.map((r) => r.requestKey)).toEqual(['k3', 'k2']);
        expect((await j.listReplays({ limit: 2, cursor: first.next! })).items.map((r) => r.requestKey)).toEqual(['k1']);
        expect((await j.listReplays({ originalId: a.id })).items.map((r) => r.newId)).toEqual(['n3', 'n1']);
        expect((await j.get(a.id))!.replayedAs).toEqual(['n1', 'n3']);
        expect((await j.listReplays({ originalId: a.id })).items[0]).toMatchObject({ edited: false, bodyHashAfter: sha256(a.body), target: { sink: 'orders-v2' } });
      });
    });

    describe('dedupe', () => {
      it('is true for a new key, false within its time to live, and true again after it', async () => {
        const { j } = await setup();
        const key = `order:${randomUUID()}`;
        expect(await j.dedupe(key, 400)).toBe(true);
        expect(await j.dedupe(key, 400)).toBe(false);
        expect(await j.dedupe(`${key}:other`, 400)).toBe(true);
        await sleep(550);
        expect(await j.dedupe(key, 400)).toBe(true);
        expect(await j.dedupe(key, 400)).toBe(false);
      });

      it('lets the owner of a key through again (a retry of the message that took it), nobody else', async () => {
        const { h, j } = await setup();
        const other = h.shared ? await h.open() : j;
        const key = `owned-${randomUUID()}`;
        expect(await j.dedupe(key, 60_000, 'm-1')).toBe(true);
        expect(await other.dedupe(key, 60_000, 'm-1')).toBe(true);
        expect(await other.dedupe(key, 60_000, 'm-2')).toBe(false);
        expect(await j.dedupe(key, 60_000)).toBe(false);
        expect(await other.dedupeHolder(key)).toBe('m-1');
        expect(await j.dedupeHolder(`free-${randomUUID()}`)).toBeUndefined();
        // The owner restarts its time to live: a short reservation made final, or given up.
        const short = `short-${randomUUID()}`;
        expect(await j.dedupe(short, 300, 'm-1')).toBe(true);
        expect(await j.dedupe(short, 60_000, 'm-1')).toBe(true);
        await sleep(450);
        expect(await other.dedupe(short, 60_000, 'm-2')).toBe(false);
        expect(await j.dedupe(short, 1, 'm-1')).toBe(true);
        await sleep(20);
        expect(await other.dedupe(short, 60_000, 'm-2')).toBe(true);
      });

      it('gives true to exactly one of concurrent calls with one key', async () => {
        const { h, j } = await setup();
        const other = h.shared ? await h.open() : j;
        const key = `k-${randomUUID()}`;
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? j : other).dedupe(key, 60_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('admin audit', () => {
      it('appends entries with increasing seq, lists them newest first by page and by action, and keeps them across a reopen', async () => {
        const { h, j } = await setup();
        const made = [];
        for (let i = 0; i < 7; i++) made.push(await j.appendAudit({ at: at(), action: i % 3 === 0 ? 'login' : 'replay', outcome: 'ok', actor: `u${i}`, client: '127.0.0.1', ...(i === 1 ? { target: 'm-1', status: 200, detail: 'replayed' } : {}) }));
        expect(made.map((a) => a.seq)).toEqual([...made.map((a) => a.seq)].sort((a, b) => a - b));
        expect(new Set(made.map((a) => a.seq)).size).toBe(7);
        const first = await j.listAudit({ limit: 3 });
        expect(first.items.map((a) => a.actor)).toEqual(['u6', 'u5', 'u4']);
        const second = await j.listAudit({ limit: 3, cursor: first.next! });
        expect(second.items.map((a) => a.actor)).toEqual(['u3', 'u2', 'u1']);
        expect(second.items[2]).toEqual(made[1]);
        const last = await j.listAudit({ limit: 3, cursor: second.next! });
        expect([last.items.map((a) => a.actor), last.next]).toEqual([['u0'], undefined]);
        const logins = await j.listAudit({ action: 'login', limit: 2 });
        expect(logins.items.map((a) => a.actor)).toEqual(['u6', 'u3']);
        expect((await j.listAudit({ action: 'login', limit: 2, cursor: logins.next! })).items.map((a) => a.actor)).toEqual(['u0']);
        expect((await j.listAudit({ action: 'archive' })).items).toEqual([]);
        if (h.shared) {
          // Another replica continues the same order.
          const other = await h.open();
          expect((await other.appendAudit({ at: at(), action: 'pause', outcome: 'ok', actor: 'r2', client: '10.0.0.2' })).seq).toBe(made[6]!.seq + 1);
          await other.close();
        }
        await j.close();
        const k = await h.open();
        expect((await k.listAudit({ limit: 10 })).items.map((a) => a.actor)).toEqual([...(h.shared ? ['r2'] : []), 'u6', 'u5', 'u4', 'u3', 'u2', 'u1', 'u0']);
        expect((await k.appendAudit({ at: at(), action: 'logout', outcome: 'ok', actor: 'u9', client: '127.0.0.1' })).seq).toBe(made[6]!.seq + (h.shared ? 2 : 1));
      });
    });

    describe('restart', () => {
      it('keeps records, retries, dead letters, replays and dedupe keys across a close and reopen', async () => {
        const { h, j } = await setup();
        const waiting = message();
        const dead = message();
        const replayed = message();
        for (const m of [waiting, dead, replayed]) await j.record(m, [received()], CAP);
        await j.scheduleRetry(waiting.id, { dueAt: at(-1), attempt: 2 });
        await j.deadLetter(dead.id, { error: { code: 'BAD_JSON', message: 'unexpected token', step: '0:transform' }, attempt: 1, at: '2030-04-01T00:00:00.000Z' });
        await j.recordReplay({ requestKey: 'restart-key', originalId: replayed.id, newId: 'n-restart', by: 'ops', target: { to: 'start' } });
        expect(await j.dedupe('restart-dedupe', 60_000, 'm-owner')).toBe(true);
        const before = await j.get(dead.id);
        await j.close();
        expect((await rejection(j.get(dead.id))).code).toBe('JOURNAL_CLOSED');

        const k = await h.open();
        expect(await k.get(dead.id)).toEqual(before);
        expect(await k.deadLetterGroups()).toEqual([{ flow: 'orders', step: '0:transform', code: 'BAD_JSON', count: 1, firstSeen: '2030-04-01T00:00:00.000Z', lastSeen: '2030-04-01T00:00:00.000Z' }]);
        expect((await k.get(replayed.id))!.status).toBe('resolved');
        expect((await k.recordReplay({ requestKey: 'restart-key', originalId: replayed.id, newId: 'n-2', by: 'ops', target: { to: 'start' } })).accepted).toBe(false);
        expect(await k.dedupe('restart-dedupe', 60_000)).toBe(false);
        expect(await k.dedupe('restart-dedupe', 60_000, 'm-owner')).toBe(true);
        const [claim] = await k.claimDueRetries(5);
        expect(claim).toMatchObject({ id: waiting.id, attempt: 2 });
        await k.completeRetry(claim!);
      });
    });
  });
}
