/**
 * Conformance under faults for the Kafka adapter: see fault-cases.ts.
 */
import { kafkaDriver } from './drivers/kafka.js';
import { faultCases } from './fault-cases.js';

faultCases(kafkaDriver);
