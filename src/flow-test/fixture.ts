/**
 * A test case from a journalled message (`hub messages fixture ID`): its input as its source received it, a mock for
 * each sink from the replies (or errors) the sinks gave it, and expectations from what the flow did (how often each
 * sink was called, the error and its step, or delivered). The journal holds all of it only for a message of a flow
 * whose policy is `all` (TimelineEvent.meta and the `sink` events); anything missing is said, not guessed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isMap, isSeq, parseDocument, stringify } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { isJsonType } from '../core/message.js';
import type { MessageRecord, SinkCallRecord, TimelineEvent } from '../journal/contract.js';
import type { CaseInput, Outcome, TestCase } from './test-file.js';

/** Headers a source or the hub makes, not the caller: left out of a case's input. */
const MADE_HEADERS = new Set(['host', 'content-length', 'connection', 'accept-encoding', 'user-agent', 'correlation-id', 'x-request-id', 'traceparent', 'tracestate', 'b3', 'x-message-id', 'soapaction', 'soap-action', 'transfer-encoding']);

function incomplete(id: string, what: string): ConfigError {
  return new ConfigError('FIXTURE_INCOMPLETE', `message ${id} cannot become a test case: ${what}`);
}

function text(data: string, encoding: 'utf8' | 'base64'): string {
  return encoding === 'utf8' ? data : Buffer.from(data, 'base64').toString('utf8');
}

/** A body as a case writes it: a JSON value when it is JSON, else its text. */
function bodyValue(data: string, contentType: string | undefined): unknown {
  if (isJsonType(contentType)) {
    try {
      return JSON.parse(data) as unknown;
    } catch {
      return data;
    }
  }
  return data;
}

/** The events of the message's last run: from its last `received`, `waiting-for-retry` or `replayed` on. */
function lastRun(timeline: TimelineEvent[]): TimelineEvent[] {
  let start = 0;
  timeline.forEach((e, i) => {
    if (e.type === 'received' || e.type === 'waiting-for-retry') start = i;
  });
  return timeline.slice(start);
}

function mockOf(call: SinkCallRecord, id: string): Outcome {
  if (call.failure) return { fail: { code: call.failure.code, message: call.failure.message } };
  if (!call.reply) return { accept: true };
  if (call.reply.truncated) throw incomplete(id, `the journal holds only the start of sink "${call.sink}"'s reply (try ${call.try}): raise the flow's journal body_bytes`);
  const contentType = call.reply.headers['content-type'];
  return {
    reply: {
      ...(call.reply.status !== undefined && call.reply.status !== 200 ? { status: call.reply.status } : {}),
      ...(contentType ? { headers: { 'content-type': contentType } } : {}),
      body: bodyValue(text(call.reply.body, call.reply.encoding), contentType),
    },
  };
}

/** The case for a journalled message; FIXTURE_INCOMPLETE when the journal does not hold all it needs. */
export function fixtureFromRecord(record: MessageRecord, name?: string): TestCase {
  const id = record.id;
  const body = record.body as MessageRecord['body'] & { masked?: boolean };
  if (body.masked) throw incomplete(id, 'its body is withheld from a viewer: ask as an operator or admin');
  if (body.truncated) throw incomplete(id, `the journal holds only ${Buffer.byteLength(body.data, body.encoding === 'base64' ? 'base64' : 'utf8')} of its ${body.size} body bytes: raise the flow's journal body_bytes, then record another`);
  const received = record.timeline.find((e) => e.type === 'received' && e.meta);
  if (!received?.meta) {
    throw incomplete(
      id,
      `it was not journalled in full: the journal has its body${record.lastError ? ' and its error' : ''}, but not how its source received it nor the replies its sinks gave, which flow "${record.flow}" records only under \`journal: all\`; set that, and record another message`,
    );
  }
  const meta = received.meta;
  const adapter = record.source.split(':')[0]!;
  const contentType = record.headers['content-type'];
  const input: CaseInput = {};
  const data = text(body.data, body.encoding);
  const value = bodyValue(data, contentType);
  const headers = Object.fromEntries(Object.entries(record.headers).filter(([k]) => !MADE_HEADERS.has(k) && !(k === 'content-type' && typeof value !== 'string')));
  if (adapter === 'rest') {
    if (typeof meta.method === 'string') input.method = meta.method;
    if (typeof meta.path === 'string') input.path = meta.path;
    const query = meta.query as Record<string, string> | undefined;
    if (query && Object.keys(query).length) input.query = query;
    // A request without a body reaches the flow as its parameters (the REST source's own value): not an input body.
    const made = JSON.stringify(value) === JSON.stringify({ params: meta.params ?? {}, query: meta.query ?? {} });
    if (!made && data !== '') input.body = value;
  } else {
    if (data !== '') input.body = value;
    if (adapter === 'soap') {
      if (typeof meta.operation === 'string') input.operation = meta.operation;
      if (meta.soapVersion === '1.2') input.soap_version = '1.2';
      delete headers['content-type'];
    }
    if (adapter === 'kafka') {
      if (typeof meta.key === 'string' || meta.key === null) input.key = meta.key as string | null;
      if (typeof meta.topic === 'string') input.topic = meta.topic;
    }
    if (adapter === 'amqp') {
      if (typeof meta.routingKey === 'string' && meta.routingKey !== '') input.routing_key = meta.routingKey;
      if (typeof meta.exchange === 'string' && meta.exchange !== '') input.exchange = meta.exchange;
    }
  }
  if (Object.keys(headers).length) input.headers = headers;

  const run = lastRun(record.timeline);
  const calls = run.flatMap((e) => (e.type === 'sink' && e.call ? [e.call] : []));
  const sinks: Record<string, Outcome[]> = {};
  for (const call of calls) (sinks[call.sink] ??= []).push(mockOf(call, id));
  const counts = Object.fromEntries(Object.entries(sinks).map(([sink, list]) => [sink, { calls: list.length }]));
  const failure = [...run].reverse().find((e) => (e.type === 'failed' || e.type === 'dead' || e.type === 'waiting-for-retry') && e.error)?.error;
  const delivered = run.some((e) => e.type === 'delivered');
  return {
    name: name ?? `message ${id} (${record.status}${failure ? `: ${failure.code}${failure.step ? ` at ${failure.step}` : ''}` : ''}), recorded ${record.receivedAt}`,
    input,
    ...(Object.keys(sinks).length ? { sinks: Object.fromEntries(Object.entries(sinks).map(([s, list]) => [s, list.length === 1 ? list[0]! : list])) } : {}),
    expect: {
      ...(failure ? { error: { code: failure.code, ...(failure.step ? { step: failure.step } : {}) } } : delivered ? { delivered: true } : {}),
      ...(Object.keys(counts).length ? { sinks: counts } : {}),
    },
  };
}

/**
 * The case as YAML: alone (to paste under `cases:`), or added to the test file `out` (made, with its modeline naming
 * `schemaFromFile`, when there is none; its comments and other cases kept).
 */
export function writeFixture(c: TestCase, out: string | undefined, schemaFromFile: string): string {
  const item = stringify([c], { lineWidth: 0 });
  if (!out) return item;
  if (!existsSync(out)) {
    writeFileSync(out, `# yaml-language-server: $schema=${schemaFromFile}\ncases:\n${item.replace(/^/gm, '  ').replace(/ +$/gm, '')}`);
    return item;
  }
  const doc = parseDocument(readFileSync(out, 'utf8'));
  const cases = doc.get('cases', true);
  if (!isMap(doc.contents) || !isSeq(cases)) throw new ConfigError('CLI_OUTPUT_FAILED', `${out} is not a test file (a mapping with a \`cases:\` list): name another file with --out`);
  cases.add(doc.createNode(c));
  writeFileSync(out, doc.toString({ lineWidth: 0 }));
  return item;
}
