import type { StepBuildContext, StepContext, StepLifecycle, StepRegistration, StepRuntime } from '../../core/contracts.js';
import { durationOption, durationSchema, type Duration } from '../../core/duration.js';
import { HubError, PermanentError, toHubError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import type { CompiledExpression } from '../../kit/expression.js';
import { describe, expressionAt, issueCounter, objectConfig, sinkAt, unusableStep, type ConfigPath } from '../shared.js';
import type { ConfigIssue } from '../../core/errors.js';

export interface RecipientListConfig {
  to?: string[];
  expression?: string;
  remember_for?: Duration;
}

/**
 * The recipients of a message: the fixed list, or what the expression names (a sink name or an array of them),
 * each checked against the flow's sinks.
 */
export class Recipients {
  readonly #fixed: string[] | undefined;
  readonly #expr: CompiledExpression | undefined;
  readonly #sinks: ReadonlySet<string>;

  constructor(fixed: string[] | undefined, expr: CompiledExpression | undefined, sinks: Iterable<string>) {
    this.#fixed = fixed;
    this.#expr = expr;
    this.#sinks = new Set(sinks);
  }

  /** Reads `to` or `expression` of a step's config, reporting what is wrong (a sink that does not exist, both or neither given). */
  static fromConfig(c: Record<string, unknown>, ctx: StepBuildContext, report: (issue: ConfigIssue) => void, requestReply = false): Recipients | undefined {
    if ((c.to === undefined) === (c.expression === undefined)) {
      report({ path: [], message: c.to === undefined ? 'name the recipients: `to: [SINK, ...]` or `expression: JSONATA`' : 'give either `to` or `expression`, not both' });
      return undefined;
    }
    let fixed: string[] | undefined;
    if (c.to !== undefined) {
      if (!Array.isArray(c.to) || c.to.length === 0) {
        report({ path: ['to'], message: `must be a non-empty list of the flow's sinks, got ${describe(c.to)}` });
        return undefined;
      }
      fixed = [];
      c.to.forEach((name, i) => {
        const path: ConfigPath = ['to', i];
        const ok = sinkAt(name, path, ctx, report, requestReply);
        if (ok && fixed!.includes(ok)) report({ path, message: `sink "${ok}" is listed twice` });
        else if (ok) fixed!.push(ok);
      });
    }
    const expr = expressionAt(c.expression, ['expression'], report);
    return new Recipients(fixed, expr, ctx.sinks.keys());
  }

  /** The sinks for `message`, each once, in the order named. Throws UNKNOWN_RECIPIENT for a name that is not a sink of the flow. */
  async of(message: Message): Promise<string[]> {
    if (this.#fixed) return this.#fixed;
    const expr = this.#expr!;
    const value = await expr.evaluate(message);
    const names = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
    const out: string[] = [];
    for (const name of names) {
      if (typeof name !== 'string' || !this.#sinks.has(name)) {
        throw new PermanentError('UNKNOWN_RECIPIENT', `the recipients \`${expr.source}\` named ${typeof name === 'string' ? `"${name}"` : describe(name)}, which is not a sink of this flow (its sinks: ${[...this.#sinks].join(', ')})`, { details: { recipient: name } });
      }
      if (!out.includes(name)) out.push(name);
    }
    return out;
  }
}

/** Keeps the step's runtime (for its marks): the only thing recipient_list needs at start. */
class Marks implements StepLifecycle {
  runtime: StepRuntime | undefined;
  start(runtime: StepRuntime): void {
    this.runtime = runtime;
  }
  stop(): void {}
}

const recipientList: StepRegistration<RecipientListConfig> = {
  name: 'recipient_list',
  description: 'Recipient list: sends the message to every sink named (a fixed list, or an expression over the message), all at once, and goes on once every one confirmed it.',
  schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    description:
      'Each recipient is called with the flow\'s retry policy of its own (so its attempts are counted per recipient). When one still fails, the message fails with its error (a permanent one first) and the recipients that confirmed are remembered, so that a durable retry of the message calls only the others. Give exactly one of `to` and `expression`. The message goes on unchanged.',
    additionalProperties: false,
    properties: {
      to: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'The sinks, by name (checked when the flow is loaded).', examples: [['billing', 'audit']] },
      expression: { type: 'string', minLength: 1, description: 'JSONata expression giving a sink name or an array of them ($headers, $meta, $id bound). A name that is not a sink of the flow fails the message (UNKNOWN_RECIPIENT, permanent); nothing (or []) sends it nowhere.', examples: ['region = "eu" ? ["eu-orders", "audit"] : ["us-orders", "audit"]'] },
      remember_for: { ...durationSchema, default: '7d', description: 'How long the recipients that confirmed a failed message are remembered (longer than its durable retries take).' },
    },
    examples: [{ to: ['billing', 'audit'] }, { expression: '["audit", region & "-orders"]' }],
  },
  create(config, ctx) {
    const issues = issueCounter(ctx);
    const c = objectConfig(config, issues.report);
    const recipients = Recipients.fromConfig(c, ctx, issues.report);
    const rememberMs = durationOption(c.remember_for as Duration | undefined, '7d', ['remember_for'], issues.report, 1);
    if (!recipients || issues.errors) return unusableStep('recipient_list');
    const marks = new Marks();

    const step = async (message: Message, run: StepContext): Promise<Message[]> => {
      const sinks = await recipients.of(message);
      const runtime = marks.runtime;
      const markOf = (sink: string) => `${runtime?.step ?? 'recipient_list'}\u0000${message.id}\u0000${sink}`;
      // A durable retry of a message (same id, a later attempt): the recipients that confirmed it before are skipped.
      let todo = sinks;
      if (runtime && (message.meta.attempt ?? 1) > 1) {
        const done = await Promise.all(sinks.map((s) => runtime.marked(markOf(s))));
        todo = sinks.filter((_, i) => !done[i]);
      }
      const results = await Promise.allSettled(todo.map((sink) => run.send(sink, message)));
      const failures: HubError[] = [];
      const confirmed: string[] = [];
      results.forEach((r, i) => (r.status === 'fulfilled' ? confirmed.push(todo[i]!) : failures.push(toHubError(r.reason))));
      if (failures.length === 0) return [message];
      if (runtime) await Promise.all(confirmed.map((s) => runtime.mark(markOf(s), rememberMs)));
      throw failures.find((e) => !e.retryable) ?? failures[0]!;
    };
    return Object.assign(step, { lifecycle: marks });
  },
};

export default recipientList;
