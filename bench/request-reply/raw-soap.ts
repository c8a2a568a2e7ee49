/**
 * Scenario 5's hand-written pipe: a SOAP 1.1 endpoint for GetShippingQuote, written for this one operation with the
 * same libraries the hub uses: fastify (a text/xml body parser), fast-xml-parser, the mapping in plain JS, undici's
 * Pool to the REST backend, and the reply envelope built as a string. Env: BACKEND, PORT.
 */
import Fastify from 'fastify';
import { XMLParser } from 'fast-xml-parser';
import { Pool } from 'undici';

const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: true, parseTagValue: true });
const pool = new Pool(process.env.BACKEND!, { connections: 64, pipelining: 1 });
const app = Fastify({ logger: false });
app.addContentTypeParser(['text/xml', 'application/soap+xml'], { parseAs: 'string' }, (_req, body, done) => {
  try {
    done(null, parser.parse(body as string));
  } catch (err) {
    done(err as Error, undefined);
  }
});

interface Envelope {
  Envelope?: { Body?: { GetShippingQuote?: { WeightKg: number; FromCountry: string; ToCountry: string } } };
}
interface Quote {
  carrier: string;
  amount: number;
  currency: string;
  days: number;
}

const escape = (s: unknown) => String(s).replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
const fault = (code: string, text: string) =>
  `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:${code}</faultcode><faultstring>${escape(text)}</faultstring></soap:Fault></soap:Body></soap:Envelope>`;

app.post<{ Body: Envelope }>('/soap/shipping', async (req, reply) => {
  const q = req.body.Envelope?.Body?.GetShippingQuote;
  reply.type('text/xml; charset=utf-8');
  if (!q) return reply.code(500).send(fault('Client', 'expected a GetShippingQuote request'));
  const res = await pool.request({
    path: '/rates',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ weightKg: q.WeightKg, fromCountry: q.FromCountry, toCountry: q.ToCountry }),
  });
  if (res.statusCode >= 300) {
    await res.body.dump();
    return reply.code(500).send(fault('Server', `the shipping API answered ${res.statusCode}`));
  }
  const quote = (await res.body.json()) as Quote;
  return reply.send(
    `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetShippingQuoteResponse xmlns="urn:example:shipping"><Carrier>${escape(quote.carrier)}</Carrier><Amount>${quote.amount}</Amount><Currency>${escape(quote.currency)}</Currency><Days>${quote.days}</Days></GetShippingQuoteResponse></soap:Body></soap:Envelope>`,
  );
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
process.on('SIGTERM', () => void app.close().then(() => pool.close()).then(() => process.exit(0)));
