import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadFlows, type LoadResult } from '../../src/config/load-flows.js';
import { MessageSchemas } from '../../src/config/schema-validator.js';
import type { AdapterRegistration } from '../../src/core/contracts.js';
import { Registry } from '../../src/core/registry.js';
import { builtinSteps } from '../../src/steps/index.js';
import { ROOT } from './processes.js';

export interface LintOptions {
  /** The adapters the registry holds (with the built-in steps). */
  adapters: AdapterRegistration[];
  env?: Record<string, string>;
  mode?: 'validate' | 'run';
  /** Defaults to the project's schemas/. */
  schemasDir?: string;
}

/** A registry with just these adapters and every built-in step. */
export function registryWith(adapters: AdapterRegistration[]): Registry {
  const r = new Registry();
  for (const a of adapters) r.registerAdapter(a);
  for (const s of builtinSteps) r.registerStep(s);
  return r;
}

/** Writes flow files to a fresh folder and runs the real linter over them (as `hub validate` does). */
export function lintFlows(files: Record<string, string>, options: LintOptions): LoadResult {
  const dir = mkdtempSync(join(tmpdir(), 'hub-lint-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return loadFlows([dir], {
    registry: registryWith(options.adapters),
    schemas: new MessageSchemas(options.schemasDir ?? join(ROOT, 'schemas')),
    logger: pino({ level: 'silent' }),
    limits: { bodyBytes: 1 << 20, maxDepth: 64 },
    env: options.env ?? {},
    mode: options.mode ?? 'validate',
  });
}
