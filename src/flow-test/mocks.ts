/**
 * The sinks of a flow under test: each real sink is replaced by a MockSink that records what the flow handed it and
 * answers as the case says, with a reply or with the typed error the real adapter raises for that failure (the same
 * code and kind: a 503 is DOWNSTREAM_UNAVAILABLE and retried, a SOAP Client fault is SOAP_FAULT_CLIENT and not).
 * Nothing leaves the process: no socket, no broker.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SendContext, Sink } from '../core/contracts.js';
import { hubError, PermanentError, RetryableError, ERROR_CODES, type ErrorCode, type HubError } from '../core/errors.js';
import { Message } from '../core/message.js';
import type { Failure, Outcome } from './test-file.js';

/** One call of a sink, as the flow made it. */
export interface SinkCall {
  sink: string;
  attempt: number;
  message: Message;
  /** What the mock answered: a reply message, nothing (one-way), or the error it threw. */
  reply?: Message;
  error?: HubError;
}

/** What a case's mocks saw, in call order; the harness makes one per case. */
export class CallLog {
  readonly calls: SinkCall[] = [];
  /** Sinks a case reached without a mock for their reply. */
  readonly unmocked = new Set<string>();
}

/** A body as the case wrote it (inline, or from a file beside the test file), with its content type. */
export function bodyOf(spec: { body?: unknown; body_file?: string; headers?: Record<string, string> }, baseDir: string): { body?: Buffer; value?: unknown; contentType?: string } {
  const declared = Object.entries(spec.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  if (spec.body_file !== undefined) {
    const body = readFileSync(resolve(baseDir, spec.body_file));
    const guess = /\.json$/i.test(spec.body_file) ? 'application/json' : /\.xml$/i.test(spec.body_file) ? 'application/xml' : 'text/plain';
    return { body, contentType: declared ?? guess };
  }
  if (spec.body === undefined) return {};
  if (typeof spec.body === 'string') return { body: Buffer.from(spec.body, 'utf8'), contentType: declared ?? (spec.body.trimStart().startsWith('<') ? 'application/xml' : 'text/plain') };
  return { value: spec.body, body: Buffer.from(JSON.stringify(spec.body), 'utf8'), contentType: declared ?? 'application/json' };
}

/** The error the real adapter raises for a failure the case describes. */
export function failureError(sink: string, adapter: string, failure: Failure): HubError {
  const where = `sink "${sink}" (mocked)`;
  if (failure === 'timeout') return hubError('TIMEOUT', `${where} did not answer in time`);
  if (failure === 'refused') return new RetryableError('DOWNSTREAM_UNAVAILABLE', adapter === 'amqp' || adapter === 'kafka' ? `the broker refused the publish of ${where}` : `${where} refused the connection (ECONNREFUSED)`);
  if (failure === 'unroutable') return new PermanentError('DOWNSTREAM_REJECTED', `the broker could not route the message of ${where}`);
  if ('http' in failure) {
    const status = failure.http;
    const details = { status };
    if (status === 408) return new RetryableError('TIMEOUT', `${where} answered ${status}`, { details });
    if (status === 429 || status >= 500) return new RetryableError('DOWNSTREAM_UNAVAILABLE', `${where} answered ${status}`, { details });
    return new PermanentError('DOWNSTREAM_REJECTED', `${where} answered ${status}`, { details });
  }
  if ('soap_fault' in failure) {
    const code = failure.soap_fault.code ?? 'Server';
    const reason = failure.soap_fault.reason ?? 'fault';
    const details = { faultCode: code, reason };
    const what = `${where} answered with a SOAP ${code} fault: ${reason}`;
    return code === 'Server' || code === 'Receiver' ? new RetryableError('SOAP_FAULT_SERVER', what, { details }) : new PermanentError('SOAP_FAULT_CLIENT', what, { details });
  }
  const code = failure.code as ErrorCode;
  if (!(code in ERROR_CODES)) return hubError('INTERNAL', `${where}: ${failure.code} is not an error code of the hub`);
  return hubError(code, failure.message ?? `${where} failed with ${code}`);
}

/**
 * One sink of the flow under test. `outcomes` (set per case) answer its calls in turn, the last one repeating; a
 * one-way sink without outcomes accepts; a request-reply sink without them fails the case (CallLog.unmocked).
 */
export class MockSink implements Sink {
  log = new CallLog();
  outcomes: Outcome[] = [];
  #calls = 0;

  constructor(
    readonly name: string,
    readonly adapter: string,
    readonly requestReply: boolean,
    readonly baseDir: string,
  ) {}

  /** Ready for the next case. */
  reset(log: CallLog, outcomes: Outcome[]): void {
    this.log = log;
    this.outcomes = outcomes;
    this.#calls = 0;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  ready(): boolean {
    return true;
  }

  send(message: Message, _ctx: SendContext): Promise<Message | undefined> {
    const outcome = this.outcomes[Math.min(this.#calls, this.outcomes.length - 1)];
    this.#calls++;
    const call: SinkCall = { sink: this.name, attempt: message.meta.attempt ?? 1, message };
    this.log.calls.push(call);
    if (!outcome) {
      if (!this.requestReply) return Promise.resolve(undefined);
      this.log.unmocked.add(this.name);
      call.error = hubError('INTERNAL', `sink "${this.name}" was called, but the case mocks no reply for it`);
      return Promise.reject(call.error);
    }
    if ('fail' in outcome) {
      call.error = failureError(this.name, this.adapter, outcome.fail);
      return Promise.reject(call.error);
    }
    if (!this.requestReply || !('reply' in outcome)) return Promise.resolve(undefined);
    const { body, value, contentType } = bodyOf(outcome.reply, this.baseDir);
    const headers: Record<string, string> = { ...lower(outcome.reply.headers), ...(contentType ? { 'content-type': contentType } : {}) };
    for (const name of ['correlation-id', 'traceparent', 'tracestate', 'x-request-id']) if (message.headers[name] !== undefined) headers[name] ??= message.headers[name]!;
    const meta = { ...message.meta, downstreamStatus: outcome.reply.status ?? 200 };
    call.reply = new Message({ id: message.id, ...(body ? { body } : {}), ...(value === undefined ? {} : { value }), headers, meta });
    return Promise.resolve(call.reply);
  }
}

function lower(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}
