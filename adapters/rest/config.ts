/**
 * The REST adapter's config types. The JSON Schemas (source.schema.json, sink.schema.json) are the source of truth;
 * config.test.ts keeps these types and the schemas in step.
 */
import type { JsonSchema } from '../../src/core/contracts.js';
import type { Duration } from '../../src/core/duration.js';
import { withGatewaySchema, type GatewayConfig } from '../../src/kit/gateway/schema.js';
import sinkSchemaJson from './sink.schema.json' with { type: 'json' };
import sourceSchemaJson from './source.schema.json' with { type: 'json' };

/** The source's own options, with the `auth` and `rate_limit` blocks every HTTP source shares (src/kit/gateway). */
export const sourceSchema = withGatewaySchema(sourceSchemaJson as JsonSchema);
export const sinkSchema = sinkSchemaJson as JsonSchema;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** A request body format the source accepts. */
export type BodyFormat = 'json' | 'xml' | 'text';
/** What the sink sends as the request body. */
export type SinkBody = 'auto' | 'json' | 'xml' | 'text' | 'none';
/** The reply format the sink insists on. */
export type SinkExpect = 'any' | 'json' | 'xml' | 'text';

export interface RestSourceConfig extends GatewayConfig {
  /** Default "POST". */
  method?: HttpMethod;
  path: string;
  /** Default all three. */
  accept?: BodyFormat[];
  /** Default 200. */
  status?: number;
  /** Further request headers the message keeps (lower-cased); the trace and correlation headers always are. */
  headers?: string[];
}

export interface RestSinkConfig {
  /** Template. */
  url: string;
  /** Default "POST". */
  method?: HttpMethod;
  /** Templates. */
  headers?: Record<string, string>;
  /** Default "10s". */
  timeout?: Duration;
  /** Default "auto". */
  body?: SinkBody;
  /** Default "any". */
  expect?: SinkExpect;
}
