/**
 * Test helpers shared by the SOAP adapter's tests (not part of the adapter). The flow is faked by the test's own
 * `deliver`; the server, the HTTP calls and the adapter are real.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { request } from 'undici';
import type { AdapterContext, FlowResult, HubLimits } from '../../src/core/contracts.js';
import type { ConfigIssue } from '../../src/core/errors.js';
import type { Message } from '../../src/core/message.js';
import { createHttpServer } from '../../src/kit/http-server.js';
import type { SoapSourceConfig } from './config.js';
import { parseEnvelope, parseFault, type ParsedFault } from './envelope.js';
import { SoapSource } from './source.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FLOWS_DIR = join(ROOT, 'flows');
export const logger = pino({ level: 'silent' });
export const LIMITS: HubLimits = { bodyBytes: 64 * 1024, maxDepth: 32 };

export function adapterContext(flow = 'test-flow', limits: HubLimits = LIMITS): AdapterContext & { issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  return { flow, baseDir: FLOWS_DIR, schemasDir: join(ROOT, 'schemas'), logger, limits, report: (i) => void issues.push(i), issues };
}

export interface FlowStub {
  flow: string;
  config: SoapSourceConfig;
  deliver: (message: Message) => Promise<FlowResult>;
}

export interface RunningSources {
  url: string;
  app: FastifyInstance;
  sources: SoapSource[];
  close(): Promise<void>;
}

/** Starts the given SOAP sources on one real server listening on 127.0.0.1, port 0 (behind the proxies of `trustProxy`, if any). */
export async function startSources(flows: FlowStub[], limits: HubLimits = LIMITS, trustProxy?: string[]): Promise<RunningSources> {
  const app = createHttpServer(limits, logger, trustProxy);
  const sources: SoapSource[] = [];
  for (const f of flows) {
    const ctx = adapterContext(f.flow, limits);
    const source = new SoapSource(f.config, ctx);
    if (ctx.issues.length) throw new Error(`config issues: ${JSON.stringify(ctx.issues)}`);
    await source.start({ flow: f.flow, logger, http: app, limits, deliver: f.deliver });
    sources.push(source);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    sources,
    close: async () => {
      for (const s of sources) await s.stop();
      await app.close();
    },
  };
}

export interface SoapResponse {
  status: number;
  contentType: string;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export async function post(url: string, body: string | Buffer, headers: Record<string, string>): Promise<SoapResponse> {
  const res = await request(url, { method: 'POST', body, headers });
  const text = await res.body.text();
  return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), text, headers: res.headers };
}

export function soap11(payload: string, header = ''): string {
  return `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">${header ? `<s:Header>${header}</s:Header>` : ''}<s:Body>${payload}</s:Body></s:Envelope>`;
}

export function soap12(payload: string, header = ''): string {
  return `<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope">${header ? `<e:Header>${header}</e:Header>` : ''}<e:Body>${payload}</e:Body></e:Envelope>`;
}

/** The Fault in a response, read with the adapter's parser (its output is checked against the `soap` package in test/soap-interop.test.ts). */
export function faultOf(res: SoapResponse): ParsedFault & { hubCode: string | undefined; messageId: string | undefined } {
  const parsed = parseEnvelope(res.text, { maxDepth: 64 });
  const fault = parseFault(parsed);
  if (!fault) throw new Error(`not a fault: ${res.text}`);
  return {
    ...fault,
    hubCode: /<hub:code>([^<]*)<\/hub:code>/.exec(fault.detail ?? '')?.[1],
    messageId: /<hub:messageId>([^<]*)<\/hub:messageId>/.exec(fault.detail ?? '')?.[1],
  };
}
