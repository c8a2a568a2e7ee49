/**
 * The Redis journal's connections, set up as BullMQ's production guide says: the producer's connection has no offline
 * queue (a write while Redis is away fails at once, so no transport is acknowledged on the strength of a write Redis
 * never saw); the worker's has maxRetriesPerRequest null (a worker waits out a Redis restart instead of failing).
 * And the check that Redis may not evict journal keys (maxmemory-policy noeviction).
 */
import { Redis } from 'ioredis';
import { JournalError } from '../errors.js';

/**
 * Connects both sides. The producer: records and enqueued retries. The worker: each flow's BullMQ Worker adds a
 * blocking connection of its own, made from it. Rejects UNAVAILABLE when Redis cannot be reached.
 */
export async function connect(url: string): Promise<{ producer: Redis; worker: Redis }> {
  const producer = new Redis(url, { enableOfflineQueue: false });
  const worker = new Redis(url, { maxRetriesPerRequest: null });
  const all = [producer, worker];
  try {
    await Promise.all(all.map(ready));
  } catch (err) {
    for (const c of all) c.disconnect();
    throw new JournalError('UNAVAILABLE', `cannot connect to Redis at ${redact(url)}: ${(err as Error).message}`, { cause: err });
  }
  for (const c of all) c.on('error', () => {}); // each command reports its own failure; reconnecting is ioredis's job
  return { producer, worker };
}

/** What the warning says when Redis may evict journal keys; undefined when the policy is safe. */
export function evictionWarning(policy: string | undefined): string | undefined {
  if (policy === 'noeviction') return undefined;
  if (policy === undefined) return 'could not read Redis\'s maxmemory-policy (CONFIG GET is not allowed?): make sure it is noeviction, or Redis may evict journal records and waiting retries under memory pressure';
  return `Redis's maxmemory-policy is "${policy}", not noeviction: under memory pressure Redis may evict journal records and waiting retries, and the hub would lose messages. Set maxmemory-policy noeviction.`;
}

/** Reads maxmemory-policy through CONFIG GET and returns the warning to give, if any. */
export async function checkEvictionPolicy(client: { config(op: 'GET', name: string): Promise<unknown> }): Promise<string | undefined> {
  let policy: string | undefined;
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1];
  } catch {
    policy = undefined;
  }
  return evictionWarning(policy);
}

function ready(client: Redis): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.status === 'ready') return resolve();
    client.once('ready', () => resolve());
    client.once('error', reject);
  });
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
