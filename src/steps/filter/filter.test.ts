import { describe, expect, it } from 'vitest';
import { build, jsonMessage, runContext } from '../testing.js';
import filter from './index.js';

describe('filter', () => {
  it('keeps messages whose condition holds and drops the others', async () => {
    const { step, issues } = build(filter, { when: 'status = "PAID" and $not($headers."x-test" = "true")' });
    expect(issues).toEqual([]);
    const paid = jsonMessage({ status: 'PAID' });
    expect(await step(paid, runContext())).toEqual([paid]);
    expect(await step(jsonMessage({ status: 'OPEN' }), runContext())).toEqual([]);
    expect(await step(jsonMessage({ status: 'PAID' }, { 'x-test': 'true' }), runContext())).toEqual([]);
  });

  it('drops when the condition matches nothing, or is an empty string or 0', async () => {
    const { step } = build(filter, { when: 'flag' });
    for (const body of [{}, { flag: '' }, { flag: 0 }, { flag: null }, { flag: [] }]) expect(await step(jsonMessage(body), runContext())).toEqual([]);
    expect(await step(jsonMessage({ flag: 'y' }), runContext())).toHaveLength(1);
  });

  it('fails TRANSFORM_FAILED when the condition throws', async () => {
    const { step } = build(filter, { when: '$number(a) > 1' });
    await expect(async () => step(jsonMessage({ a: 'x' }), runContext())).rejects.toMatchObject({ code: 'TRANSFORM_FAILED' });
  });

  it('reports bad JSONata at ["when"] with its offset', () => {
    const { issues } = build(filter, { when: 'a = = b' });
    expect(issues).toEqual([{ path: ['when'], message: expect.stringContaining('JSONata does not compile'), offset: expect.any(Number) }]);
  });
});
