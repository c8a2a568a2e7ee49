import type { Driver } from '../driver.js';
import { amqpDriver } from './amqp.js';
import { kafkaDriver } from './kafka.js';
import { restDriver } from './rest.js';
import { soapDriver } from './soap.js';

/** Every adapter's driver: the conformance cases run for each. */
export const drivers: Driver[] = [restDriver, soapDriver, amqpDriver, kafkaDriver];
