import type { StepRegistration } from '../../core/contracts.js';
import { PermanentError } from '../../core/errors.js';
import type { CompiledExpression } from '../../kit/expression.js';
import { conditionSchema, describe, expressionAt, isTruthy, issueCounter, sendAndContinue, sinkAt, unusableStep } from '../shared.js';

export type RouteConfig = ({ when: string; to: string } | { otherwise: string })[];

const route: StepRegistration<RouteConfig> = {
  name: 'route',
  description: 'Content-based router: sends the message to the sink of the first branch whose condition holds, or to `otherwise`. A request-reply sink\'s reply goes on down the flow; meta.route records the sink.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'array',
    minItems: 1,
    description: 'Branches tried in order: the first `when` that holds picks its sink; an optional last `otherwise` branch catches the rest. With no match and no otherwise the message fails with NO_ROUTE.',
    items: {
      oneOf: [
        {
          type: 'object',
          description: 'A conditional branch.',
          additionalProperties: false,
          required: ['when', 'to'],
          properties: {
            when: conditionSchema(['total > 10000', '$headers."x-priority" = "high"', 'region in ["EU", "UK"]']),
            to: { type: 'string', minLength: 1, description: 'Name of the sink (under `sinks:`) the message goes to when the condition holds.', examples: ['large-orders'] },
          },
        },
        {
          type: 'object',
          description: 'The fallback branch; it must be the last one.',
          additionalProperties: false,
          required: ['otherwise'],
          properties: {
            otherwise: { type: 'string', minLength: 1, description: 'Name of the sink (under `sinks:`) for messages no `when` matched.', examples: ['orders'] },
          },
        },
      ],
    },
    examples: [[{ when: 'total > 10000', to: 'large-orders' }, { otherwise: 'orders' }]],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    if (!Array.isArray(config) || config.length === 0) {
      issues.report({ path: [], message: `must be a list of branches (\`- when: ...\` / \`to: ...\`, then optionally \`- otherwise: ...\`), got ${describe(config)}` });
      return unusableStep('route');
    }
    const branches: { when: CompiledExpression | undefined; to: string | undefined }[] = [];
    let otherwise: string | undefined;
    let seenOtherwise = false;
    config.forEach((branch: unknown, i) => {
      if (branch === null || typeof branch !== 'object' || Array.isArray(branch)) {
        issues.report({ path: [i], message: `a branch must be \`{ when, to }\` or \`{ otherwise }\`, got ${describe(branch)}` });
        return;
      }
      const b = branch as Record<string, unknown>;
      if ('otherwise' in b) {
        if (seenOtherwise) issues.report({ path: [i, 'otherwise'], message: 'a route has at most one `otherwise` branch' });
        seenOtherwise = true;
        if ('when' in b || 'to' in b) issues.report({ path: [i], message: 'an `otherwise` branch has no `when` or `to`: write `- otherwise: SINK` as a branch of its own' });
        if (i !== config.length - 1) issues.report({ path: [i, 'otherwise'], message: 'the `otherwise` branch must be the last one: branches after it could never be taken' });
        otherwise = sinkAt(b.otherwise, [i, 'otherwise'], ctx, issues.report);
        return;
      }
      const when = expressionAt(b.when, [i, 'when'], issues.report, { required: true });
      if (!('to' in b)) issues.report({ path: [i], message: 'a `when` branch needs `to: SINK`' });
      const to = 'to' in b ? sinkAt(b.to, [i, 'to'], ctx, issues.report) : undefined;
      branches.push({ when, to });
    });
    if (issues.errors) return unusableStep('route');
    const compiled = branches as { when: CompiledExpression; to: string }[];

    return async (message, run) => {
      let sink = otherwise;
      for (const branch of compiled) {
        if (isTruthy(await branch.when.evaluate(message))) {
          sink = branch.to;
          break;
        }
      }
      if (sink === undefined) {
        throw new PermanentError('NO_ROUTE', `no route matched: none of ${compiled.map((b) => `\`${b.when.source}\``).join(', ')} held for this message, and the route has no \`otherwise\``);
      }
      return [await sendAndContinue(message, sink, run)];
    };
  },
};

export default route;
