/**
 * Scenario 4's hand-written pipe, the baseline the hub is measured against: what an engineer writes for this one
 * route with the same libraries, no framework of ours: fastify, the mapping in plain JS, undici's Pool to the backend,
 * the backend's answer passed back. Env: BACKEND (http://127.0.0.1:port), PORT (0: a free one).
 */
import Fastify from 'fastify';
import { Pool } from 'undici';

interface Order {
  id: string;
  customer: { name: string };
  lines: { qty: number; price: number }[];
}

const pool = new Pool(process.env.BACKEND!, { connections: 64, pipelining: 1 });
const app = Fastify({ logger: false });
app.post<{ Body: Order }>('/orders', async (req, reply) => {
  const order = req.body;
  let total = 0;
  for (const line of order.lines) total += line.qty * line.price;
  const res = await pool.request({ path: '/orders', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ orderId: order.id, customer: order.customer.name, total }) });
  const text = await res.body.text();
  return reply.code(res.statusCode).type('application/json').send(text);
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
process.on('SIGTERM', () => void app.close().then(() => pool.close()).then(() => process.exit(0)));
