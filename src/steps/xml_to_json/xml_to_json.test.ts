import { describe, expect, it } from 'vitest';
import { build, jsonMessage, runContext, textMessage } from '../testing.js';
import xmlToJson from './index.js';

const ORDER = `<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="urn:orders">
  <soap:Body>
    <o:PlaceOrder o:channel="web">
      <o:OrderId>007</o:OrderId>
      <o:Express>true</o:Express>
      <o:Lines><o:Line><o:Qty>2</o:Qty><o:Price>9.5</o:Price></o:Line></o:Lines>
    </o:PlaceOrder>
  </soap:Body>
</soap:Envelope>`;

describe('xml_to_json', () => {
  it('by default strips namespaces, parses values and drops the declaration', async () => {
    const { step, issues } = build(xmlToJson, {});
    expect(issues).toEqual([]);
    const message = textMessage(ORDER, 'text/xml; charset=utf-8', { 'correlation-id': 'c1' });
    const [out] = await step(message, runContext());
    expect(out!.json()).toEqual({
      Envelope: { Body: { PlaceOrder: { '@_channel': 'web', OrderId: '007', Express: true, Lines: { Line: { Qty: 2, Price: 9.5 } } } } },
    });
    expect(out!.contentType).toBe('application/json');
    expect(out!.headers['correlation-id']).toBe('c1');
    expect(out!.id).toBe(message.id);
  });

  it('keeps prefixes and strings when asked, and makes always_array elements arrays', async () => {
    const { step } = build(xmlToJson, { strip_namespaces: false, parse_values: false, always_array: ['o:Line'] });
    const [out] = await step(textMessage(ORDER, 'application/xml'), runContext());
    const order = (out!.json() as any)['soap:Envelope']['soap:Body']['o:PlaceOrder'];
    expect(order['o:Express']).toBe('true');
    expect(order['o:Lines']['o:Line']).toEqual([{ 'o:Qty': '2', 'o:Price': '9.5' }]);
  });

  it('parses XML sent without an XML content type', async () => {
    const { step } = build(xmlToJson, {});
    const [out] = await step(textMessage('\n  <a><b>1</b></a>', 'text/plain'), runContext());
    expect(out!.json()).toEqual({ a: { b: 1 } });
  });

  it('fails BAD_REQUEST on a JSON or plain-text body', async () => {
    const { step } = build(xmlToJson, {});
    await expect(async () => step(jsonMessage({ a: 1 }), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('application/json and not XML') });
    await expect(async () => step(textMessage('hello', 'text/plain'), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('fails BAD_XML on malformed XML and XML_DOCTYPE_FORBIDDEN on a DOCTYPE', async () => {
    const { step } = build(xmlToJson, {});
    await expect(async () => step(textMessage('<a><b></a>', 'application/xml'), runContext())).rejects.toMatchObject({ code: 'BAD_XML' });
    const xxe = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>';
    await expect(async () => step(textMessage(xxe, 'application/xml'), runContext())).rejects.toMatchObject({ code: 'XML_DOCTYPE_FORBIDDEN' });
  });

  it('reports options of the wrong type', () => {
    const { issues } = build(xmlToJson, { strip_namespaces: 'yes', always_array: 'Line' } as never);
    expect(issues.map((i) => i.path)).toEqual([['strip_namespaces'], ['always_array']]);
  });
});
