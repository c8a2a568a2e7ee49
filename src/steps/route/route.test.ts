import { describe, expect, it } from 'vitest';
import { Message } from '../../core/message.js';
import { build, jsonMessage, runContext } from '../testing.js';
import route from './index.js';

const sinks = { orders: { requestReply: false }, 'large-orders': { requestReply: false }, pricing: { requestReply: true } };
const config = [{ when: 'total > 10000', to: 'large-orders' }, { when: '$headers."x-quote" = "yes"', to: 'pricing' }, { otherwise: 'orders' }];

describe('route', () => {
  it('sends to the first branch whose condition holds and sets meta.route', async () => {
    const { step, issues } = build(route, config, { sinks });
    expect(issues).toEqual([]);
    const run = runContext();
    const message = jsonMessage({ total: 20000 }, { 'x-quote': 'yes' });
    const [out] = await step(message, run);
    expect(run.sent).toEqual([{ sink: 'large-orders', message }]);
    expect(out!.meta.route).toBe('large-orders');
    expect(out!.id).toBe(message.id);
    expect(out!.json()).toEqual({ total: 20000 });
  });

  it('falls through to otherwise', async () => {
    const { step } = build(route, config, { sinks });
    const run = runContext();
    const [out] = await step(jsonMessage({ total: 5 }), run);
    expect(run.sent.map((s) => s.sink)).toEqual(['orders']);
    expect(out!.meta.route).toBe('orders');
  });

  it('continues with the reply of a request-reply sink, keeping the message id and hub meta', async () => {
    const { step } = build(route, config, { sinks });
    const reply = new Message({ value: { price: 42 }, headers: { 'correlation-id': 'c1' }, meta: { flow: 'other', source: 'rest', receivedAt: 'x', attempt: 1, status: 200 } });
    const run = runContext({ pricing: () => reply });
    const message = jsonMessage({ total: 5 }, { 'x-quote': 'yes' });
    const [out] = await step(message, run);
    expect(out!.json()).toEqual({ price: 42 });
    expect(out!.id).toBe(message.id);
    expect(out!.meta).toMatchObject({ flow: 'test-flow', source: 'test', route: 'pricing', status: 200 });
    expect(out!.headers['correlation-id']).toBe('c1');
  });

  it('uses JSONata truthiness: empty arrays, empty objects and no match are false', async () => {
    const { step } = build(route, [{ when: 'items', to: 'large-orders' }, { when: 'meta', to: 'pricing' }, { otherwise: 'orders' }], { sinks });
    const run = runContext();
    await step(jsonMessage({ items: [], meta: {} }), run);
    await step(jsonMessage({ items: [0, 'x'] }), run);
    await step(jsonMessage({ meta: { a: 1 } }), run);
    expect(run.sent.map((s) => s.sink)).toEqual(['orders', 'large-orders', 'pricing']);
  });

  it('fails NO_ROUTE when nothing matches and there is no otherwise', async () => {
    const { step } = build(route, [{ when: 'total > 10000', to: 'large-orders' }], { sinks });
    const run = runContext();
    await expect(async () => step(jsonMessage({ total: 1 }), run)).rejects.toMatchObject({ code: 'NO_ROUTE', retryable: false, message: expect.stringContaining('`total > 10000`') });
    expect(run.sent).toEqual([]);
  });

  it('passes on a sink failure unchanged', async () => {
    const { step } = build(route, config, { sinks });
    const failure = new Error('boom');
    const run = runContext({ orders: () => Promise.reject(failure) });
    await expect(async () => step(jsonMessage({ total: 1 }), run)).rejects.toBe(failure);
  });

  it('reports bad JSONata at [i, "when"] with its offset, and unknown sinks at their path', () => {
    const { issues } = build(route, [{ when: 'total >', to: 'big' }, { when: 'ok', to: 'orders' }, { otherwise: 'nowhere' }], { sinks });
    expect(issues).toEqual([
      { path: [0, 'when'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) },
      { path: [0, 'to'], message: expect.stringMatching(/unknown sink "big": the flow's sinks are "orders", "large-orders", "pricing"/) },
      { path: [2, 'otherwise'], message: expect.stringContaining('unknown sink "nowhere"') },
    ]);
  });

  it('reports an otherwise that is not last, a second otherwise, and malformed branches', () => {
    const { issues } = build(route, [{ otherwise: 'orders' }, { when: 'a', to: 'orders' }, { otherwise: 'orders' }, { when: 'b' }, 'x'] as never, { sinks });
    expect(issues).toEqual([
      { path: [0, 'otherwise'], message: expect.stringContaining('must be the last one') },
      { path: [2, 'otherwise'], message: expect.stringContaining('at most one') },
      { path: [2, 'otherwise'], message: expect.stringContaining('must be the last one') },
      { path: [3], message: expect.stringContaining('needs `to: SINK`') },
      { path: [4], message: expect.stringContaining('a branch must be') },
    ]);
  });

  it('reports a config that is not a list of branches', () => {
    expect(build(route, {} as never, { sinks }).issues).toEqual([{ path: [], message: expect.stringContaining('must be a list of branches') }]);
    expect(build(route, [], { sinks }).issues).toHaveLength(1);
  });
});
