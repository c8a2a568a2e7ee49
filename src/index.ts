/**
 * The public API for adapter and step authors: `import { Message, hubError } from 'integration-hub'`.
 * Everything here is covered by semver; anything imported from deeper paths is not.
 */
export type {
  AdapterContext,
  AdapterRegistration,
  Claim,
  FlowResult,
  HubLimits,
  JsonSchema,
  SendContext,
  Sink,
  SinkFactory,
  Source,
  SourceContext,
  SourceFactory,
  Step,
  StepBuildContext,
  StepContext,
  StepRegistration,
} from './core/contracts.js';
export { ERROR_CODES, HubError, PermanentError, RetryableError, hubError, toHubError, type ErrorCode } from './core/errors.js';
export { Message, type MessageMeta, type MessageInit } from './core/message.js';
export { newId } from './core/id.js';
export { parseJson, parseXml, buildXml, checkXml } from './core/codec.js';
export { compileExpression, compileTemplate, type CompiledExpression, type CompiledTemplate } from './kit/expression.js';
export { inboundHeaders, outboundHeaders, PROPAGATED_HEADERS } from './kit/propagation.js';
export { toMs, durationSchema } from './core/duration.js';
export { Registry } from './core/registry.js';
export { builtinRegistry } from './builtins.js';
