import { describe, expect, it } from 'vitest';
import { Message } from '../../core/message.js';
import { build, jsonMessage, runContext } from '../testing.js';
import to from './index.js';

const sinks = { orders: { requestReply: false }, quote: { requestReply: true } };

describe('to', () => {
  it('sends every message to the sink and passes it on with meta.route', async () => {
    const { step, issues } = build(to, 'orders', { sinks });
    expect(issues).toEqual([]);
    const run = runContext();
    const message = jsonMessage({ a: 1 });
    const [out] = await step(message, run);
    expect(run.sent).toEqual([{ sink: 'orders', message }]);
    expect(out!.json()).toEqual({ a: 1 });
    expect(out!.meta.route).toBe('orders');
  });

  it('continues with the reply of a request-reply sink', async () => {
    const { step } = build(to, 'quote', { sinks });
    const run = runContext({ quote: (m) => new Message({ body: '<ok/>', headers: { 'content-type': 'application/xml' }, meta: m.meta }) });
    const message = jsonMessage({ a: 1 });
    const [out] = await step(message, run);
    expect(out!.text()).toBe('<ok/>');
    expect(out!.isXml).toBe(true);
    expect(out!.id).toBe(message.id);
  });

  it('reports an unknown sink at the root of its config', () => {
    expect(build(to, 'order', { sinks }).issues).toEqual([{ path: [], message: expect.stringContaining('unknown sink "order"') }]);
    expect(build(to, 'order', {}).issues).toEqual([{ path: [], message: expect.stringContaining('the flow declares no sinks') }]);
    expect(build(to, { sink: 'orders' } as never, { sinks }).issues).toEqual([{ path: [], message: expect.stringContaining('must be the name') }]);
  });
});
