import type { StepRegistration } from '../../core/contracts.js';
import { PermanentError } from '../../core/errors.js';
import { issueCounter, objectConfig, unusableStep } from '../shared.js';

export interface ValidateConfig {
  schema: string;
}

/** How many schema errors the error message spells out; `details.errors` has them all. */
const ERRORS_IN_MESSAGE = 3;

const validate: StepRegistration<ValidateConfig> = {
  name: 'validate',
  description: 'Checks the JSON body against a message schema from schemas/; a message that does not match fails permanently (VALIDATION_FAILED) with every schema error in its details.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Validate the JSON body against a JSON Schema (2020-12) kept in the schemas/ folder. Put an xml_to_json step first for XML bodies.',
    additionalProperties: false,
    required: ['schema'],
    properties: {
      schema: {
        type: 'string',
        minLength: 1,
        pattern: '^[\\w.-]+$',
        description: 'Name of the message schema: "order.v1" is schemas/order.v1.schema.json.',
        examples: ['order.v1'],
      },
    },
    examples: [{ schema: 'order.v1' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const { schema } = objectConfig(config, issues.report);
    if (typeof schema !== 'string' || schema === '') {
      issues.report({ path: ['schema'], message: 'the name of a message schema in schemas/ is required, e.g. "order.v1"' });
      return unusableStep('validate');
    }
    const check = ctx.loadSchema(schema, ['schema']);
    if (!check || issues.errors) return unusableStep('validate');

    return (message) => {
      const result = check(message.json());
      if (result.valid) return [message];
      const shown = result.errors.slice(0, ERRORS_IN_MESSAGE).map((e) => `${e.path} ${e.message}`);
      const more = result.errors.length - shown.length;
      throw new PermanentError('VALIDATION_FAILED', `the message does not match schema "${schema}": ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`, {
        details: { schema, errors: result.errors.map(({ path, message }) => ({ path, message })) },
      });
    };
  },
};

export default validate;
