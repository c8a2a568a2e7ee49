/**
 * The Redis journal's query: a walk down the narrowest index (sorted sets of ids scored by receivedAt), every
 * criterion checked again on the records' hashes; and the summaries it and get() read from a record's hash.
 */
import type { Redis } from 'ioredis';
import type { ErrorInfo, MessageQuery, MessageStatus, MessageSummary, Page } from '../contract.js';
import { compileFilter, decodeCursor, encodeCursor, isAfter, pageLimit, toMs, type FilterFields } from '../shared.js';

/** MessageLog.query over the indexes `P:i:*`; `key` builds a key under the journal's prefix. */
export async function queryMessages(redis: Redis, key: (...parts: string[]) => string, q: MessageQuery): Promise<Page<MessageSummary>> {
  const limit = pageLimit(q.limit);
  const cursor = decodeCursor(q.cursor);
  const statuses = q.status === undefined ? undefined : Array.isArray(q.status) ? q.status : [q.status];
  // Walk the narrowest index; every criterion is checked again on the record itself.
  const index =
    q.correlationId !== undefined ? key('i', 'corr', q.correlationId)
    : q.errorCode !== undefined ? key('i', 'code', q.errorCode)
    : statuses?.length === 1 ? key('i', 'status', statuses[0]!)
    : q.flow !== undefined ? key('i', 'flow', q.flow)
    : key('i', 'all');
  const max = cursor ? String(cursor.ms) : q.to !== undefined ? `(${toMs(q.to, 'to')}` : '+inf';
  const min = q.from !== undefined ? String(toMs(q.from, 'from')) : '-inf';
  const test = compileFilter(q);
  const needsError = q.errorCode !== undefined || q.errorStep !== undefined || q.errorText !== undefined;
  const items: MessageSummary[] = [];
  let last: { ms: number; id: string } | undefined;
  // Bounded: a page scans at most 5,000 candidates, then hands back a cursor to go on from. Each batch reads only
  // the fields the criteria need (not the stored message with its body), then the whole summary of the hits.
  let batch = Math.max(limit + 1, 100);
  for (let offset = 0; offset < 5_000; offset += batch, batch = Math.min(batch * 2, 1_000, 5_000 - offset)) {
    const flat = await redis.zrange(index, max, min, 'BYSCORE', 'REV', 'LIMIT', offset, batch, 'WITHSCORES');
    if (flat.length === 0) return { items };
    const candidates: { id: string; ms: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) candidates.push({ id: flat[i]!, ms: Number(flat[i + 1]) });
    // Members with one score come back in reverse lexical order, as newest-first paging wants.
    const after = candidates.filter((c) => isAfter(c, cursor));
    const pipe = redis.pipeline();
    for (const c of after) pipe.hmget(key('m', c.id), 'flow', 'corr', 'status', 'lastError');
    const rows = ((await pipe.exec()) ?? []).map(([, v]) => v as (string | null)[]);
    const hits: { id: string; ms: number }[] = [];
    let full = false;
    let more = false;
    for (let i = 0; i < after.length; i++) {
      const [flow, corr, status, lastError] = rows[i]!;
      if (flow === null || flow === undefined) continue; // removed since the index was read
      last = after[i]!;
      const fields: FilterFields = { flow, status: status as MessageStatus, ms: after[i]!.ms, ...(corr ? { correlationId: corr } : {}), ...(needsError && lastError ? { lastError: JSON.parse(lastError) as ErrorInfo } : {}) };
      if (!test(fields)) continue;
      hits.push(after[i]!);
      if (items.length + hits.length === limit) {
        full = true;
        more = i < after.length - 1 || flat.length === batch * 2;
        break;
      }
    }
    if (hits.length > 0) {
      const read = redis.pipeline();
      for (const h of hits) read.hmget(key('m', h.id), ...SUMMARY_FIELDS);
      const summaries = ((await read.exec()) ?? []).map(([, v]) => v as (string | null)[]);
      for (let i = 0; i < hits.length; i++) {
        const values = summaries[i]!;
        if (values[0] === null) continue; // removed between the two reads
        const s = summaryOf(Object.fromEntries(SUMMARY_FIELDS.map((f, j) => [f, values[j] ?? undefined])) as Record<string, string>);
        // Checked again: it may have changed between the two reads.
        if (test({ ...s, ms: hits[i]!.ms })) items.push(s);
      }
    }
    if (full) return { items, ...(more ? { next: encodeCursor(last!) } : {}) };
    if (flat.length < batch * 2) return { items };
  }
  return { items, ...(last ? { next: encodeCursor(last) } : {}) };
}

/** The hash fields summaryOf reads, `m` first. */
export const SUMMARY_FIELDS = ['m', 'status', 'attempts', 'lastError', 'updatedAt'] as const;

export function summaryOf(fields: Record<string, string>): MessageSummary {
  const meta = JSON.parse(fields.m!) as MessageSummary;
  return {
    id: meta.id,
    ...(meta.correlationId ? { correlationId: meta.correlationId } : {}),
    flow: meta.flow,
    source: meta.source,
    receivedAt: meta.receivedAt,
    updatedAt: fields.updatedAt!,
    status: fields.status as MessageStatus,
    attempts: Number(fields.attempts),
    ...(fields.lastError ? { lastError: JSON.parse(fields.lastError) as ErrorInfo } : {}),
    ...(meta.replayOf ? { replayOf: meta.replayOf } : {}),
  };
}
