import { describe, expect, it } from 'vitest';
import { build, jsonMessage, runContext } from '../testing.js';
import transform from './index.js';

describe('transform', () => {
  it('replaces the body with the expression result, keeping id and headers', async () => {
    const { step, issues } = build(transform, { jsonata: '{ "id": orderId, "total": $sum(lines.(qty * price)), "via": $headers."x-src", "msg": $id }' });
    expect(issues).toEqual([]);
    const message = jsonMessage({ orderId: 'A1', lines: [{ qty: 2, price: 5 }, { qty: 1, price: 3 }] }, { 'x-src': 'erp' });
    const [out] = await step(message, runContext());
    expect(out!.json()).toEqual({ id: 'A1', total: 13, via: 'erp', msg: message.id });
    expect(out!.id).toBe(message.id);
    expect(out!.headers['x-src']).toBe('erp');
    expect(out!.contentType).toBe('application/json');
    expect(message.json()).toEqual({ orderId: 'A1', lines: [{ qty: 2, price: 5 }, { qty: 1, price: 3 }] });
  });

  it('answers at once (no promise) when the fast path can, and through jsonata otherwise, alike', async () => {
    const message = jsonMessage({ a: 2, xs: [3, 1, 2] });
    const fast = build(transform, { jsonata: '{ "b": a * 2 }' }).step(message, runContext());
    expect(Array.isArray(fast)).toBe(true);
    expect((fast as { json(): unknown }[])[0]!.json()).toEqual({ b: 4 });
    // $sort is outside the fast subset: jsonata answers, later.
    const slow = build(transform, { jsonata: '{ "b": $sort(xs) }' }).step(message, runContext());
    expect(slow).toBeInstanceOf(Promise);
    expect((await slow)[0]!.json()).toEqual({ b: [1, 2, 3] });
  });

  it('fails TRANSFORM_FAILED when the expression produces nothing', async () => {
    const { step } = build(transform, { jsonata: 'missing.field' });
    await expect(async () => step(jsonMessage({ a: 1 }), runContext())).rejects.toMatchObject({ code: 'TRANSFORM_FAILED', retryable: false, message: expect.stringContaining('produced nothing') });
  });

  it('fails TRANSFORM_FAILED when the expression throws at run time', async () => {
    const { step } = build(transform, { jsonata: '$number(a)' });
    await expect(async () => step(jsonMessage({ a: 'x' }), runContext())).rejects.toMatchObject({ code: 'TRANSFORM_FAILED' });
  });

  it('reports JSONata that does not compile at ["jsonata"] with the offset', () => {
    const { issues } = build(transform, { jsonata: '{ "a": 1 +  }' });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: ['jsonata'], message: expect.stringMatching(/^JSONata does not compile/) });
    expect(issues[0]!.offset).toBe(12); // the "}" the parser stopped at
  });

  it('reports a missing expression', () => {
    const { issues } = build(transform, {} as never);
    expect(issues).toEqual([{ path: ['jsonata'], message: expect.stringContaining('required') }]);
  });
});
