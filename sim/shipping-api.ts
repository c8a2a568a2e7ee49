import Fastify, { type FastifyInstance } from 'fastify';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A modern REST/JSON service for the demo: shipping rates. Legacy SOAP clients reach it through the hub's
 * `shipping-quote-soap` flow.
 *
 *   POST /rates  { "weightKg": 2.5, "fromCountry": "DE", "toCountry": "FR" }
 *   200          { "carrier": "EUROPOST", "amount": 12.5, "currency": "EUR", "days": 2 }
 *   400          application/problem+json when the request is wrong
 *
 *   POST /fulfilments  an order event to fulfil (any JSON with an orderId); 202, kept in memory
 *   GET  /fulfilments  the ones received so far, in arrival order
 */
export async function startShippingApi(options: { port?: number; host?: string } = {}): Promise<{ url: string; app: FastifyInstance; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  const fulfilments: unknown[] = [];
  app.post('/fulfilments', async (req, reply) => {
    const body = req.body as { orderId?: unknown } | undefined;
    if (!body || typeof body.orderId !== 'string') return reply.code(400).type('application/problem+json').send({ type: 'about:blank', title: 'Bad fulfilment', status: 400, detail: 'orderId is required' });
    fulfilments.push({ ...body, correlationId: req.headers['correlation-id'] });
    return reply.code(202).send({ accepted: body.orderId });
  });
  app.get('/fulfilments', async () => fulfilments);
  app.post('/rates', async (req, reply) => {
    const body = req.body as { weightKg?: unknown; fromCountry?: unknown; toCountry?: unknown } | undefined;
    const weight = Number(body?.weightKg);
    const from = String(body?.fromCountry ?? '');
    const to = String(body?.toCountry ?? '');
    if (!(weight > 0) || !/^[A-Z]{2}$/.test(from) || !/^[A-Z]{2}$/.test(to)) {
      return reply
        .code(400)
        .type('application/problem+json')
        .send({ type: 'about:blank', title: 'Bad rate request', status: 400, detail: 'weightKg must be > 0; fromCountry and toCountry are ISO 3166 alpha-2 codes' });
    }
    const domestic = from === to;
    const amount = Math.round((domestic ? 4.9 : 9.9 + weight * 1.04) * 100) / 100;
    return { carrier: domestic ? 'LOCALPOST' : 'EUROPOST', amount, currency: 'EUR', days: domestic ? 1 : 2 + Math.floor(weight / 10) };
  });
  const url = await app.listen({ port: options.port ?? 8082, host: options.host ?? '127.0.0.1' });
  return { url, app, close: () => app.close() };
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url, close } = await startShippingApi({
    port: Number(argument('port') ?? process.env.SHIPPING_API_PORT ?? 8082),
    host: argument('host') ?? process.env.SHIPPING_API_HOST ?? '127.0.0.1',
  });
  process.stdout.write(`shipping API (REST) listening at ${url}\n`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void close().then(() => process.exit(0)));
}
