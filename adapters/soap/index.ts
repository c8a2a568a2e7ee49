/**
 * The SOAP adapter: a SOAP 1.1/1.2 endpoint source (WSDL served, operations dispatched by SOAPAction or Body
 * element, WS-Security UsernameToken checked) and a SOAP client sink. See README.md for every option.
 */
import type { AdapterRegistration } from '../../src/core/contracts.js';
import { sinkFactory } from './sink.js';
import { sourceFactory } from './source.js';

export type { SoapSinkConfig, SoapSourceConfig } from './config.js';

const soap: AdapterRegistration = {
  name: 'soap',
  transport: 'http',
  description: 'SOAP 1.1 and 1.2 over HTTP: a WSDL endpoint source with WS-Security UsernameToken, and a request-reply client sink.',
  source: sourceFactory,
  sink: sinkFactory,
};

export default soap;
