/**
 * The contract suite's AdminAudit cases: seq across replicas, pages by seq and by action, kept across a reopen.
 */
import { expect, it } from 'vitest';
import { at, type Setup } from './harness.js';

export function adminAuditCases(setup: Setup): void {
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
}
