import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../core/errors.js';
import { Message } from '../../core/message.js';
import { build, jsonMessage, runContext } from '../testing.js';
import tap from './index.js';

const sinks = { audit: { requestReply: false }, echo: { requestReply: true } };

describe('tap', () => {
  it('sends the message to the sink, waits, and passes the original on unchanged', async () => {
    const { step, issues } = build(tap, { sink: 'audit' }, { sinks });
    expect(issues).toEqual([]);
    let confirmed = false;
    const run = runContext({ audit: async () => { await new Promise((r) => setTimeout(r, 5)); confirmed = true; return undefined; } });
    const message = jsonMessage({ a: 1 });
    const out = await step(message, run);
    expect(confirmed).toBe(true);
    expect(run.sent).toEqual([{ sink: 'audit', message }]);
    expect(out).toEqual([message]);
    expect(out[0]).toBe(message);
  });

  it('ignores a reply', async () => {
    const { step } = build(tap, { sink: 'echo' }, { sinks });
    const message = jsonMessage({ a: 1 });
    const out = await step(message, runContext({ echo: (m) => m.with({ value: { other: true } }) }));
    expect(out[0]).toBe(message);
  });

  it('logs a failure as a warning and goes on (on_error: log, the default)', async () => {
    const { step } = build(tap, { sink: 'audit' }, { sinks });
    const run = runContext({ audit: () => Promise.reject(new RetryableError('DOWNSTREAM_UNAVAILABLE', 'audit is down')) });
    const message = jsonMessage({ a: 1 });
    expect(await step(message, run)).toEqual([message]);
    expect(run.logs).toHaveLength(1);
    expect(run.logs[0]).toMatchObject({ level: 40, sink: 'audit', messageId: message.id, err: { code: 'DOWNSTREAM_UNAVAILABLE', message: 'audit is down' } });
  });

  it('fails the message with the sink error when on_error is fail', async () => {
    const { step } = build(tap, { sink: 'audit', on_error: 'fail' }, { sinks });
    const failure = new RetryableError('DOWNSTREAM_UNAVAILABLE', 'audit is down');
    await expect(async () => step(jsonMessage({ a: 1 }), runContext({ audit: () => Promise.reject(failure) }))).rejects.toBe(failure);
  });

  it('reports an unknown sink and a bad on_error', () => {
    expect(build(tap, { sink: 'audi', on_error: 'ignore' } as never, { sinks }).issues).toEqual([
      { path: ['sink'], message: expect.stringContaining('unknown sink "audi"') },
      { path: ['on_error'], message: expect.stringContaining('"log" or "fail"') },
    ]);
  });
});
