import { describe, expect, it } from 'vitest';
import { Message } from './message.js';

const meta = { flow: 'f', source: 's', receivedAt: '2026-01-01T00:00:00Z', attempt: 1 };

describe('Message', () => {
  it('lower-cases header names and freezes headers and meta', () => {
    const m = new Message({ body: '{"a":1}', headers: { 'Content-Type': 'application/json', 'X-Trace': 't' }, meta });
    expect(m.headers).toEqual({ 'content-type': 'application/json', 'x-trace': 't' });
    expect(Object.isFrozen(m.headers) && Object.isFrozen(m.meta)).toBe(true);
    expect(m.json()).toEqual({ a: 1 });
  });

  it('normalizes headers the caller froze itself', () => {
    const m = new Message({ body: 'x', headers: Object.freeze({ 'X-Up': '1' }) as Record<string, string>, meta: Object.freeze({ ...meta }) });
    expect(m.headers).toEqual({ 'x-up': '1' });
  });

  it('copies the caller\'s headers and meta, unless they are the message\'s own (owned): then it freezes them as they are', () => {
    const headers = { 'x-up': '1' };
    const ownMeta = { ...meta };
    const copied = new Message({ body: 'x', headers, meta: ownMeta });
    headers['x-up'] = 'changed';
    expect([copied.headers['x-up'], copied.headers === headers, copied.meta === ownMeta, Object.isFrozen(headers)]).toEqual(['1', false, false, false]);
    const owned = new Message({ body: 'x', headers, meta: ownMeta, owned: true });
    expect([owned.headers === headers, owned.meta === ownMeta, Object.isFrozen(headers), Object.isFrozen(ownMeta)]).toEqual([true, true, true, true]);
  });

  it('with(): keeps id and unchanged parts (shared, not copied), replaces what is given', () => {
    const m = new Message({ body: '{"a":1}', headers: { 'content-type': 'application/json' }, meta });
    const same = m.with({ value: { a: 2 } });
    expect(same.id).toBe(m.id);
    expect(same.headers).toBe(m.headers);
    expect(same.meta).toBe(m.meta);
    expect(same.json()).toEqual({ a: 2 });
    const routed = m.with({ meta: { route: 'out' } });
    expect(routed.meta).toEqual({ ...meta, route: 'out' });
    expect(m.meta.route).toBeUndefined();
    const xml = new Message({ body: '<a/>', headers: { 'content-type': 'application/xml' }, meta });
    expect(xml.with({ value: { a: 1 } }).headers['content-type']).toBe('application/json');
    expect(xml.headers['content-type']).toBe('application/xml');
  });
});
