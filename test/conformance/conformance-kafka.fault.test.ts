/**
 * Conformance under faults for the Kafka adapter: see fault-cases.ts.
 */
import { holdBroker } from '../support/broker-lock.js';
import { kafkaDriver } from './drivers/kafka.js';
import { faultCases } from './fault-cases.js';

holdBroker('kafka');
faultCases(kafkaDriver);
