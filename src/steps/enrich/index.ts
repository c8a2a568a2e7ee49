import type { StepRegistration } from '../../core/contracts.js';
import { HubError, PermanentError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import type { XmlLimits } from '../../core/codec.js';
import { FORBIDDEN_KEYS, describe, expressionAt, issueCounter, objectConfig, producedNothing, readReply, sinkAt, unusableStep } from '../shared.js';

export interface EnrichConfig {
  sink: string;
  request?: string;
  into?: string;
  merge?: string;
}

const enrich: StepRegistration<EnrichConfig> = {
  name: 'enrich',
  description: 'Calls a request-reply sink (a REST or SOAP service) and merges its reply into the body, either under one field (`into`) or through a JSONata expression (`merge`).',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description: 'Content enricher: ask a request-reply sink and add its answer to the message. Give exactly one of `into` and `merge`.',
    additionalProperties: false,
    required: ['sink'],
    oneOf: [{ required: ['into'] }, { required: ['merge'] }],
    properties: {
      sink: { type: 'string', minLength: 1, description: 'Name of a request-reply sink (rest, soap) under `sinks:` to call.', examples: ['customers'] },
      request: {
        type: 'string',
        minLength: 1,
        description: 'JSONata expression whose result is the JSON body sent to the sink ($headers, $meta, $id bound). Without it the current message is sent as it is.',
        examples: ['{ "customerId": customer.id }'],
      },
      into: {
        type: 'string',
        minLength: 1,
        description: 'Top-level field of the body (an object) that receives the reply body, replacing any value it had.',
        examples: ['customer'],
      },
      merge: {
        type: 'string',
        minLength: 1,
        description: 'JSONata expression over the current body with the reply body bound as $reply; its result is the new body.',
        examples: ['$merge([$, { "customerName": $reply.name, "tier": $reply.tier }])'],
      },
    },
    examples: [
      { sink: 'customers', request: '{ "id": customerId }', into: 'customer' },
      { sink: 'prices', merge: '$merge([$, { "price": $reply.amount }])' },
    ],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const sink = sinkAt(c.sink, ['sink'], ctx, issues.report, true);
    const request = expressionAt(c.request, ['request'], issues.report);
    const merge = expressionAt(c.merge, ['merge'], issues.report);
    const into = c.into;
    if ((into === undefined) === (c.merge === undefined)) {
      issues.report({ path: [], message: into === undefined ? 'say where the reply goes: `into: FIELD` or `merge: EXPRESSION`' : 'give either `into` or `merge`, not both' });
    }
    if (into !== undefined && (typeof into !== 'string' || into === '' || FORBIDDEN_KEYS.has(into))) {
      issues.report({ path: ['into'], message: `must be a field name (not __proto__, constructor or prototype), got ${JSON.stringify(into)}` });
    }
    if (sink === undefined || issues.errors) return unusableStep('enrich');

    return async (message, run) => {
      let outbound = message;
      if (request) {
        const body = await request.evaluate(message);
        if (body === undefined) throw producedNothing(request, 'make it yield the request body for every message');
        outbound = message.with({ value: body });
      }
      const replyMessage = await run.send(sink, outbound);
      if (!replyMessage) throw new PermanentError('BAD_REPLY', `sink "${sink}" gave no reply, so enrich has nothing to merge`);
      const reply = readReply(replyMessage, sink, ctx.limits);
      if (merge) {
        const value = await merge.evaluate(message, { reply });
        if (value === undefined) throw producedNothing(merge, 'make it yield the new body for every message');
        return [message.with({ value })];
      }
      const body = message.json();
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new PermanentError('TRANSFORM_FAILED', `enrich cannot set field "${into as string}" because the body is ${describe(body)}, not an object; use \`merge\` instead`);
      }
      return [message.with({ value: { ...body, [into as string]: reply } })];
    };
  },
};

export default enrich;
