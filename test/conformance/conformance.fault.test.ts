/**
 * Conformance under faults for every adapter but Kafka (conformance-kafka.fault.test.ts): see fault-cases.ts.
 */
import { holdBroker } from '../support/broker-lock.js';
import { drivers } from './drivers/index.js';
import { faultCases } from './fault-cases.js';

holdBroker('rabbitmq');
for (const driver of drivers) if (driver.adapter !== 'kafka') faultCases(driver);
