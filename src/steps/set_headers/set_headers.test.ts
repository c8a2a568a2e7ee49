import { describe, expect, it } from 'vitest';
import { build, jsonMessage, runContext } from '../testing.js';
import setHeaders from './index.js';

describe('set_headers', () => {
  it('sets templated, constant and numeric headers under lower-case names and removes null ones', async () => {
    const { step, issues } = build(setHeaders, { 'X-Order-Id': '{{ orderId }}', 'x-source': 'erp', 'x-version': 2, authorization: 'Bearer {{ $headers."x-token" }}', 'x-token': null });
    expect(issues).toEqual([]);
    const message = jsonMessage({ orderId: 'A1' }, { 'x-token': 't0k', 'correlation-id': 'c1' });
    const [out] = await step(message, runContext());
    expect(out!.headers).toEqual({
      'content-type': 'application/json',
      'correlation-id': 'c1',
      'x-order-id': 'A1',
      'x-source': 'erp',
      'x-version': '2',
      authorization: 'Bearer t0k',
    });
    expect(out!.json()).toEqual({ orderId: 'A1' });
    expect(out!.id).toBe(message.id);
    expect(message.headers['x-token']).toBe('t0k');
  });

  it('renders objects as JSON and missing values as empty text', async () => {
    const { step } = build(setHeaders, { 'x-tags': '{{ tags }}', 'x-none': '[{{ missing }}]' });
    const [out] = await step(jsonMessage({ tags: ['a', 'b'] }), runContext());
    expect(out!.headers['x-tags']).toBe('["a","b"]');
    expect(out!.headers['x-none']).toBe('[]');
  });

  it('fails TEMPLATE_FAILED when a value would carry a line break (header injection)', async () => {
    const { step } = build(setHeaders, { 'x-name': '{{ name }}' });
    await expect(async () => step(jsonMessage({ name: 'a\r\nx-admin: true' }), runContext())).rejects.toMatchObject({ code: 'TEMPLATE_FAILED', message: expect.stringContaining('"x-name"') });
  });

  it('fails TEMPLATE_FAILED when a template expression throws', async () => {
    const { step } = build(setHeaders, { 'x-n': '{{ $number(a) }}' });
    await expect(async () => step(jsonMessage({ a: 'x' }), runContext())).rejects.toMatchObject({ code: 'TEMPLATE_FAILED' });
  });

  it('reports invalid header names, names repeated in another case, line breaks, bad values and bad templates at their key', () => {
    const { issues } = build(setHeaders, { 'bad name': 'x', 'x:colon': 'x', 'X-A': '1', 'x-a': '2', 'x-nl': 'a\nb', 'x-obj': { a: 1 }, 'x-t': 'id={{ a + }}' } as never);
    expect(issues).toEqual([
      { path: ['bad name'], message: expect.stringContaining('not a valid HTTP header name') },
      { path: ['x:colon'], message: expect.stringContaining('not a valid HTTP header name') },
      { path: ['x-a'], message: expect.stringContaining('already set as "X-A"') },
      { path: ['x-nl'], message: expect.stringContaining('line breaks') },
      { path: ['x-obj'], message: expect.stringContaining('text template or null') },
      { path: ['x-t'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) },
    ]);
    expect(issues[5]!.offset).toBeGreaterThanOrEqual('id={{ '.length);
  });
});
