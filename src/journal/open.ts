/** Picks the journal backend: Redis when a URL is configured (REDIS_URL), else the embedded store on local disk. */
import type { Journal } from './contract.js';
import { openEmbeddedJournal } from './embedded.js';
import { openRedisJournal } from './redis.js';

export interface JournalConfig {
  /** redis://...; when set, the Redis backend. */
  redisUrl?: string;
  /** Key prefix for Redis (default "hub:journal"). */
  prefix?: string;
  /** Directory of the embedded journal (default ".hub/journal" under the working folder). */
  dir?: string;
  leaseMs?: number;
  onWarning?: (message: string) => void;
}

export function openJournal(config: JournalConfig): Promise<Journal> {
  const common = { ...(config.leaseMs ? { leaseMs: config.leaseMs } : {}), ...(config.onWarning ? { onWarning: config.onWarning } : {}) };
  if (config.redisUrl) return openRedisJournal({ url: config.redisUrl, ...(config.prefix ? { prefix: config.prefix } : {}), ...common });
  return openEmbeddedJournal({ dir: config.dir ?? '.hub/journal', ...common });
}
