/**
 * Conformance under faults for the Kafka adapter, in the Kafka fault lane (it stops and restarts the Kafka broker
 * only, so it runs beside the RabbitMQ lane): see fault-cases.ts.
 */
import { kafkaDriver } from './drivers/kafka.js';
import { faultCases } from './fault-cases.js';

faultCases(kafkaDriver);
