import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../config/paths.js';
import { MESSAGE_STATUSES, STATUS_OF_EVENT } from '../../journal/contract.js';
import { COMPONENTS } from './components.js';
import { CONSOLE_TYPES_FILE, consoleTypes, typeOf } from './console-types.js';

describe('the console types', () => {
  it(`${CONSOLE_TYPES_FILE} is what the API description writes (else: npm run console-types)`, () => {
    const committed = readFileSync(join(PROJECT_ROOT, CONSOLE_TYPES_FILE), 'utf8');
    expect(committed === consoleTypes(), `${CONSOLE_TYPES_FILE} is stale: run npm run console-types and commit it`).toBe(true);
  });

  it('writes objects (short plain ones on one line), optional members, references, literals, arrays of unions and intersections', () => {
    const schema = {
      type: 'object',
      required: ['a', 'waiting-for-retry'],
      properties: {
        a: { $ref: '#/components/schemas/ErrorInfo' },
        'waiting-for-retry': { type: 'integer', minimum: 0 },
        b: { type: 'array', items: { enum: ['x', "it's"] }, description: 'Has */ inside.' },
        c: { const: 1 },
        d: { type: 'object', additionalProperties: { type: 'boolean' } },
        e: { allOf: [{ $ref: '#/components/schemas/ErrorInfo' }, { type: 'object', properties: { at: { type: 'string' } } }] },
        f: { type: 'object', properties: { g: { type: 'string', description: 'Described, so over lines.' } } },
      },
    };
    expect(typeOf(schema, 'test')).toBe(
      [
        '{',
        '  a: ErrorInfo;',
        "  'waiting-for-retry': number;",
        '  /** Has *\\/ inside. */',
        "  b?: ('x' | 'it\\'s')[];",
        '  c?: 1;',
        '  d?: Record<string, boolean>;',
        '  e?: ErrorInfo & { at?: string };',
        '  f?: {',
        '    /** Described, so over lines. */',
        '    g?: string;',
        '  };',
        '}',
      ].join('\n'),
    );
  });

  it('refuses what it has no type for, rather than guess', () => {
    expect(() => typeOf({ type: 'object', patternProperties: { '^x': { type: 'string' } } }, 'Thing')).toThrow(/Thing: the console types do not know the keyword "patternProperties"/);
    expect(() => typeOf({ $ref: 'other.json#/x' }, 'Thing')).toThrow(/only components/);
    expect(() => typeOf({ type: 'object', required: ['a'], properties: {} }, 'Thing')).toThrow(/"a" is required but not among the properties/);
  });
});

describe('the lists the API shares with the journal', () => {
  it('documents the journal\'s own statuses and timeline events', () => {
    expect(COMPONENTS.MessageStatus!.enum).toEqual([...MESSAGE_STATUSES]);
    const timeline = COMPONENTS.TimelineEvent as { properties: { type: { enum: string[] } } };
    expect(timeline.properties.type.enum).toEqual(Object.keys(STATUS_OF_EVENT));
  });
});
