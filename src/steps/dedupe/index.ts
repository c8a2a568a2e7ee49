import type { StepRegistration } from '../../core/contracts.js';
import { durationOption, durationSchema, type Duration } from '../../core/duration.js';
import { PermanentError } from '../../core/errors.js';
import { describe, expressionAt, issueCounter, objectConfig, unusableStep } from '../shared.js';

export interface DedupeConfig {
  key: string;
  ttl?: Duration;
}

/** Longest key kept (a longer one is refused: keys are meant to be ids, not documents). */
const MAX_KEY = 512;

const dedupe: StepRegistration<DedupeConfig> = {
  name: 'dedupe',
  description: 'Idempotent consumer: drops a message whose key (a JSONata expression) was already seen in this flow within the time to live. Kept in the journal, so it holds across restarts and hub replicas.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Pass on a message only the first time its key is seen within `ttl`; later ones end here, successfully (a retry of the same message, and an operator\'s replay, still pass).',
    additionalProperties: false,
    required: ['key'],
    properties: {
      key: { type: 'string', minLength: 1, description: 'JSONata expression giving the key (a string or number) that identifies a duplicate, e.g. an order id. A message without one fails (VALIDATION_FAILED).', examples: ['orderId', '$headers."x-request-id"', 'order.id & "-" & order.version'] },
      ttl: { ...durationSchema, default: '24h', description: 'How long a key is remembered.' },
    },
    examples: [{ key: 'orderId', ttl: '24h' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const key = expressionAt(c.key, ['key'], issues.report, { required: true });
    const ttlMs = durationOption(c.ttl as Duration | undefined, '24h', ['ttl'], issues.report, 1);
    if (!key || issues.errors) return unusableStep('dedupe');
    return async (message, run) => {
      const value = await key.evaluate(message);
      if ((typeof value !== 'string' && typeof value !== 'number') || value === '') {
        throw new PermanentError('VALIDATION_FAILED', `the dedupe key \`${key.source}\` gave ${describe(value)} for this message; it needs a string or a number`);
      }
      const k = String(value);
      if (k.length > MAX_KEY) throw new PermanentError('VALIDATION_FAILED', `the dedupe key \`${key.source}\` gave ${k.length} characters; at most ${MAX_KEY}`);
      if (await run.dedupe(k, ttlMs)) return [message];
      run.logger.info({ dedupeKey: k }, 'duplicate dropped by the dedupe step');
      return [];
    };
  },
};

export default dedupe;
