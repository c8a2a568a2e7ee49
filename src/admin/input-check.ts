/**
 * The check of a body an operator edited before it is replayed: replayOne refuses a body that fails it, the replay's
 * dry run (Replayer.check) answers with what it found. It runs only steps that change the message in memory, with a
 * context that sends nothing: nothing leaves the hub.
 */
import type { Logger } from 'pino';
import type { FlowDefinition } from '../config/load-flows.js';
import type { StepContext } from '../core/contracts.js';
import { hubError, toHubError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { IN_MEMORY_STEPS } from '../runtime/flow-runner.js';
import type { ReplayTarget } from '../runtime/message-context.js';

/** What the check found: `problems` is empty when the body passes; `schema` names the input schema checked, if any. */
export interface InputCheck {
  schema: string | undefined;
  problems: { path: string; message: string }[];
}

/** What the check reads of a flow's definition (the runner's `def`). */
export type CheckedFlow = Pick<FlowDefinition, 'name' | 'steps'>;

/**
 * An edited body must pass what the flow expects at the point it enters: the flow's input schema when it runs the
 * steps (checkInput); only well-formedness when it goes straight to a sink, since the input schema describes what a
 * source delivers, not what a sink takes.
 */
export async function inputProblems(flow: CheckedFlow, message: Message, target: ReplayTarget, logger: Logger): Promise<InputCheck> {
  if (target.sink === undefined) return checkInput(flow, message, logger);
  return { schema: undefined, problems: wellFormed(message) };
}

/** Throws VALIDATION_FAILED, naming each problem, when the edited body does not pass (inputProblems). */
export async function checkEdited(flow: CheckedFlow, message: Message, target: ReplayTarget, logger: Logger): Promise<void> {
  const { schema, problems } = await inputProblems(flow, message, target, logger);
  if (problems.length === 0) return;
  if (target.sink !== undefined) throw hubError('VALIDATION_FAILED', `the edited body is not well-formed: ${problems[0]!.message}`, { details: { errors: problems } });
  const what = schema ? `the flow's input schema "${schema}"` : 'the flow';
  throw hubError('VALIDATION_FAILED', `the edited body does not pass ${what}: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}; nothing was sent`, { details: { schema, errors: problems } });
}

/**
 * Checks a body against the flow's input schema: the flow's first `validate` step, reached through the steps before
 * it when each of them only changes the message in memory (IN_MEMORY_STEPS: xml_to_json, json_to_xml, transform,
 * set_headers). `schema` is undefined when the flow has none in reach: then the body need only parse as its content
 * type says.
 */
export async function checkInput(flow: CheckedFlow, message: Message, logger: Logger): Promise<InputCheck> {
  const prefix: FlowDefinition['steps'] = [];
  for (const step of flow.steps) {
    if (!IN_MEMORY_STEPS.has(step.kind)) break;
    prefix.push(step);
    if (step.kind === 'validate') break;
  }
  const validate = prefix.at(-1)?.kind === 'validate' ? prefix : [];
  const schema = (validate.at(-1)?.config as { schema?: string } | undefined)?.schema;
  if (validate.length === 0) return { schema, problems: wellFormed(message) };
  const ctx: StepContext = {
    flow: flow.name,
    logger: logger.child({ flow: flow.name }),
    signal: new AbortController().signal,
    aborted: false,
    send: () => Promise.reject(hubError('INTERNAL', 'the input check sends nothing')),
    dedupe: () => Promise.resolve(true),
  };
  try {
    let current = [message];
    for (const step of validate) {
      const next: Message[] = [];
      for (const m of current) next.push(...(await step.run(m, ctx)));
      current = next;
    }
    return { schema, problems: [] };
  } catch (err) {
    const e = toHubError(err);
    const details = e.details as { errors?: { path: string; message: string }[] } | undefined;
    return { schema, problems: e.code === 'VALIDATION_FAILED' && details?.errors ? details.errors : [{ path: '/', message: `${e.code}: ${e.message}` }] };
  }
}

/** Whether the body parses as its content type says (JSON, XML; anything else passes). */
function wellFormed(message: Message): InputCheck['problems'] {
  try {
    if (message.isJson) message.json();
    else if (message.isXml) message.xml();
    return [];
  } catch (err) {
    const e = toHubError(err);
    return [{ path: '/', message: `${e.code}: ${e.message}` }];
  }
}
