import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../core/errors.js';
import { build, jsonMessage, runContext, textMessage } from '../testing.js';
import validate from './index.js';

const schemas = {
  'order.v1': {
    type: 'object',
    required: ['orderId', 'total'],
    additionalProperties: false,
    properties: { orderId: { type: 'string' }, total: { type: 'number' }, region: { type: 'string' }, note: { type: 'string' } },
  },
};

describe('validate', () => {
  it('passes a valid message on unchanged', async () => {
    const { step, issues } = build(validate, { schema: 'order.v1' }, { schemas });
    expect(issues).toEqual([]);
    const message = jsonMessage({ orderId: 'A1', total: 12 });
    expect(await step(message, runContext())).toEqual([message]);
  });

  it('fails VALIDATION_FAILED with every schema error in details and the first few in the message', async () => {
    const { step } = build(validate, { schema: 'order.v1' }, { schemas });
    const message = jsonMessage({ total: 'lots', region: 5, note: 6, extra: true });
    const error = await Promise.resolve().then(() => step(message, runContext())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    const e = error as PermanentError;
    expect(e.code).toBe('VALIDATION_FAILED');
    const details = e.details as { schema: string; errors: { path: string; message: string }[] };
    expect(details.schema).toBe('order.v1');
    expect(details.errors).toHaveLength(5);
    expect(details.errors).toContainEqual({ path: '/total', message: 'must be number' });
    expect(e.message).toMatch(/^the message does not match schema "order.v1": .+; and 2 more$/);
  });

  it('reads an XML body as a permanent error telling to convert it first', async () => {
    const { step } = build(validate, { schema: 'order.v1' }, { schemas });
    await expect(async () => step(textMessage('<a/>', 'application/xml'), runContext())).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/xml_to_json/) });
  });

  it('reports a missing schema at the schema path', () => {
    const { issues } = build(validate, { schema: 'nope.v9' }, { schemas });
    expect(issues).toEqual([{ path: ['schema'], message: expect.stringContaining('"nope.v9" not found') }]);
  });

  it('reports a config without a schema name', () => {
    const { step, issues } = build(validate, {} as never, { schemas });
    expect(issues).toEqual([{ path: ['schema'], message: expect.stringContaining('required') }]);
    expect(() => step(jsonMessage({}), runContext())).toThrow(/configuration problems/);
  });
});
