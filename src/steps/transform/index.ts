import type { StepRegistration } from '../../core/contracts.js';
import { LATER } from '../../kit/expression.js';
import type { Message } from '../../core/message.js';
import { expressionAt, issueCounter, objectConfig, producedNothing, unusableStep } from '../shared.js';

export interface TransformConfig {
  jsonata: string;
}

const transform: StepRegistration<TransformConfig> = {
  name: 'transform',
  description: 'Replaces the body with the result of a JSONata expression over it (the new body is JSON).',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Reshape the body with JSONata. The expression sees the JSON body as its input, with $headers, $meta and $id bound; its result is the new body.',
    additionalProperties: false,
    required: ['jsonata'],
    properties: {
      jsonata: {
        type: 'string',
        minLength: 1,
        description: 'JSONata expression whose result becomes the new JSON body. It must produce a value for every message (an expression that yields nothing fails the message with TRANSFORM_FAILED).',
        examples: ['{ "orderId": PlaceOrder.OrderId, "total": $sum(PlaceOrder.Lines.Line.(Qty * Price)) }', '$merge([$, { "receivedAt": $meta.receivedAt }])'],
      },
    },
    examples: [{ jsonata: '{ "orderId": id, "customer": customer.name }' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const expr = expressionAt(objectConfig(config, issues.report).jsonata, ['jsonata'], issues.report, { required: true });
    if (!expr || issues.errors) return unusableStep('transform');

    const transformed = (message: Message, value: unknown): Message[] => {
      if (value === undefined) throw producedNothing(expr, 'make it yield the new body for every message');
      return [message.with({ value })];
    };
    // The fast path answers at once: no promise, no turn of the microtask queue.
    return (message) => {
      const value = expr.now(message);
      return value === LATER ? expr.evaluate(message).then((later) => transformed(message, later)) : transformed(message, value);
    };
  },
};

export default transform;
