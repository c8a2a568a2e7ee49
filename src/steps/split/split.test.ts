import { describe, expect, it } from 'vitest';
import { build, jsonMessage, runContext } from '../testing.js';
import split from './index.js';

describe('split', () => {
  it('splits the body array into one message per element with fresh ids, parentId and split headers', async () => {
    const { step, issues } = build(split, {});
    expect(issues).toEqual([]);
    const message = jsonMessage([{ sku: 'a' }, { sku: 'b' }, null], { 'correlation-id': 'c1' });
    const out = await step(message, runContext());
    expect(out.map((m) => m.json())).toEqual([{ sku: 'a' }, { sku: 'b' }, null]);
    expect(out.map((m) => [m.headers['split-index'], m.headers['split-size']])).toEqual([['0', '3'], ['1', '3'], ['2', '3']]);
    expect(new Set([message.id, ...out.map((m) => m.id)]).size).toBe(4);
    for (const m of out) {
      expect(m.meta).toMatchObject({ parentId: message.id, flow: 'test-flow' });
      expect(m.headers['correlation-id']).toBe('c1');
      expect(m.contentType).toBe('application/json');
    }
  });

  it('splits what the expression yields, with $$ reaching the whole body', async () => {
    const { step } = build(split, { jsonata: 'lines.{ "sku": sku, "orderId": $$.orderId }' });
    const out = await step(jsonMessage({ orderId: 'A1', lines: [{ sku: 'a' }, { sku: 'b' }] }), runContext());
    expect(out.map((m) => m.json())).toEqual([{ sku: 'a', orderId: 'A1' }, { sku: 'b', orderId: 'A1' }]);
  });

  it('gives no messages for an empty array', async () => {
    const { step } = build(split, { jsonata: 'lines' });
    expect(await step(jsonMessage({ lines: [] }), runContext())).toEqual([]);
  });

  it('fails TRANSFORM_FAILED on a non-array, pointing at [] for single elements', async () => {
    await expect(async () => build(split, {}).step(jsonMessage({ a: 1 }), runContext())).rejects.toMatchObject({ code: 'TRANSFORM_FAILED', message: expect.stringContaining('the body is an object') });
    await expect(async () => build(split, { jsonata: 'lines.line' }).step(jsonMessage({ lines: { line: { sku: 'a' } } }), runContext())).rejects.toMatchObject({
      code: 'TRANSFORM_FAILED',
      message: expect.stringContaining('end the path with []'),
    });
    expect(await build(split, { jsonata: 'lines.line[]' }).step(jsonMessage({ lines: { line: { sku: 'a' } } }), runContext())).toHaveLength(1);
  });

  it('fails TRANSFORM_FAILED when the expression yields nothing', async () => {
    await expect(async () => build(split, { jsonata: 'missing' }).step(jsonMessage({}), runContext())).rejects.toMatchObject({ code: 'TRANSFORM_FAILED', message: expect.stringContaining('produced nothing') });
  });

  it('reports bad JSONata at ["jsonata"] with its offset', () => {
    expect(build(split, { jsonata: 'lines[' }).issues).toEqual([{ path: ['jsonata'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) }]);
  });
});
