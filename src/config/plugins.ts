import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AdapterRegistration } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import type { Registry } from '../core/registry.js';

/**
 * Loads the adapters named in the hub configuration into a registry: a path (relative to the configuration file)
 * or an npm package name. The module's default export (or its `adapters` export) is one registration or a list.
 * Throws a ConfigError (ADAPTER_MODULE_LOAD_FAILED, ADAPTER_MODULE_INVALID) that names the module and what is wrong.
 */
export async function loadUserAdapters(registry: Registry, specs: { spec: string; baseDir: string }[]): Promise<string[]> {
  const loaded: string[] = [];
  for (const { spec, baseDir } of specs) {
    const isPath = spec.startsWith('.') || isAbsolute(spec);
    let url: string;
    try {
      url = isPath ? pathToFileURL(resolve(baseDir, spec)).href : pathToFileURL(createRequire(join(baseDir, 'noop.js')).resolve(spec)).href;
    } catch {
      url = spec; // an ESM-only package: let import() resolve it from the hub's own node_modules
    }
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError('ADAPTER_MODULE_LOAD_FAILED', `adapter module "${spec}" (in hub.yaml's adapters:) could not be loaded: ${(err as Error).message}; check the path, relative to hub.yaml, or install the package`, { cause: err });
    }
    const exported = mod.default ?? mod.adapters ?? mod.adapter;
    const list = (Array.isArray(exported) ? exported : [exported]) as AdapterRegistration[];
    if (list.length === 0 || list.some((a) => !a || typeof a !== 'object')) {
      throw new ConfigError('ADAPTER_MODULE_INVALID', `adapter module "${spec}" must default-export an adapter registration ({ name, description, source?, sink? }) or a list of them`);
    }
    for (const adapter of list) {
      try {
        registry.registerAdapter(adapter, spec);
      } catch (err) {
        throw new ConfigError('ADAPTER_MODULE_INVALID', `adapter module "${spec}": ${(err as Error).message}`, { cause: err });
      }
      loaded.push(adapter.name);
    }
  }
  return loaded;
}
