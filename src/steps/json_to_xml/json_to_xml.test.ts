import { describe, expect, it } from 'vitest';
import { parseXml } from '../../core/codec.js';
import { build, jsonMessage, runContext, textMessage } from '../testing.js';
import jsonToXml from './index.js';

describe('json_to_xml', () => {
  it('uses the single top-level key as the root element', async () => {
    const { step, issues } = build(jsonToXml, {});
    expect(issues).toEqual([]);
    const message = jsonMessage({ Order: { '@_id': 'A1', Line: [{ Qty: 2 }, { Qty: 3 }], Note: 'a < b' } }, { 'correlation-id': 'c1' });
    const [out] = await step(message, runContext());
    expect(out!.text()).toBe('<Order id="A1"><Line><Qty>2</Qty></Line><Line><Qty>3</Qty></Line><Note>a &lt; b</Note></Order>');
    expect(out!.contentType).toBe('application/xml');
    expect(out!.headers['correlation-id']).toBe('c1');
    expect(out!.id).toBe(message.id);
  });

  it('wraps the body in `root`, with the namespace and the declaration', async () => {
    const { step } = build(jsonToXml, { root: 'Order', namespace: 'urn:orders', declaration: true });
    const [out] = await step(jsonMessage({ id: 'A1', total: 5 }), runContext());
    expect(out!.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Order xmlns="urn:orders"><id>A1</id><total>5</total></Order>');
  });

  it('puts a prefixed namespace on a prefixed root, also around a plain value', async () => {
    const { step } = build(jsonToXml, { root: 'o:Total', namespace: 'urn:orders' });
    const [out] = await step(jsonMessage(42), runContext());
    expect(out!.text()).toBe('<o:Total xmlns:o="urn:orders">42</o:Total>');
    expect(parseXml(out!.body)).toEqual({ 'o:Total': { '#text': '42', '@_xmlns:o': 'urn:orders' } });
  });

  it('fails BAD_REQUEST without root when the body has several top-level keys, is an array, or its root is an array', async () => {
    const { step } = build(jsonToXml, {});
    await expect(async () => step(jsonMessage({ a: 1, b: 2 }), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/2 top-level keys \(a, b\).*set `root`/) });
    await expect(async () => step(jsonMessage([1, 2]), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('an array of 2') });
    await expect(async () => step(jsonMessage({ a: [1, 2] }), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('one root') });
  });

  it('fails BAD_REQUEST on keys that are not XML names rather than writing malformed XML', async () => {
    const { step } = build(jsonToXml, { root: 'Order' });
    await expect(async () => step(jsonMessage({ 'order id': 1 }), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('"order id" is not a valid XML element name') });
    await expect(async () => step(jsonMessage({ a: { '@_1x': 1 } }), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('fails BAD_REQUEST on an XML body (convert it first)', async () => {
    const { step } = build(jsonToXml, {});
    await expect(async () => step(textMessage('<a/>', 'application/xml'), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('reports a root that is not an element name and a wrong declaration', () => {
    const { issues } = build(jsonToXml, { root: 'my root', declaration: 'yes' } as never);
    expect(issues.map((i) => i.path)).toEqual([['root'], ['declaration']]);
  });
});
