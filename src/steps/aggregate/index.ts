import { EMITTED_BY_HEADER, type StepRegistration } from '../../core/contracts.js';
import { durationOption, durationSchema, type Duration } from '../../core/duration.js';
import { hubError, PermanentError } from '../../core/errors.js';
import { newId } from '../../core/id.js';
import type { Message } from '../../core/message.js';
import { describe, expressionAt, issueCounter, isTruthy, objectConfig, producedNothing, unusableStep } from '../shared.js';
import { Completer, type GroupBody } from './completer.js';

export interface AggregateConfig {
  key: string;
  complete: { count?: number; when?: string; timeout?: Duration; idle?: Duration };
  jsonata?: string;
  member_id?: string;
  max_size?: number;
  max_open?: number;
  late?: 'new_group' | 'dead_letter';
  closed_for?: Duration;
}

/** Longest key kept (as dedupe's: keys are ids, not documents). */
const MAX_KEY = 512;

const aggregate: StepRegistration<AggregateConfig> = {
  name: 'aggregate',
  description:
    'Aggregator: collects the messages of one correlation key into a group, kept in the journal, and once the group is complete (a count, a condition, a time since its first or last member) sends one message made of them on down the flow.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description:
      'Each member ends here, successfully, once the journal holds it (its source settles then). A completed group goes on from this step as a message of its own: its id is the group\'s (stable: a group emitted twice after a crash has one id, for `dedupe`), its body what `jsonata` makes of the members, its headers aggregate-key, aggregate-size and aggregate-reason (count, when, timeout, idle, max_size, max_open).',
    additionalProperties: false,
    required: ['key', 'complete'],
    properties: {
      key: { type: 'string', minLength: 1, description: 'JSONata expression giving the correlation key (a string or number) of a member, e.g. an order id. A message for which it fails or gives nothing is dead-lettered with the reason; its group is not touched.', examples: ['orderId', '$headers."correlation-id"'] },
      complete: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        description: 'When a group is complete: whichever comes first. Without `timeout` or `idle`, a group is closed one hour after its first member, so that a group that never completes is not kept for ever.',
        properties: {
          count: { type: 'integer', minimum: 1, description: 'Complete with this many members.' },
          when: { type: 'string', minLength: 1, description: 'JSONata condition over the arriving member ($size: the group\'s members with it, $key bound): complete when it holds, with this member.', examples: ['last = true', '$size = total'] },
          timeout: { ...durationSchema, description: 'Complete this long after the group\'s first member.' },
          idle: { ...durationSchema, description: 'Complete this long after the group\'s last member.' },
        },
      },
      jsonata: { type: 'string', minLength: 1, description: 'JSONata expression over the array of the members\' bodies, in the order they joined ($key, $size, $reason, $members: each member with id, at, headers and body). Without it the body is that array.', examples: ['{ "orderId": $key, "lines": $.line, "total": $sum($.amount) }'] },
      member_id: { type: 'string', minLength: 1, description: 'JSONata expression giving a member\'s identity: a member whose identity the open group holds already is not added twice (a broker\'s redelivery). Default: the message id.', examples: ['lineId'] },
      max_size: { type: 'integer', minimum: 1, default: 10000, description: 'A group that reaches this many members completes (reason max_size).' },
      max_open: { type: 'integer', minimum: 1, default: 10000, description: 'Open groups at most: a member that would open one more completes the oldest open group first (reason max_open).' },
      late: { enum: ['new_group', 'dead_letter'], default: 'new_group', description: 'A member whose key\'s group completed within `closed_for`: starts a new group, or is dead-lettered (LATE_MEMBER).' },
      closed_for: { ...durationSchema, default: '1h', description: 'How long a completed group\'s key counts as closed, for `late`.' },
    },
    examples: [{ key: 'orderId', complete: { count: 3, timeout: '30s' }, jsonata: '{ "orderId": $key, "lines": $ }' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const key = expressionAt(c.key, ['key'], issues.report, { required: true });
    const done = objectConfig(c.complete ?? {}, (i) => issues.report({ ...i, path: ['complete', ...i.path] })) as AggregateConfig['complete'];
    const when = expressionAt(done.when, ['complete', 'when'], issues.report);
    const combine = expressionAt(c.jsonata, ['jsonata'], issues.report);
    const memberId = expressionAt(c.member_id, ['member_id'], issues.report);
    const timeoutMs = done.timeout === undefined ? undefined : durationOption(done.timeout, '1h', ['complete', 'timeout'], issues.report, 1);
    const idleMs = done.idle === undefined ? undefined : durationOption(done.idle, '1h', ['complete', 'idle'], issues.report, 1);
    const closedMs = durationOption(c.closed_for as Duration | undefined, '1h', ['closed_for'], issues.report, 1);
    const count = typeof done.count === 'number' ? done.count : undefined;
    const maxSize = typeof c.max_size === 'number' ? c.max_size : 10_000;
    const maxOpen = typeof c.max_open === 'number' ? c.max_open : 10_000;
    if (count === undefined && !when && timeoutMs === undefined && idleMs === undefined) issues.report({ path: ['complete'], message: 'say when a group is complete: count, when, timeout or idle' });
    if (count !== undefined && count > maxSize) issues.report({ path: ['complete', 'count'], message: `a count of ${count} is never reached: max_size is ${maxSize}` });
    if (!key || issues.errors) return unusableStep('aggregate');

    const completer = new Completer({ count, maxSize, timeoutMs: timeoutMs ?? (idleMs === undefined ? 3_600_000 : undefined), idleMs, closedMs });
    const refuseLate = c.late === 'dead_letter';

    /** The group's message, emitted by the completer, made into what goes on: the aggregation expression over its members. */
    const finish = async (message: Message): Promise<Message[]> => {
      const group = message.json() as GroupBody;
      const bodies = group.members.map((m) => m.body);
      const extra = { key: group.key, size: group.size, reason: group.reason, members: group.members };
      const value = combine ? await combine.evaluate(message.with({ value: bodies }), extra) : bodies;
      if (value === undefined) throw producedNothing(combine!, 'make it yield the group\'s body for every group');
      return [message.with({ value })];
    };

    const step = async (message: Message): Promise<Message[]> => {
      const runtime = completer.runtime;
      if (message.headers[EMITTED_BY_HEADER] === runtime.step) return finish(message);
      const k = await key.evaluate(message);
      if ((typeof k !== 'string' && typeof k !== 'number') || k === '') {
        throw new PermanentError('VALIDATION_FAILED', `the aggregation key \`${key.source}\` gave ${describe(k)} for this message; it needs a string or a number`);
      }
      const groupKey = String(k);
      if (groupKey.length > MAX_KEY) throw new PermanentError('VALIDATION_FAILED', `the aggregation key \`${key.source}\` gave ${groupKey.length} characters; at most ${MAX_KEY}`);
      let id = message.id;
      if (memberId) {
        const v = await memberId.evaluate(message);
        if ((typeof v !== 'string' && typeof v !== 'number') || v === '') throw new PermanentError('VALIDATION_FAILED', `the member id \`${memberId.source}\` gave ${describe(v)} for this message; it needs a string or a number`);
        id = String(v);
      }
      const member = { id, at: new Date().toISOString(), headers: { ...message.headers }, body: message.body };
      const add = () => runtime.groups.addToGroup(completer.scope, groupKey, member, { newGroupId: newId(), maxOpen, refuseClosed: refuseLate });
      let added;
      try {
        added = await add();
        if (added.outcome === 'full') {
          await completer.completeOldest();
          added = await add();
        }
      } catch (err) {
        throw hubError('JOURNAL_UNAVAILABLE', `the journal could not keep the aggregate member (${(err as Error).message}); the message stays with its source`, { cause: err });
      }
      if (added.outcome === 'closed') throw new PermanentError('LATE_MEMBER', `the group of key "${groupKey}" completed less than closed_for ago and this step sends late members to the dead letters`, { details: { key: groupKey } });
      if (added.outcome !== 'added' && added.outcome !== 'duplicate') throw hubError('FLOW_OVERLOADED', `the aggregate step has ${maxOpen} open groups (max_open); the message stays with its source`);
      // A duplicate (a redelivery of a member stored just before a crash) checks completion again: the crash may
      // have come before the group it completed was sealed.
      const group = added.group;
      let reason: string | undefined;
      if (count !== undefined && group.size >= count) reason = 'count';
      else if (group.size >= maxSize) reason = 'max_size';
      else if (when && isTruthy(await when.evaluate(message, { size: group.size, key: groupKey }))) reason = 'when';
      if (reason) completer.complete(group.id, reason);
      return [];
    };
    return Object.assign(step, { lifecycle: completer });
  },
};

export default aggregate;
