/**
 * The contract suite's MessageLog cases: records and their timelines, queries and paging, removal, dead letters.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Journal, MessageInput } from '../contract.js';
import { sha256 } from '../shared.js';
import { at, CAP, claimAll, failed, message, received, rejection, type Setup } from './harness.js';

export function messageLogCases(setup: Setup): void {
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

    it('keeps what `all` records beside the events: the transport\'s facts and each sink try, which set no status, attempts or error', async () => {
      const { j } = await setup();
      const m = message();
      const facts = { method: 'GET', path: '/api/orders/A-1', params: { id: 'A-1' }, query: {} };
      await j.record(m, [{ ...received(), meta: facts }], CAP);
      const reply = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"price":42}', encoding: 'utf8' as const, truncated: false };
      await j.append(m.id, [
        { type: 'sink', at: at(), step: 'sink:erp', call: { sink: 'erp', try: 1, failure: { code: 'TIMEOUT', message: 'no answer' } } },
        { type: 'sink', at: at(), step: 'sink:erp', call: { sink: 'erp', try: 2, reply } },
        { type: 'delivered', at: at(), attempt: 1 },
      ]);
      const rec = await j.get(m.id);
      expect(rec).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(rec!.lastError).toBeUndefined();
      expect(rec!.timeline[0]!.meta).toEqual(facts);
      expect(rec!.timeline.slice(1, 3).map((e) => e.call)).toEqual([{ sink: 'erp', try: 1, failure: { code: 'TIMEOUT', message: 'no answer' } }, { sink: 'erp', try: 2, reply }]);
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

  describe('remove', () => {
    it('leaves a message that no longer exists: every call that needs it gives a clear not-found result', async () => {
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

      // The counts now, per flow and status, follow every change: a replay, a resolve, a removal.
      expect(await j.statusCounts()).toEqual([
        { flow: 'invoices', counts: { dead: 1 } },
        { flow: 'orders', counts: { dead: 2, resolved: 2 } },
      ]);
      expect(await j.remove(rejected!.id)).toBe(true);
      expect(await j.statusCounts({ flow: 'orders' })).toEqual([{ flow: 'orders', counts: { dead: 2, resolved: 1 } }]);
      expect(await j.statusCounts({ flow: 'nothing-here' })).toEqual([]);
    });
  });
}
