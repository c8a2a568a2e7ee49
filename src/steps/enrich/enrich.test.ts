import { describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../core/errors.js';
import { Message } from '../../core/message.js';
import { build, jsonMessage, runContext, textMessage } from '../testing.js';
import enrich from './index.js';

const sinks = { customers: { requestReply: true }, audit: { requestReply: false } };
const meta = { flow: 'test-flow', source: 'rest', receivedAt: 'x', attempt: 1 };
const jsonReply = (value: unknown) => () => new Message({ value, meta });

describe('enrich', () => {
  it('sends the request expression to the sink and sets the reply into a field', async () => {
    const { step, issues } = build(enrich, { sink: 'customers', request: '{ "id": customerId }', into: 'customer' }, { sinks });
    expect(issues).toEqual([]);
    const run = runContext({ customers: jsonReply({ name: 'Ada', tier: 'gold' }) });
    const message = jsonMessage({ orderId: 'A1', customerId: 7, customer: 'old' }, { 'correlation-id': 'c1' });
    const [out] = await step(message, run);
    expect(run.sent).toHaveLength(1);
    expect(run.sent[0]!.message.json()).toEqual({ id: 7 });
    expect(run.sent[0]!.message.id).toBe(message.id);
    expect(run.sent[0]!.message.headers['correlation-id']).toBe('c1');
    expect(out!.json()).toEqual({ orderId: 'A1', customerId: 7, customer: { name: 'Ada', tier: 'gold' } });
    expect(out!.id).toBe(message.id);
    expect(message.json()).toEqual({ orderId: 'A1', customerId: 7, customer: 'old' });
  });

  it('sends the message as it is without `request`, and merges with $reply bound', async () => {
    const { step } = build(enrich, { sink: 'customers', merge: '$merge([$, { "customerName": $reply.name }])' }, { sinks });
    const run = runContext({ customers: jsonReply({ name: 'Ada' }) });
    const message = jsonMessage({ customerId: 7 });
    const [out] = await step(message, run);
    expect(run.sent[0]!.message).toBe(message);
    expect(out!.json()).toEqual({ customerId: 7, customerName: 'Ada' });
  });

  it('reads an XML reply with namespaces stripped and values parsed', async () => {
    const { step } = build(enrich, { sink: 'customers', into: 'customer' }, { sinks });
    const xml = '<?xml version="1.0"?><s:Envelope xmlns:s="urn:s"><s:Body><c:Customer xmlns:c="urn:c"><c:Name>Ada</c:Name><c:Age>36</c:Age></c:Customer></s:Body></s:Envelope>';
    const run = runContext({ customers: () => textMessage(xml, 'text/xml') });
    const [out] = await step(jsonMessage({ id: 7 }), run);
    expect(out!.json()).toEqual({ id: 7, customer: { Envelope: { Body: { Customer: { Name: 'Ada', Age: 36 } } } } });
  });

  it('sets null for an empty reply body', async () => {
    const { step } = build(enrich, { sink: 'customers', into: 'customer' }, { sinks });
    const [out] = await step(jsonMessage({ id: 7 }), runContext({ customers: () => textMessage('', 'application/json') }));
    expect(out!.json()).toEqual({ id: 7, customer: null });
  });

  it('fails BAD_REPLY on an unreadable reply or none at all', async () => {
    const { step } = build(enrich, { sink: 'customers', into: 'customer' }, { sinks });
    await expect(async () => step(jsonMessage({ id: 7 }), runContext({ customers: () => textMessage('{"a":', 'application/json') }))).rejects.toMatchObject({
      code: 'BAD_REPLY',
      message: expect.stringContaining('the reply of sink "customers" cannot be read: malformed JSON'),
    });
    await expect(async () => step(jsonMessage({ id: 7 }), runContext({ customers: () => textMessage('<a>', 'application/xml') }))).rejects.toMatchObject({ code: 'BAD_REPLY' });
    await expect(async () => step(jsonMessage({ id: 7 }), runContext())).rejects.toMatchObject({ code: 'BAD_REPLY', message: expect.stringContaining('gave no reply') });
  });

  it('passes a sink failure on unchanged, so retryable stays retryable', async () => {
    const { step } = build(enrich, { sink: 'customers', into: 'customer' }, { sinks });
    const failure = new RetryableError('DOWNSTREAM_UNAVAILABLE', 'down');
    await expect(async () => step(jsonMessage({ id: 7 }), runContext({ customers: () => Promise.reject(failure) }))).rejects.toBe(failure);
  });

  it('fails TRANSFORM_FAILED when `into` meets a body that is not an object, or an expression yields nothing', async () => {
    const run = runContext({ customers: jsonReply({ name: 'Ada' }) });
    await expect(async () => build(enrich, { sink: 'customers', into: 'customer' }, { sinks }).step(jsonMessage([1]), run)).rejects.toMatchObject({ code: 'TRANSFORM_FAILED', message: expect.stringContaining('an array of 1') });
    await expect(async () => build(enrich, { sink: 'customers', request: 'nothing', into: 'c' }, { sinks }).step(jsonMessage({}), run)).rejects.toBeInstanceOf(PermanentError);
    await expect(async () => build(enrich, { sink: 'customers', merge: '$reply.missing' }, { sinks }).step(jsonMessage({}), run)).rejects.toMatchObject({ code: 'TRANSFORM_FAILED' });
  });

  it('reports a one-way or unknown sink, both or neither of into/merge, and bad JSONata', () => {
    expect(build(enrich, { sink: 'audit', into: 'x' }, { sinks }).issues).toEqual([{ path: ['sink'], message: expect.stringContaining('one-way') }]);
    expect(build(enrich, { sink: 'crm', into: 'x' }, { sinks }).issues).toEqual([{ path: ['sink'], message: expect.stringContaining('unknown sink "crm"') }]);
    expect(build(enrich, { sink: 'customers' }, { sinks }).issues).toEqual([{ path: [], message: expect.stringContaining('`into: FIELD` or `merge: EXPRESSION`') }]);
    expect(build(enrich, { sink: 'customers', into: 'a', merge: '$reply' }, { sinks }).issues).toEqual([{ path: [], message: expect.stringContaining('not both') }]);
    expect(build(enrich, { sink: 'customers', into: '__proto__' }, { sinks }).issues).toEqual([{ path: ['into'], message: expect.stringContaining('__proto__') }]);
    expect(build(enrich, { sink: 'customers', request: '{', merge: '$reply +' }, { sinks }).issues).toEqual([
      { path: ['request'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) },
      { path: ['merge'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) },
    ]);
  });
});
