import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { Recorder } from '../../support/recorder.js';
import type { Driver, Endpoint, Received } from '../driver.js';

export function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
}

/** REST: the source is an HTTP route on the hub; the sink calls a recording HTTP server. */
export const restDriver: Driver = {
  adapter: 'rest',
  features: { source: true, sink: true, ordered: false, persistent: false, consumerGroups: false, requestReply: true },
  async open(): Promise<Endpoint> {
    const id = randomUUID().slice(0, 8);
    const recorder = await new Recorder().start();
    return {
      sourceConfig: { method: 'POST', path: `/conformance/${id}` },
      sinkConfig: { url: `${recorder.url}/in/${id}`, timeout: '5s' },
      async send(body, headers, hubUrl) {
        const res = await request(`${hubUrl}/conformance/${id}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ payload: body }) });
        await res.body.dump();
        return { status: res.statusCode };
      },
      async receive(n, timeoutMs): Promise<Received[]> {
        return (await recorder.waitFor(n, timeoutMs)).map((r) => ({ body: r.body, headers: flatten(r.headers) }));
      },
      close: () => recorder.close(),
      hold() {
        recorder.hold();
        return { held: () => recorder.held, release: () => recorder.release() };
      },
    };
  },
};
