/**
 * recipient_list and scatter_gather on their own (the run context's sinks are the test's; the per-recipient retries
 * and the broker and journal around them are test/patterns.test.ts's): lint of the names, all called at once,
 * the confirmed ones remembered for a durable retry, an unknown name from the expression, replies merged in time.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { StepRuntime } from '../../core/contracts.js';
import { hubError, type HubError } from '../../core/errors.js';
import { Message } from '../../core/message.js';
import scatterGather from '../scatter_gather/index.js';
import { buildContext, jsonMessage, runContext } from '../testing.js';
import recipientList from './index.js';

const SINKS = { a: { requestReply: true }, b: { requestReply: true }, c: { requestReply: false } };

function marks(): StepRuntime & { kept: Set<string> } {
  const kept = new Set<string>();
  return { flow: 'f', step: '0:recipient_list', logger: pino({ level: 'silent' }), groups: undefined as never, redisUrl: undefined, emit: async () => {}, kept, mark: async (k) => void kept.add(k), marked: async (k) => kept.has(k) };
}

describe('recipient_list step', () => {
  it('reports names that are not sinks, and a list given twice or not at all', () => {
    const ctx = buildContext({ sinks: SINKS });
    recipientList.create({ to: ['a', 'nope', 'a'] }, ctx);
    recipientList.create({}, ctx);
    recipientList.create({ to: ['a'], expression: '"b"' }, ctx);
    expect(ctx.issues.map((i) => `${i.path.join('.')}: ${i.message.slice(0, 24)}`)).toEqual(['to.1: unknown sink "nope": the', 'to.2: sink "a" is listed twice', ': name the recipients: `to', ': give either `to` or `exp']);
  });

  it('calls every recipient at once; on a failure keeps the confirmed ones, which a durable retry skips', async () => {
    const ctx = buildContext({ sinks: SINKS });
    const step = recipientList.create({ expression: '["a", kind, "c"]' }, ctx);
    const rt = marks();
    await step.lifecycle!.start(rt);
    let open = 0;
    let most = 0;
    let failB = true;
    const slow = async () => {
      most = Math.max(most, ++open);
      await new Promise((r) => setTimeout(r, 30));
      open--;
      return undefined;
    };
    const run = runContext({ a: slow, b: async () => { await slow(); if (failB) throw hubError('DOWNSTREAM_UNAVAILABLE', 'b is down'); return undefined; }, c: slow });
    const message = jsonMessage({ kind: 'b' });
    await expect(Promise.resolve(step(message, run))).rejects.toMatchObject({ code: 'DOWNSTREAM_UNAVAILABLE' });
    expect(most).toBe(3);
    expect([...rt.kept].map((k) => k.split('\u0000')[2]).sort()).toEqual(['a', 'c']);
    failB = false;
    const retry = message.with({ meta: { attempt: 2 } });
    const sent = run.sent.length;
    expect(await step(retry, run)).toEqual([retry]);
    expect(run.sent.slice(sent).map((s) => s.sink)).toEqual(['b']);
  });

  it('fails a message whose expression names a sink the flow lacks, permanently, calling nobody', async () => {
    const step = recipientList.create({ expression: '["a", region & "-x"]' }, buildContext({ sinks: SINKS }));
    await step.lifecycle!.start(marks());
    const run = runContext();
    const err = (await Promise.resolve(step(jsonMessage({ region: 'eu' }), run)).catch((e: unknown) => e)) as HubError;
    expect([err.code, err.retryable, err.message]).toEqual(['UNKNOWN_RECIPIENT', false, expect.stringContaining('"eu-x", which is not a sink of this flow')]);
    expect(run.sent).toEqual([]);
  });
});

describe('scatter_gather step', () => {
  const reply = (value: unknown, ms = 0) => async (m: Message) => {
    await new Promise((r) => setTimeout(r, ms));
    return m.with({ value });
  };

  it('needs request-reply sinks', () => {
    const ctx = buildContext({ sinks: SINKS });
    scatterGather.create({ to: ['a', 'c'] }, ctx);
    expect(ctx.issues.map((i) => i.path.join('.'))).toEqual(['to.1']);
  });

  it('merges the replies that came within the timeout, naming the missing ones; or fails as the policy says', async () => {
    const sinks = { a: reply({ price: 5 }), b: reply({ price: 3 }, 500) };
    const skip = scatterGather.create({ to: ['a', 'b'], timeout: '100ms', merge: '{ "got": $replies, "missing": $missing }' }, buildContext({ sinks: SINKS }));
    const [out] = (await skip(jsonMessage({}), runContext(sinks))) as Message[];
    expect(JSON.parse(out!.body.toString())).toEqual({ got: { a: { price: 5 } }, missing: ['b'] });
    const fail = scatterGather.create({ to: ['a', 'b'], timeout: '100ms', missing: 'fail' }, buildContext({ sinks: SINKS }));
    await expect(Promise.resolve(fail(jsonMessage({}), runContext(sinks)))).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    const all = scatterGather.create({ to: ['a', 'b'], timeout: '1s' }, buildContext({ sinks: SINKS }));
    const [both] = (await all(jsonMessage({}), runContext(sinks))) as Message[];
    expect(JSON.parse(both!.body.toString())).toEqual({ a: { price: 5 }, b: { price: 3 } });
  });
});
