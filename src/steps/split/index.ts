import { newId } from '../../core/id.js';
import type { StepRegistration } from '../../core/contracts.js';
import { PermanentError } from '../../core/errors.js';
import { describe, expressionAt, issueCounter, objectConfig, producedNothing, unusableStep } from '../shared.js';

export interface SplitConfig {
  jsonata?: string;
}

const split: StepRegistration<SplitConfig> = {
  name: 'split',
  description: 'Splits an array into one message per element (fresh id; meta.parentId is the original id; headers split-index, from 0, and split-size).',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'One message per array element. Without `jsonata` the body itself must be an array. An empty array ends the message here; anything that is not an array fails it (TRANSFORM_FAILED).',
    additionalProperties: false,
    properties: {
      jsonata: {
        type: 'string',
        minLength: 1,
        description: 'JSONata expression that yields the array to split ($headers, $meta, $id bound). End a path with [] (e.g. `Lines.Line[]`) so that a single element still yields an array.',
        examples: ['lines[]', 'Order.Lines.Line[]', 'items.{ "sku": sku, "orderId": $$.orderId }'],
      },
    },
    examples: [{}, { jsonata: 'lines[]' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const source = objectConfig(config, issues.report).jsonata;
    const expr = expressionAt(source, ['jsonata'], issues.report);
    if (issues.errors) return unusableStep('split');

    return async (message) => {
      const items = expr ? await expr.evaluate(message) : message.json();
      if (expr && items === undefined) throw producedNothing(expr, 'split needs an array (an empty one ends the message)');
      if (!Array.isArray(items)) {
        throw new PermanentError('TRANSFORM_FAILED', `split needs an array but ${expr ? `\`${expr.source}\` yielded` : 'the body is'} ${describe(items)}${expr ? '; end the path with [] to always get an array' : '; set `jsonata` to pick the array'}`);
      }
      const size = String(items.length);
      return items.map((value, index) =>
        message.with({
          id: newId(),
          value: value ?? null,
          headers: { ...message.headers, 'content-type': 'application/json', 'split-index': String(index), 'split-size': size },
          meta: { parentId: message.id },
        }),
      );
    };
  },
};

export default split;
