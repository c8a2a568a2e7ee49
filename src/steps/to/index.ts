import type { StepRegistration } from '../../core/contracts.js';
import { continuing, issueCounter, sinkAt, unusableStep } from '../shared.js';

export type ToConfig = string;

const to: StepRegistration<ToConfig> = {
  name: 'to',
  description: 'Sends the message to a sink. A request-reply sink\'s reply goes on down the flow (else the message itself); meta.route records the sink.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'string',
    minLength: 1,
    description: 'Name of the sink (under `sinks:`) every message goes to, e.g. `- to: orders`.',
    examples: ['orders'],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const sink = sinkAt(config, [], ctx, issues.report);
    if (sink === undefined) return unusableStep('to');
    return (message, run) => run.send(sink, message).then((reply) => [continuing(message, sink, reply)]);
  },
};

export default to;
