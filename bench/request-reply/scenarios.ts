/**
 * Scenarios 4 and 5 of `npm run bench`: request-reply through the hub against a hand-written pipe (and Node-RED in
 * scenario 4), every pipe in a process of its own beside one REST backend, the load from the bench's process.
 *
 *   4. REST POST → JSONata transform → REST POST to the backend, the backend's answer passed back
 *   5. SOAP 1.1 request → xml_to_json → JSONata transform → REST → SOAP reply (flows/shipping-quote-soap.yaml's shape)
 *
 * Each pipe is warmed up, then the pipes take turns (each round starting one pipe further on) for BENCH_RR_ROUNDS
 * rounds of a closed loop (throughput: BENCH_RR_CONNECTIONS connections) and an open loop at BENCH_RR_RATE requests
 * per second (latency from each request's scheduled send time, so corrected for coordinated omission). CPU µs per
 * request and RSS are the pipe process's own, read from /proc. BENCH_SOAK=1 adds a soak of the hub at the open
 * loop's rate for BENCH_SOAK_SECONDS (300): its RSS after warm-up against its RSS at the end.
 */
import { closedLoop, openLoop, type ClosedResult, type OpenResult, type Target } from './load.js';
import { startNodeRed } from './node-red.js';
import { startHubProcess, startProcess, type Proc } from './pipes.js';
import { fmt, median } from '../common.js';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/paths.js';

const env = (name: string, fallback: number): number => {
  const n = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
};
export const RR = {
  rounds: env('BENCH_RR_ROUNDS', 2),
  closedSeconds: env('BENCH_RR_SECONDS', 6),
  openSeconds: env('BENCH_RR_OPEN_SECONDS', 6),
  warmupSeconds: env('BENCH_RR_WARMUP', 5),
  connections: env('BENCH_RR_CONNECTIONS', 50),
  rate: env('BENCH_RR_RATE', 1000),
  soakSeconds: env('BENCH_SOAK_SECONDS', 300),
};
/** hub ÷ raw throughput, both scenarios. */
const RAW_TARGET = 0.8;
/** hub ÷ Node-RED throughput, scenario 4. */
const NODE_RED_TARGET = 8;
/** The hub's p99 at the open loop's rate may exceed the raw pipe's by this much (ms): what an Istio sidecar pair adds. */
const P99_MARGIN_MS = 0.3;
/** RSS growth allowed over the soak, after warm-up. */
const SOAK_GROWTH = 0.1;

const DIST = join(PROJECT_ROOT, 'dist', 'bench', 'request-reply');

export const ORDER_JSONATA = '{ "orderId": id, "customer": customer.name, "total": $sum(lines.(qty * price)) }';
/**
 * Every request a different document (VARIANTS of them, taken in turn), as in real traffic: a pipe may keep what it
 * learnt of a document it saw a moment ago (the hub remembers the XML documents it checked), and the same body sent
 * again and again would measure that memory instead of the work.
 */
const VARIANTS = 1000;
const order = (i: number): string =>
  JSON.stringify({
    id: `ORD-${String(12345 + i).padStart(8, '0')}`,
    customer: { name: 'Ada Lovelace', tier: 'gold', email: 'ada@example.com' },
    currency: 'EUR',
    lines: [
      { sku: 'A-100', qty: 2 + (i % 7), price: 19.5 },
      { sku: 'B-200', qty: 1, price: 120 },
      { sku: 'C-300', qty: 5, price: 3.25 + (i % 10) },
    ],
  });
const COUNTRIES = ['DE', 'FR', 'NL', 'BE', 'AT', 'IT', 'ES', 'PL'];
const quote = (i: number): string =>
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="urn:example:shipping"><soap:Body><s:GetShippingQuote>' +
  `<s:WeightKg>${(0.5 + (i % 200) / 10).toFixed(1)}</s:WeightKg><s:FromCountry>${COUNTRIES[i % 8]}</s:FromCountry><s:ToCountry>${COUNTRIES[Math.floor(i / 8) % 8]}</s:ToCountry>` +
  '</s:GetShippingQuote></soap:Body></soap:Envelope>';
const ORDERS = Array.from({ length: VARIANTS }, (_, i) => order(i));
const QUOTES = Array.from({ length: VARIANTS }, (_, i) => quote(i));

const ordersTarget = (port: number | string): Target => ({
  url: `http://127.0.0.1:${port}/orders`,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  bodies: ORDERS,
  status: 200,
});
const quoteTarget = (port: number | string): Target => ({
  url: `http://127.0.0.1:${port}/soap/shipping`,
  method: 'POST',
  headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '"urn:example:shipping/GetShippingQuote"' },
  bodies: QUOTES,
  status: 200,
});

const ORDERS_FLOW = (backend: string, journal = '') => `name: bench-orders-rr
description: bench scenario 4, REST -> JSONata -> REST
${journal}source:
  rest: { path: /orders, method: POST }
steps:
  - transform:
      jsonata: '${ORDER_JSONATA}'
  - to: backend
sinks:
  backend:
    rest: { url: "${backend}/orders", method: POST, expect: json }
`;

const QUOTE_FLOW = (backend: string) => `name: bench-quote-soap
description: bench scenario 5, SOAP -> xml_to_json -> JSONata -> REST -> SOAP reply
source:
  soap:
    path: /soap/shipping
    wsdl: ${join(PROJECT_ROOT, 'schemas', 'wsdl', 'shipping-quote.wsdl')}
    operation: GetShippingQuote
steps:
  - xml_to_json: {}
  - transform:
      jsonata: '{ "weightKg": GetShippingQuote.WeightKg, "fromCountry": GetShippingQuote.FromCountry, "toCountry": GetShippingQuote.ToCountry }'
  - to: shipping-api
reply:
  jsonata: '{ "GetShippingQuoteResponse": { "Carrier": carrier, "Amount": amount, "Currency": currency, "Days": days } }'
sinks:
  shipping-api:
    rest: { url: "${backend}/rates", method: POST, expect: json }
`;

interface PipeSpec {
  name: string;
  start(backend: string): Promise<Proc>;
}

interface Round {
  closed: ClosedResult;
  cpuUsPerRequest: number;
  rssMb: number;
  open: OpenResult;
}

type Out = (line?: string) => void;

export async function scenario4(out: Out): Promise<boolean> {
  return scenario(
    out,
    'Scenario 4: REST -> JSONata transform -> REST (request-reply)',
    [
      `raw:      fastify + the mapping in plain JS + undici Pool (bench/request-reply/raw-rest.ts)`,
      `hub:      hub run, one flow: rest source -> transform (JSONata) -> rest sink (expect: json), journal: failures (the default), embedded journal`,
      `hub+all:   the hub with the flow's journal: { record: all } (every message written to the embedded journal)`,
      `hub+trace: the hub with tracing on (every message sampled, spans exported over OTLP/HTTP to the backend process)`,
      `node-red: Node-RED ${process.env.BENCH_NODE_RED_VERSION ?? '4'}: http in -> change (the same JSONata) -> http request -> http response (installed on demand in .cache/node-red)`,
      `jsonata:  ${ORDER_JSONATA}`,
    ],
    ordersTarget,
    [
      { name: 'raw', start: (backend) => startProcess('raw', () => [join(DIST, 'raw-rest.js')], { env: { BACKEND: backend }, ready: ordersTarget('{port}') }) },
      { name: 'hub', start: (backend) => startHubProcess('hub', ORDERS_FLOW(backend), ordersTarget('{port}'), {}) },
      { name: 'hub+all', start: (backend) => startHubProcess('hub+all', ORDERS_FLOW(backend, 'journal: { record: all }\n'), ordersTarget('{port}'), {}) },
      {
        name: 'hub+trace',
        start: (backend) => startHubProcess('hub+trace', ORDERS_FLOW(backend), ordersTarget('{port}'), { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${backend}/v1/traces`, OTEL_TRACES_SAMPLER_ARG: '1' }),
      },
      { name: 'node-red', start: (backend) => startNodeRed(ORDER_JSONATA.replace(/\b(id|customer|lines)\b/g, 'payload.$1'), `${backend}/orders`, ordersTarget('{port}')) },
    ],
  );
}

export async function scenario5(out: Out): Promise<boolean> {
  return scenario(
    out,
    'Scenario 5: SOAP 1.1 -> xml_to_json -> JSONata -> REST -> SOAP reply',
    [
      `raw: fastify (text/xml parser: fast-xml-parser) + the mapping in plain JS + undici Pool + the reply envelope built as a string (bench/request-reply/raw-soap.ts)`,
      `hub: hub run, one flow: soap source (WSDL, GetShippingQuote) -> xml_to_json -> transform (JSONata) -> rest sink -> reply (JSONata) as SOAP`,
    ],
    quoteTarget,
    [
      { name: 'raw', start: (backend) => startProcess('raw', () => [join(DIST, 'raw-soap.js')], { env: { BACKEND: backend }, ready: quoteTarget('{port}') }) },
      { name: 'hub', start: (backend) => startHubProcess('hub', QUOTE_FLOW(backend), quoteTarget('{port}'), {}) },
    ],
  );
}

async function scenario(out: Out, title: string, notes: string[], target: (port: number) => Target, specs: PipeSpec[]): Promise<boolean> {
  out(`== ${title}`);
  for (const note of notes) out(`   ${note}`);
  out(`   load: closed loop ${RR.connections} connections ${RR.closedSeconds} s (autocannon); open loop ${fmt(RR.rate)} req/s ${RR.openSeconds} s, latency from the scheduled send (HDR); warm-up ${RR.warmupSeconds} s; ${RR.rounds} rounds, pipes taking turns`);
  const only = process.env.BENCH_PIPES?.split(',').map((s) => s.trim());
  const backend = await startProcess('backend', () => [join(DIST, 'backend.js')], { ready: { ...ordersTarget('{port}'), bodies: [JSON.stringify({ orderId: 'x', customer: 'y', total: 1 })] } });
  const backendUrl = `http://127.0.0.1:${backend.port}`;
  const pipes: Proc[] = [];
  let ok = true;
  try {
    for (const spec of specs.filter((s) => only?.includes(s.name) ?? true)) {
      try {
        pipes.push(await spec.start(backendUrl));
      } catch (err) {
        out(`   ${spec.name}: not run: ${(err as Error).message.split('\n')[0]}`);
        if (spec.name !== 'node-red') ok = false;
      }
    }
    const width = Math.max(8, ...pipes.map((p) => p.name.length));
    for (const pipe of pipes) {
      const warm = await closedLoop(target(pipe.port), RR.connections, RR.warmupSeconds);
      out(`   warm-up ${pipe.name.padEnd(width)} ${fmt(warm.throughput).padStart(7)} req/s${warm.failed ? `, ${warm.failed} failed` : ''}`);
      if (warm.failed) ok = false;
    }
    const rounds = new Map<string, Round[]>(pipes.map((p) => [p.name, []]));
    for (let r = 0; r < RR.rounds; r++) {
      const order = [...pipes.slice(r % pipes.length), ...pipes.slice(0, r % pipes.length)];
      for (const pipe of order) {
        const before = pipe.read();
        const closed = await closedLoop(target(pipe.port), RR.connections, RR.closedSeconds);
        const after = pipe.read();
        const open = await openLoop(target(pipe.port), RR.rate, RR.openSeconds);
        const round = { closed, cpuUsPerRequest: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / Math.max(1, closed.requests), rssMb: after.rssBytes / 2 ** 20, open };
        rounds.get(pipe.name)!.push(round);
        if (closed.failed || open.failed) ok = false;
        out(
          `   round ${r + 1} ${pipe.name.padEnd(width)} ${fmt(closed.throughput).padStart(7)} req/s  p50 ${fmt(closed.p50, 1).padStart(5)} ms  p99 ${fmt(closed.p99, 1).padStart(5)} ms  ` +
            `CPU ${fmt(round.cpuUsPerRequest).padStart(4)} µs/req  RSS ${fmt(round.rssMb).padStart(4)} MB  | at ${fmt(RR.rate)}/s: p50 ${open.p50.toFixed(2)} p99 ${open.p99.toFixed(2)} p99.9 ${open.p999.toFixed(2)} ms` +
            `${closed.failed || open.failed ? `  FAILED ${closed.failed + open.failed}` : ''}`,
        );
      }
    }
    out();
    out(`   ${'pipe'.padEnd(width)} ${'req/s'.padStart(7)} ${'p50'.padStart(5)} ${'p99'.padStart(5)} ${'µs/req'.padStart(6)} ${'RSS MB'.padStart(6)} | at ${fmt(RR.rate)}/s ms: ${'p50'.padStart(5)} ${'p99'.padStart(5)} ${'p99.9'.padStart(6)}`);
    const med = (pipe: string, f: (r: Round) => number) => median(rounds.get(pipe)!.map(f));
    for (const pipe of pipes) {
      const m = (f: (r: Round) => number) => med(pipe.name, f);
      out(
        `   ${pipe.name.padEnd(width)} ${fmt(m((r) => r.closed.throughput)).padStart(7)} ${fmt(m((r) => r.closed.p50), 1).padStart(5)} ${fmt(m((r) => r.closed.p99), 1).padStart(5)} ${fmt(m((r) => r.cpuUsPerRequest)).padStart(6)} ${fmt(m((r) => r.rssMb)).padStart(6)} |` +
          `            ${m((r) => r.open.p50).toFixed(2).padStart(5)} ${m((r) => r.open.p99).toFixed(2).padStart(5)} ${m((r) => r.open.p999).toFixed(2).padStart(6)}`,
      );
    }
    /** The median over rounds of hub's figure ÷ the other pipe's in the same round. */
    const paired = (other: string, f: (r: Round) => number) => median(rounds.get('hub')!.flatMap((r, i) => (rounds.get(other)?.[i] ? [f(r) / f(rounds.get(other)![i]!)] : [])));
    const verdict = (pass: boolean) => (pass ? 'PASS' : 'BELOW TARGET');
    if (rounds.has('hub') && rounds.has('raw')) {
      const r = paired('raw', (x) => x.closed.throughput);
      out(`   hub/raw throughput: ${r.toFixed(2)}  ${verdict(r >= RAW_TARGET)} (target >= ${RAW_TARGET}); CPU per request ${paired('raw', (x) => x.cpuUsPerRequest).toFixed(2)}x the raw pipe's`);
      const d = med('hub', (x) => x.open.p99) - med('raw', (x) => x.open.p99);
      out(`   hub - raw p99 at ${fmt(RR.rate)} req/s: ${d >= 0 ? '+' : ''}${d.toFixed(2)} ms  ${verdict(d <= P99_MARGIN_MS)} (target <= +${P99_MARGIN_MS} ms, what a sidecar pair adds)`);
    }
    // What a feature costs when on: the same hub with it, against the hub without it, round by round.
    for (const [pipe, feature] of [
      ['hub+all', 'journal: all'],
      ['hub+trace', 'tracing (every message sampled)'],
    ] as const) {
      if (!rounds.has('hub') || !rounds.has(pipe)) continue;
      const cost = 1 - 1 / paired(pipe, (x) => x.closed.throughput);
      const cpu = median(rounds.get(pipe)!.flatMap((r, i) => (rounds.get('hub')![i] ? [r.cpuUsPerRequest - rounds.get('hub')![i]!.cpuUsPerRequest] : [])));
      out(`   ${feature} on: ${(cost * 100).toFixed(1)}% of the hub's throughput, ${cpu >= 0 ? '+' : ''}${fmt(cpu)} µs CPU per request`);
    }
    if (rounds.has('hub') && rounds.has('node-red')) {
      const r = paired('node-red', (x) => x.closed.throughput);
      out(`   hub/node-red throughput: ${r.toFixed(2)}  ${verdict(r >= NODE_RED_TARGET)} (target >= ${NODE_RED_TARGET})`);
    }
    if (process.env.BENCH_SOAK === '1') {
      const hub = pipes.find((p) => p.name === 'hub');
      if (hub) ok = (await soak(out, hub, target(hub.port))) && ok;
    }
    out();
  } finally {
    await Promise.allSettled([...pipes, backend].map((p) => p.stop()));
  }
  return ok;
}

/** The hub at the open loop's rate for RR.soakSeconds: RSS after a warm-up minute's first 30 s against the end. */
async function soak(out: Out, hub: Proc, target: Target): Promise<boolean> {
  const slice = 30;
  const samples: number[] = [];
  let failed = 0;
  for (let t = 0; t < RR.soakSeconds; t += slice) {
    const r = await openLoop(target, RR.rate, Math.min(slice, RR.soakSeconds - t), 0);
    failed += r.failed;
    samples.push(hub.read().rssBytes / 2 ** 20);
  }
  const first = samples[0] ?? 0;
  const last = samples.at(-1) ?? 0;
  const growth = first ? last / first - 1 : 0;
  out(`   soak: hub at ${fmt(RR.rate)} req/s for ${RR.soakSeconds} s: RSS ${samples.map((s) => fmt(s)).join(' ')} MB (every ${slice} s); growth after warm-up ${(growth * 100).toFixed(1)}%  ${growth < SOAK_GROWTH && !failed ? 'PASS' : 'BELOW TARGET'} (target < ${SOAK_GROWTH * 100}%)${failed ? `, ${failed} failed` : ''}`);
  return growth < SOAK_GROWTH && !failed;
}
