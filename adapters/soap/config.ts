/**
 * The SOAP adapter's config types. The JSON Schemas (source.schema.json, sink.schema.json) are the source of truth;
 * config.test.ts keeps these types and the schemas in step.
 */
import type { JsonSchema } from '../../src/core/contracts.js';
import type { Duration } from '../../src/core/duration.js';
import { withGatewaySchema, type GatewayConfig } from '../../src/kit/gateway/schema.js';
import type { SoapVersion } from './envelope.js';
import sinkSchemaJson from './sink.schema.json' with { type: 'json' };
import sourceSchemaJson from './source.schema.json' with { type: 'json' };

/** The source's own options, with the `auth` and `rate_limit` blocks every HTTP source shares (src/kit/gateway). */
export const sourceSchema = withGatewaySchema(sourceSchemaJson as JsonSchema);
export const sinkSchema = sinkSchemaJson as JsonSchema;

export interface SoapSourceSecurityConfig {
  username: string;
  password: string;
  /** Default "any". */
  password_type?: 'text' | 'digest' | 'any';
  /** Default "5m". */
  max_age?: Duration;
  /** Default 100000. */
  nonce_cache_size?: number;
}

export interface SoapSourceConfig extends GatewayConfig {
  path: string;
  wsdl?: string;
  /** One of `operations` and `operation` is given. */
  operations?: string[];
  operation?: string;
  namespace?: string;
  /** Default both. */
  versions?: SoapVersion[];
  /** Default 500. */
  soap12_sender_status?: 400 | 500;
  ws_security?: SoapSourceSecurityConfig;
}

export interface SoapSinkSecurityConfig {
  username: string;
  password: string;
  /** Default "text". */
  password_type?: 'text' | 'digest';
}

export interface SoapSinkConfig {
  url: string;
  operation: string;
  soap_action?: string;
  /** Default "1.1". */
  version?: SoapVersion;
  namespace?: string;
  /** Default "qualified". */
  element_form?: 'qualified' | 'unqualified';
  /** Default "30s". */
  timeout?: Duration;
  headers?: Record<string, string>;
  ws_security?: SoapSinkSecurityConfig;
}

/** The operations a source config names, whichever form it uses. */
export function operationsOf(config: SoapSourceConfig): string[] {
  return config.operations ?? (config.operation ? [config.operation] : []);
}

