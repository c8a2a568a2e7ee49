/**
 * What the Kafka source and sink share: building a kafkajs client from the connection config (brokers, client id,
 * TLS, SASL), kafkajs logs routed into the hub's logger, bounded backoff, and kafkajs errors typed as hub errors.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import type { AdapterContext } from '../../src/core/contracts.js';
import { durationOption } from '../../src/core/duration.js';
import { hubError, type HubError } from '../../src/core/errors.js';
import type { KafkaConnectionConfig } from './config.js';

/** A Kafka topic name as the broker accepts it. */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

export function brokerList(brokers: string[] | string): string[] {
  return (Array.isArray(brokers) ? brokers : brokers.split(',')).map((b) => b.trim()).filter((b) => b !== '');
}


/**
 * Checks the connection config and turns it into kafkajs options. Certificate files are read here, at load time,
 * so a missing file is a config error at its line rather than a failure at the first connect.
 */
export function kafkaOptions(config: KafkaConnectionConfig, ctx: AdapterContext): Omit<KafkaConfig, 'logCreator'> {
  const brokers = brokerList(config.brokers);
  if (brokers.length === 0) ctx.report({ path: ['brokers'], message: 'name at least one broker as host:port' });
  for (const b of brokers) if (!/^[^\s:]+:\d{1,5}$/.test(b)) ctx.report({ path: ['brokers'], message: `"${b}" is not host:port` });
  const options: Omit<KafkaConfig, 'logCreator'> = {
    clientId: config.client_id ?? 'integration-hub',
    brokers,
    connectionTimeout: durationOption(config.connection_timeout, '3s', ['connection_timeout'], ctx.report, 1),
    requestTimeout: durationOption(config.request_timeout, '30s', ['request_timeout'], ctx.report, 1),
    // kafkajs' own retries stay short: the source and sink retry (and reconnect) with their own bounded backoff.
    retry: { initialRetryTime: 250, maxRetryTime: 5_000, retries: 5 },
  };
  if (config.tls === true) options.ssl = true;
  else if (config.tls && typeof config.tls === 'object') {
    const tls = config.tls;
    const file = (key: 'ca' | 'cert' | 'key'): string | undefined => {
      const path = tls[key];
      if (path === undefined) return undefined;
      try {
        return readFileSync(resolve(ctx.baseDir, path), 'utf8');
      } catch (err) {
        ctx.report({ path: ['tls', key], message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        return undefined;
      }
    };
    const ca = file('ca');
    const cert = file('cert');
    const key = file('key');
    if ((tls.cert === undefined) !== (tls.key === undefined)) ctx.report({ path: ['tls'], message: 'mutual TLS needs both cert and key' });
    options.ssl = {
      rejectUnauthorized: tls.reject_unauthorized ?? true,
      ...(ca === undefined ? {} : { ca: [ca] }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    };
  }
  if (config.sasl) {
    const { mechanism, username, password } = config.sasl;
    options.sasl = { mechanism, username, password } as SASLOptions;
  }
  return options;
}

/**
 * A kafkajs client whose logs go to the hub's logger at debug level: during an outage kafkajs logs an error per
 * failed request, and the source and sink say what matters in one line of their own.
 */
export function createKafka(options: Omit<KafkaConfig, 'logCreator'>, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    ...options,
    logLevel: logLevel.INFO,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...rest } = entry;
        if (level <= logLevel.WARN) log.debug({ namespace, ...rest }, message);
        else log.trace({ namespace, ...rest }, message);
      },
  });
}

/** Exponential backoff with jitter, bounded: initial, 2x initial, ... up to max. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

/** Resolves after `ms`, or early (without rejecting) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    if (signal?.aborted) return resolveSleep();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolveSleep();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Protocol errors that sending again cannot fix: the record or the topic is wrong for the broker. */
const REJECTED = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_TOPIC_EXCEPTION',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_REQUIRED_ACKS',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'INVALID_PARTITIONS',
  'POLICY_VIOLATION',
]);

interface KafkaJsErrorLike {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown[];
}

/** The innermost kafkajs protocol error type (e.g. MESSAGE_TOO_LARGE) behind retries and aggregates. */
export function protocolType(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const stack = [err];
  while (stack.length > 0) {
    const e = stack.pop() as KafkaJsErrorLike | undefined;
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    if (typeof e.type === 'string') return e.type;
    stack.push(e.cause, e.originalError, ...(Array.isArray(e.errors) ? e.errors : []));
  }
  return undefined;
}

/**
 * A kafkajs failure as a hub error: a record or topic the broker refuses is DOWNSTREAM_REJECTED (permanent),
 * a request that ran out of time is TIMEOUT, anything else (broker down, leader moving, connection closed) is
 * DOWNSTREAM_UNAVAILABLE (retryable).
 */
export function toKafkaHubError(err: unknown, what: string): HubError {
  const type = protocolType(err);
  const e = err as KafkaJsErrorLike;
  const reason = type ?? e?.name ?? 'error';
  const details = { error: reason, ...(e?.message ? { message: e.message } : {}) };
  if (type && REJECTED.has(type)) return hubError('DOWNSTREAM_REJECTED', `${what}: the broker refused it (${type})`, { cause: err, details });
  if (reason === 'KafkaJSRequestTimeoutError' || reason === 'REQUEST_TIMED_OUT' || reason === 'KafkaJSTimeout' || /timed? ?out/i.test(e?.message ?? '')) {
    return hubError('TIMEOUT', `${what}: the broker did not answer in time`, { cause: err, details });
  }
  return hubError('DOWNSTREAM_UNAVAILABLE', `${what}: ${e?.message ?? String(err)}`, { cause: err, details });
}
