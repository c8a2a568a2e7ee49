/** What the commands that read flows share: the hub configuration, and the registry with the user's adapters. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { builtinRegistry } from '../builtins.js';
import { loadHubConfig, type HubConfig, type HubConfigOverrides } from '../config/hub-config.js';
import { PROJECT_ROOT } from '../config/paths.js';
import { loadUserAdapters } from '../config/plugins.js';
import type { Registry } from '../core/registry.js';

/** The --config option, as every command that reads the hub configuration declares it. */
export const CONFIG_OPTION = {
  config: { type: 'string', value: 'FILE', description: 'The hub configuration (else HUB_CONFIG, else ./hub.yaml when there is one, else the defaults).' },
} as const;

export async function setup(configPath: string | undefined, overrides: HubConfigOverrides = {}): Promise<{ config: HubConfig; registry: Registry }> {
  const config = loadHubConfig({ ...overrides, ...(configPath ? { config: configPath } : {}) });
  const registry = builtinRegistry();
  await loadUserAdapters(registry, config.adapters);
  return { config, registry };
}

export function version(): string {
  return (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
