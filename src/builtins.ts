import amqp from '../adapters/amqp/index.js';
import kafka from '../adapters/kafka/index.js';
import rest from '../adapters/rest/index.js';
import soap from '../adapters/soap/index.js';
import { Registry } from './core/registry.js';
import { builtinSteps } from './steps/index.js';

/** A new registry holding the built-in adapters and steps. Each hub (and each test) gets its own. */
export function builtinRegistry(): Registry {
  const registry = new Registry();
  for (const adapter of [rest, soap, amqp, kafka]) registry.registerAdapter(adapter);
  for (const step of builtinSteps) registry.registerStep(step);
  return registry;
}
