import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FlowDefinition } from '../config/load-flows.js';
import { Message } from '../core/message.js';
import { build } from '../steps/testing.js';
import validate from '../steps/validate/index.js';
import { checkEdited, checkInput, inputProblems, type CheckedFlow } from './input-check.js';

// The check alone, on flow definitions written here: the real validate step, and steps of other kinds that record
// whether they ran (what the check decides by is a step's kind, not what it does).
const logger = pino({ level: 'silent' });
type FlowStep = FlowDefinition['steps'][number];

const schemas = { 'order.v1': { type: 'object', required: ['orderId', 'qty'], properties: { orderId: { type: 'string', minLength: 1 }, qty: { type: 'integer', minimum: 1 } } } };
const validateOrder: FlowStep = { label: '1:validate', kind: 'validate', config: { schema: 'order.v1' }, run: build(validate, { schema: 'order.v1' }, { schemas }).step };

function recording(kind: string, label: string, ran: string[], change?: (m: Message) => Message): FlowStep {
  return { label, kind, config: {}, run: (m) => (ran.push(label), [change ? change(m) : m]) };
}

const json = (body: string): Message => new Message({ body, headers: { 'content-type': 'application/json' }, meta: { flow: 'check-test', source: 'test', receivedAt: new Date().toISOString(), attempt: 1 } });
const flow = (...steps: FlowStep[]): CheckedFlow => ({ name: 'check-test', steps });

describe('the input check of an edited replay body', () => {
  it('runs the in-memory steps up to the first validate, and answers with its schema and errors', async () => {
    const ran: string[] = [];
    // The qty arrives as text and a transform makes it a number before validate: the check sees what validate sees.
    const toNumber = recording('transform', '0:transform', ran, (m) => m.with({ value: { ...(m.json() as object), qty: Number((m.json() as { qty: string }).qty) } }));
    const f = flow(toNumber, validateOrder, recording('to', '2:to', ran));
    expect(await checkInput(f, json('{"orderId": "o-1", "qty": "2"}'), logger)).toEqual({ schema: 'order.v1', problems: [] });
    expect(await checkInput(f, json('{"orderId": "", "qty": "0"}'), logger)).toEqual({
      schema: 'order.v1',
      problems: [expect.objectContaining({ path: '/orderId' }), expect.objectContaining({ path: '/qty' })],
    });
    expect(ran).toEqual(['0:transform', '0:transform']);
  });

  it('stops at a step that is not in memory: no schema in reach, the body need only parse', async () => {
    const ran: string[] = [];
    const f = flow(recording('enrich', '0:enrich', ran), validateOrder);
    expect(await checkInput(f, json('{"anything": true}'), logger)).toEqual({ schema: undefined, problems: [] });
    expect(await checkInput(f, json('{"no": '), logger)).toEqual({ schema: undefined, problems: [{ path: '/', message: expect.stringMatching(/^BAD_JSON: /) }] });
    expect(ran).toEqual([]);
  });

  it('straight to a sink, only well-formedness counts: the input schema describes what a source delivers', async () => {
    const f = flow(validateOrder);
    expect(await inputProblems(f, json('{"other": 1}'), { sink: 'archive' }, logger)).toEqual({ schema: undefined, problems: [] });
    await expect(checkEdited(f, json('{"no": '), { sink: 'archive' }, logger)).rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/^the edited body is not well-formed: BAD_JSON/) });
  });

  it('refuses a body that fails the schema with VALIDATION_FAILED, naming the schema and each problem', async () => {
    const f = flow(validateOrder);
    await expect(checkEdited(f, json('{"orderId": "o-1", "qty": 1}'), {}, logger)).resolves.toBeUndefined();
    const refused = checkEdited(f, json('{"orderId": "o-1"}'), {}, logger);
    await expect(refused).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { schema: 'order.v1', errors: [expect.objectContaining({ path: '/' })] } });
    await expect(refused).rejects.toThrow(/does not pass the flow's input schema "order.v1": \/ .*qty.*; nothing was sent$/);
  });
});
