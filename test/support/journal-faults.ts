/**
 * What the journal fault tests (test/journal-*.fault.test.ts) share: the REST peer the flow delivers to, publishing
 * messages with known ids, and reading outcomes back from a journal once the hub has stopped.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Journal, MessageStatus } from '../../src/journal/contract.js';
import type { Broker } from '../../adapters/amqp/test-support.js';
import { ROOT } from './processes.js';

/** The hub.yaml of the fault tests: short lease and poll, so retries a killed hub held come back within seconds. */
export const FAULTS_CONFIG = join(ROOT, 'test', 'fixtures', 'journal-faults', 'hub.yaml');
export const FAULTS_FLOW = 'journal-faults';

/** A number from 0 to 99 fixed by the id: which share of messages an id belongs to. */
export function bucket(id: string): number {
  return createHash('sha1').update(id).digest().readUInt16BE(0) % 100;
}

/**
 * The REST peer the flow's sink calls: `answer(id, tryNo)` gives the status of each try (tryNo counts from 1, over
 * the whole test, across hub restarts). It records every try and every id it accepted with a 2xx.
 */
export class Peer {
  readonly tries = new Map<string, number>();
  /** Id -> how many times it was accepted (more than once: a duplicate, allowed under at least once). */
  readonly accepted = new Map<string, number>();
  /** Id -> when it was last tried (ms). */
  readonly lastTry = new Map<string, number>();
  /** Requests being answered right now. */
  open = 0;
  #server: Server | undefined;
  url = '';

  /** `latencyMs`: each answer waits a random time up to this, so that requests are open when the hub is killed. */
  constructor(
    readonly answer: (id: string, tryNo: number) => number,
    readonly latencyMs = 0,
  ) {}

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 1_000;
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    const { port } = this.#server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}/deliveries`;
    return this;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.open++;
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let id: string | undefined;
      try {
        id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: string }).id;
      } catch {
        id = undefined;
      }
      if (typeof id !== 'string') {
        res.writeHead(422).end();
        return;
      }
      const n = (this.tries.get(id) ?? 0) + 1;
      this.tries.set(id, n);
      this.lastTry.set(id, Date.now());
      if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * this.latencyMs));
      const status = this.answer(id, n);
      if (status >= 200 && status < 300) this.accepted.set(id, (this.accepted.get(id) ?? 0) + 1);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ id, try: n }));
    } finally {
      this.open--;
    }
  }

  /** Deliveries beyond the first, over every id. */
  duplicates(): number {
    let n = 0;
    for (const c of this.accepted.values()) n += c - 1;
    return n;
  }

  async close(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

/**
 * Publishes one message per id to a queue through the default exchange, persistent, each confirmed by the broker:
 * the id is the body's `id`, the `messageId`, the `x-message-id` header and the correlation id (which the AMQP source
 * keeps, so the journal's record of the message carries it as `correlationId`).
 */
export async function publishIds(broker: Broker, queue: string, ids: string[]): Promise<void> {
  const ch = await broker.channel();
  try {
    for (const id of ids) {
      ch.publish('', queue, Buffer.from(JSON.stringify({ id })), { persistent: true, contentType: 'application/json', messageId: id, correlationId: id, headers: { 'x-message-id': id } });
    }
    await ch.waitForConfirms();
  } finally {
    await ch.close().catch(() => {});
  }
}

/** Every record of a flow in a journal, as test id (its correlation id) -> the statuses of its records (a redelivered message has more than one). */
export async function journalOutcomes(journal: Journal, flow: string): Promise<Map<string, MessageStatus[]>> {
  const out = new Map<string, MessageStatus[]>();
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await journal.query({ flow, limit: 500, ...(cursor ? { cursor } : {}) });
    for (const m of page.items) {
      const key = m.correlationId ?? m.id;
      out.set(key, [...(out.get(key) ?? []), m.status]);
    }
    if (!page.next) break;
    cursor = page.next;
  }
  return out;
}

export { deleteRedisJournal as deleteRedisPrefix } from '../../src/journal/redis.js';

/** Lines the hub logged (pino JSON) whose message contains `text`. */
export function logLines(logs: string, text: string): { level: number; msg: string; [k: string]: unknown }[] {
  const out: { level: number; msg: string }[] = [];
  for (const line of logs.split('\n')) {
    if (!line.includes(text)) continue;
    try {
      const parsed = JSON.parse(line) as { level: number; msg: string };
      if (typeof parsed.msg === 'string' && parsed.msg.includes(text)) out.push(parsed);
    } catch {
      // a line cut by SIGKILL, or not JSON
    }
  }
  return out as { level: number; msg: string; [k: string]: unknown }[];
}
