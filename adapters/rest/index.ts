import type { AdapterRegistration, JsonSchema } from '../../src/core/contracts.js';
import { RestSink, type RestSinkConfig } from './sink.js';
import sinkSchema from './sink.schema.json' with { type: 'json' };
import { RestSource, sourceClaims, type RestSourceConfig } from './source.js';
import sourceSchema from './source.schema.json' with { type: 'json' };

export type { RestSinkConfig } from './sink.js';
export type { RestSourceConfig } from './source.js';

/** HTTP/JSON in and out: a route that feeds a flow and answers with its reply, and a request-reply HTTP client. */
const rest: AdapterRegistration = {
  name: 'rest',
  transport: 'http',
  description: 'HTTP in and out: a route whose requests feed the flow and get its reply (errors as RFC 9457 problem+json), and an HTTP request-reply sink.',
  source: {
    schema: sourceSchema as JsonSchema,
    requestReply: true,
    create: (config: RestSourceConfig) => new RestSource(config),
    claims: (config: RestSourceConfig) => sourceClaims(config),
  },
  sink: {
    schema: sinkSchema as JsonSchema,
    requestReply: true,
    create: (config: RestSinkConfig, ctx) => new RestSink(config, ctx),
  },
};

export default rest;
