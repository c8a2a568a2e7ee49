import type { AdapterRegistration, JsonSchema, StepRegistration } from './contracts.js';

const NAME = /^[a-z][a-z0-9_]*$/;

/**
 * Holds the adapters and steps one hub knows. An instance, not a global: tests clone it, and a hub with user
 * adapters gets its own. The flow schema is assembled from what is registered.
 */
export class Registry {
  readonly #adapters = new Map<string, AdapterRegistration>();
  readonly #steps = new Map<string, StepRegistration>();
  readonly #origins = new Map<string, string>();

  registerAdapter(adapter: AdapterRegistration, origin = 'built-in'): this {
    if (!adapter || typeof adapter !== 'object' || typeof adapter.name !== 'string' || !NAME.test(adapter.name)) {
      throw new TypeError(`adapter from ${origin}: name must match ${NAME} (got ${JSON.stringify(adapter?.name)})`);
    }
    if (!adapter.source && !adapter.sink) throw new TypeError(`adapter "${adapter.name}" from ${origin} has neither a source nor a sink`);
    for (const [side, f] of [['source', adapter.source], ['sink', adapter.sink]] as const) {
      if (f && (typeof f.create !== 'function' || typeof f.schema !== 'object')) throw new TypeError(`adapter "${adapter.name}" from ${origin}: ${side} needs a schema object and a create function`);
    }
    if (this.#adapters.has(adapter.name)) {
      throw new TypeError(`adapter "${adapter.name}" from ${origin} is already registered (from ${this.#origins.get(`adapter:${adapter.name}`)})`);
    }
    this.#adapters.set(adapter.name, adapter);
    this.#origins.set(`adapter:${adapter.name}`, origin);
    return this;
  }

  registerStep(step: StepRegistration, origin = 'built-in'): this {
    if (!NAME.test(step.name)) throw new TypeError(`step from ${origin}: name must match ${NAME}`);
    if (this.#steps.has(step.name)) throw new TypeError(`step "${step.name}" is already registered`);
    this.#steps.set(step.name, step);
    this.#origins.set(`step:${step.name}`, origin);
    return this;
  }

  adapter(name: string): AdapterRegistration | undefined {
    return this.#adapters.get(name);
  }

  step(name: string): StepRegistration | undefined {
    return this.#steps.get(name);
  }

  get adapters(): AdapterRegistration[] {
    return [...this.#adapters.values()];
  }

  get steps(): StepRegistration[] {
    return [...this.#steps.values()];
  }

  origin(kind: 'adapter' | 'step', name: string): string | undefined {
    return this.#origins.get(`${kind}:${name}`);
  }

  clone(): Registry {
    const copy = new Registry();
    for (const a of this.#adapters.values()) copy.registerAdapter(a, this.origin('adapter', a.name));
    for (const s of this.#steps.values()) copy.registerStep(s, this.origin('step', s.name));
    return copy;
  }

  /** Component schemas by kind, for the flow schema assembler. */
  componentSchemas(): { sources: Record<string, JsonSchema>; sinks: Record<string, JsonSchema>; steps: Record<string, JsonSchema> } {
    const sources: Record<string, JsonSchema> = {};
    const sinks: Record<string, JsonSchema> = {};
    const steps: Record<string, JsonSchema> = {};
    for (const a of this.#adapters.values()) {
      if (a.source) sources[a.name] = a.source.schema;
      if (a.sink) sinks[a.name] = a.sink.schema;
    }
    for (const s of this.#steps.values()) steps[s.name] = s.schema;
    return { sources, sinks, steps };
  }
}
