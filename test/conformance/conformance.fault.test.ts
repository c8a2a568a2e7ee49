/**
 * Conformance under faults for every adapter but Kafka (conformance-kafka.fault.test.ts): see fault-cases.ts.
 */
import { drivers } from './drivers/index.js';
import { faultCases } from './fault-cases.js';

for (const driver of drivers) if (driver.adapter !== 'kafka') faultCases(driver);
