import type { StepRegistration } from '../../core/contracts.js';
import { durationOption, durationSchema, type Duration } from '../../core/duration.js';
import { hubError, toHubError, type HubError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import { Recipients } from '../recipient_list/index.js';
import { expressionAt, issueCounter, objectConfig, producedNothing, readReply, unusableStep } from '../shared.js';

export interface ScatterGatherConfig {
  to?: string[];
  expression?: string;
  request?: string;
  timeout?: Duration;
  missing?: 'fail' | 'skip';
  min_replies?: number;
  merge?: string;
}

const scatterGather: StepRegistration<ScatterGatherConfig> = {
  name: 'scatter_gather',
  description: 'Scatter-gather: asks several request-reply sinks at once and merges their replies into one body, waiting at most `timeout`; what becomes of replies that did not come is `missing`.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description:
      'Each sink is called with the flow\'s retry policy, all at once. A reply that did not come within `timeout` (or a call that failed) is missing: `missing: skip` merges the replies that came (at least `min_replies`, else the message fails: TIMEOUT, or the error of a failed call), `missing: fail` fails the message with the first missing one\'s error. Give exactly one of `to` and `expression`.',
    additionalProperties: false,
    properties: {
      to: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'The request-reply sinks (rest, soap) to ask, by name.', examples: [['quotes-a', 'quotes-b']] },
      expression: { type: 'string', minLength: 1, description: 'JSONata expression giving a sink name or an array of them; a name that is not a sink fails the message (UNKNOWN_RECIPIENT).' },
      request: { type: 'string', minLength: 1, description: 'JSONata expression whose result is the JSON body sent to every sink. Without it the message is sent as it is.' },
      timeout: { ...durationSchema, default: '5s', description: 'How long to wait for the replies.' },
      missing: { enum: ['skip', 'fail'], default: 'skip', description: 'What a missing reply does: `skip` it (merge the others), or `fail` the message.' },
      min_replies: { type: 'integer', minimum: 0, default: 1, description: 'With `missing: skip`, the replies needed at least.' },
      merge: { type: 'string', minLength: 1, description: 'JSONata expression over the current body with $replies bound (an object: sink name → its reply body, the missing ones absent) and $missing (their names); its result is the new body. Without it the body becomes $replies.', examples: ['$merge([$, { "best": $sort($each($replies, function($v) { $v }), function($a, $b) { $a.price > $b.price })[0] }])'] },
    },
    examples: [{ to: ['quotes-a', 'quotes-b'], timeout: '2s', missing: 'skip', merge: '{ "quotes": $replies }' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const recipients = Recipients.fromConfig(c, ctx, issues.report, true);
    const request = expressionAt(c.request, ['request'], issues.report);
    const merge = expressionAt(c.merge, ['merge'], issues.report);
    const timeoutMs = durationOption(c.timeout as Duration | undefined, '5s', ['timeout'], issues.report, 1);
    const failOnMissing = c.missing === 'fail';
    const minReplies = typeof c.min_replies === 'number' ? c.min_replies : 1;
    if (!recipients || issues.errors) return unusableStep('scatter_gather');

    return async (message, run) => {
      const sinks = await recipients.of(message);
      let outbound = message;
      if (request) {
        const body = await request.evaluate(message);
        if (body === undefined) throw producedNothing(request, 'make it yield the request body for every message');
        outbound = message.with({ value: body });
      }
      const replies: Record<string, unknown> = {};
      const errors = new Map<string, HubError>();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      try {
        await Promise.race([
          late,
          Promise.all(
            sinks.map((sink) =>
              run.send(sink, outbound).then(
                (reply) => void (replies[sink] = reply ? readReply(reply, sink, ctx.limits) : null),
                (err: unknown) => void errors.set(sink, toHubError(err)),
              ),
            ),
          ),
        ]);
      } finally {
        clearTimeout(timer);
      }
      // What came by now counts; what comes later is dropped (the call itself ends with the flow's timeout).
      const got = { ...replies };
      const missing = sinks.filter((s) => !(s in got));
      const missingError = (sink: string): HubError => errors.get(sink) ?? hubError('TIMEOUT', `sink "${sink}" did not reply within ${timeoutMs} ms (scatter_gather timeout)`, { details: { sink } });
      if (missing.length > 0 && (failOnMissing || sinks.length - missing.length < minReplies)) throw missingError(missing[0]!);
      const value = merge ? await merge.evaluate(message, { replies: got, missing }) : got;
      if (value === undefined) throw producedNothing(merge!, 'make it yield the new body for every message');
      return [message.with({ value, headers: { ...message.headers, 'content-type': 'application/json' } })];
    };
  },
};

export default scatterGather;
