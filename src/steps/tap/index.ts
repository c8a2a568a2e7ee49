import type { StepRegistration } from '../../core/contracts.js';
import { toHubError } from '../../core/errors.js';
import { issueCounter, objectConfig, sinkAt, unusableStep } from '../shared.js';

export interface TapConfig {
  sink: string;
  on_error?: 'log' | 'fail';
}

const tap: StepRegistration<TapConfig> = {
  name: 'tap',
  description: 'Wire tap: sends a copy of the message to a sink and waits for it to be confirmed, then passes the message on unchanged. A failed tap is logged (or fails the message with on_error: fail).',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Copy each message to a sink (an audit log, a topic for analytics) without changing what goes on down the flow.',
    additionalProperties: false,
    required: ['sink'],
    properties: {
      sink: { type: 'string', minLength: 1, description: 'Name of the sink (under `sinks:`) that receives the copy. Its reply, if any, is ignored.', examples: ['audit'] },
      on_error: {
        enum: ['log', 'fail'],
        default: 'log',
        description: '"log": a tap that fails (after the flow\'s retries) is logged as a warning and the message goes on. "fail": the tap failing fails the message, so the copy is delivered at least once.',
      },
    },
    examples: [{ sink: 'audit' }, { sink: 'audit', on_error: 'fail' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const sink = sinkAt(c.sink, ['sink'], ctx, issues.report);
    if (c.on_error !== undefined && c.on_error !== 'log' && c.on_error !== 'fail') {
      issues.report({ path: ['on_error'], message: `must be "log" or "fail", got ${JSON.stringify(c.on_error)}` });
    }
    if (sink === undefined || issues.errors) return unusableStep('tap');
    const fail = c.on_error === 'fail';

    return async (message, run) => {
      try {
        await run.send(sink, message);
      } catch (err) {
        if (fail) throw err;
        const error = toHubError(err);
        run.logger.warn({ flow: run.flow, messageId: message.id, sink, err: error.toJSON() }, `tap to sink "${sink}" failed; the message goes on (on_error: log)`);
      }
      return [message];
    };
  },
};

export default tap;
