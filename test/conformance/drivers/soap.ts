import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { Recorder } from '../../support/recorder.js';
import type { Driver, Endpoint, Received } from '../driver.js';
import { flatten } from './rest.js';

const NS = 'urn:conformance';
const envelope = (inner: string): string => `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner}</soap:Body></soap:Envelope>`;

/** SOAP: the source is a SOAP endpoint on the hub; the sink calls a recording SOAP peer that answers EchoResponse. */
export const soapDriver: Driver = {
  adapter: 'soap',
  features: { source: true, sink: true, ordered: false, persistent: false, consumerGroups: false, requestReply: true },
  async open(): Promise<Endpoint> {
    const id = randomUUID().slice(0, 8);
    const recorder = await new Recorder().start();
    recorder.reply = () => ({ contentType: 'text/xml; charset=utf-8', body: envelope(`<EchoResponse xmlns="${NS}"><ok>true</ok></EchoResponse>`) });
    return {
      sourceConfig: { path: `/conformance-soap/${id}`, operation: 'Echo', namespace: NS },
      sinkConfig: { url: `${recorder.url}/soap/${id}`, operation: 'Echo', namespace: NS, soap_action: `${NS}/Echo`, timeout: '5s' },
      async send(body, headers, hubUrl) {
        const res = await request(`${hubUrl}/conformance-soap/${id}`, {
          method: 'POST',
          headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${NS}/Echo"`, ...headers },
          body: envelope(`<Echo xmlns="${NS}"><payload>${body}</payload></Echo>`),
        });
        await res.body.dump();
        return { status: res.statusCode };
      },
      async receive(n, timeoutMs): Promise<Received[]> {
        return (await recorder.waitFor(n, timeoutMs)).map((r) => ({ body: r.body, headers: flatten(r.headers) }));
      },
      close: () => recorder.close(),
    };
  },
};
