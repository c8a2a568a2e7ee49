import type { StepRegistration } from '../../core/contracts.js';
import { conditionSchema, expressionAt, isTruthy, issueCounter, objectConfig, unusableStep } from '../shared.js';

export interface FilterConfig {
  when: string;
}

const filter: StepRegistration<FilterConfig> = {
  name: 'filter',
  description: 'Keeps a message when a JSONata condition holds and drops it (it is settled, not failed) when it does not.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Pass on only the messages for which `when` holds; the others end here, successfully.',
    additionalProperties: false,
    required: ['when'],
    properties: {
      when: conditionSchema(['status = "PAID"', '$exists(customer.email)', '$not($headers."x-test" = "true")']),
    },
    examples: [{ when: 'status = "PAID"' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const when = expressionAt(objectConfig(config, issues.report).when, ['when'], issues.report, { required: true });
    if (!when || issues.errors) return unusableStep('filter');
    return async (message) => (isTruthy(await when.evaluate(message)) ? [message] : []);
  },
};

export default filter;
