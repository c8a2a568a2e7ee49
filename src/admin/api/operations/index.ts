/**
 * Every operation of the admin API, by area. Routes are registered, and the document lists its paths, in this order.
 */
import type { OperationSpec } from '../operation.js';
import { AUDIT_OPERATIONS } from './audit.js';
import { COMPARE_OPERATIONS } from './compare.js';
import { CONSOLE_AND_DOCS_OPERATIONS } from './console-and-docs.js';
import { DEAD_LETTER_OPERATIONS } from './dead-letters.js';
import { FLOW_OPERATIONS } from './flows.js';
import { MESSAGE_OPERATIONS } from './messages.js';
import { REPLAY_OPERATIONS } from './replay.js';
import { SESSION_OPERATIONS } from './session.js';

export const OPERATIONS: readonly OperationSpec[] = [
  ...SESSION_OPERATIONS,
  ...FLOW_OPERATIONS,
  ...MESSAGE_OPERATIONS,
  ...REPLAY_OPERATIONS,
  ...DEAD_LETTER_OPERATIONS,
  ...COMPARE_OPERATIONS,
  ...CONSOLE_AND_DOCS_OPERATIONS,
  ...AUDIT_OPERATIONS,
];
