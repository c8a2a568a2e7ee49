/**
 * The REST backend both request-reply scenarios call, in a process of its own (so that its CPU is nobody's pipe's):
 *   POST /orders  scenario 4: echoes the mapped order with `accepted: true`
 *   POST /rates   scenario 5: a shipping quote for { weightKg, fromCountry, toCountry }
 *   POST /v1/traces  the OTLP/HTTP collector of scenario 4's hub+trace pipe: spans taken and dropped
 * Prints `listening <port>` on stdout once it listens (on PORT, or a free port).
 */
import Fastify from 'fastify';

interface MappedOrder {
  orderId: string;
  customer: string;
  total: number;
}
interface QuoteRequest {
  weightKg: number;
  fromCountry: string;
  toCountry: string;
}

const app = Fastify({ logger: false });
app.post<{ Body: MappedOrder }>('/orders', async (req) => ({ accepted: true, orderId: req.body.orderId, customer: req.body.customer, total: req.body.total }));
app.post<{ Body: QuoteRequest }>('/rates', async (req) => {
  const { weightKg, fromCountry, toCountry } = req.body;
  const domestic = fromCountry === toCountry;
  return { carrier: domestic ? 'LOCALPOST' : 'EUROPOST', amount: Math.round((4 + weightKg * (domestic ? 1.5 : 3.4)) * 100) / 100, currency: 'EUR', days: domestic ? 1 : 2 };
});
// The OTLP/HTTP collector of the hub+trace pipe: spans taken and dropped (their cost is the hub's, not the collector's).
app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/v1/traces', async () => ({}));
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
