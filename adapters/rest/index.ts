/**
 * The REST adapter: an HTTP route source whose requests feed the flow and get its reply (errors as RFC 9457
 * problem+json), and a request-reply HTTP client sink. See README.md for every option.
 */
import type { AdapterRegistration } from '../../src/core/contracts.js';
import { sinkFactory } from './sink.js';
import { sourceFactory } from './source.js';

export type { RestSinkConfig, RestSourceConfig } from './config.js';

const rest: AdapterRegistration = {
  name: 'rest',
  transport: 'http',
  description: 'HTTP in and out: a route whose requests feed the flow and get its reply (errors as RFC 9457 problem+json), and an HTTP request-reply sink.',
  source: sourceFactory,
  sink: sinkFactory,
};

export default rest;
