/**
 * Headers the hub carries from ingress to every egress, on every transport, so one correlation id and one trace
 * follow a message through SOAP, REST, AMQP and Kafka.
 */
export const PROPAGATED_HEADERS = [
  'correlation-id',
  'traceparent',
  'tracestate',
  'baggage',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-request-id',
] as const;

/**
 * The transport header that carries the sending hub's message id to the next hop (HTTP, AMQP and Kafka headers
 * alike; AMQP also sets the messageId property). A receiving source gives the message its own new id and keeps the
 * upstream one in `meta.upstreamId`, so a message can be followed across hops and duplicates can be found.
 */
export const MESSAGE_ID_HEADER = 'x-message-id';

/** Other names clients use for the correlation id; the hub normalizes them to `correlation-id`. */
const CORRELATION_ALIASES = ['x-correlation-id', 'correlation-id', 'x-correlationid', 'correlationid'];

/**
 * Picks the propagated headers out of a transport's inbound headers (any case, arrays joined) and makes sure a
 * correlation id is present (the message id when the caller sent none).
 */
export function inboundHeaders(raw: Record<string, unknown>, messageId: string): Record<string, string> {
  return propagated(textHeaders(raw), messageId);
}

/** A transport's headers with lower-case names and text values (arrays joined, bytes as UTF-8). */
export function textHeaders(raw: Record<string, unknown>): Record<string, string> {
  const lower: Record<string, string> = {};
  for (const k in raw) {
    if (!Object.prototype.hasOwnProperty.call(raw, k)) continue;
    const v = raw[k];
    if (v === undefined || v === null) continue;
    lower[k.toLowerCase()] = Array.isArray(v) ? v.map(String).join(', ') : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
  return lower;
}

/** inboundHeaders for headers already made by textHeaders (or the like: lower-case names, text values). */
export function propagated(lower: Readonly<Record<string, string>>, messageId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROPAGATED_HEADERS) if (lower[name] !== undefined) out[name] = lower[name]!;
  let correlation: string | undefined;
  for (const alias of CORRELATION_ALIASES) {
    const v = lower[alias];
    if (v !== undefined && v !== '') {
      correlation = v;
      break;
    }
  }
  out['correlation-id'] = correlation ?? messageId;
  return out;
}

/** Headers that belong to one hop of one transport and are never copied to the next. */
const HOP_HEADERS = new Set(['content-type', 'content-length', 'host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'proxy-authorization', 'proxy-authenticate']);

/**
 * The headers of a message to put on an outbound request or record: the propagated ones (correlation, trace) and
 * whatever the flow set (set_headers, or a source's kept headers), less the transport's own hop headers and
 * `except` (one the transport carries in a field of its own). Sinks set the content type themselves, from the
 * message.
 */
export function outboundHeaders(headers: Readonly<Record<string, string>>, except?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) if (Object.prototype.hasOwnProperty.call(headers, name) && !HOP_HEADERS.has(name) && name !== except) out[name] = headers[name]!;
  return out;
}

/** The upstream hop's message id, when the transport carried one: sources keep it as `meta.upstreamId`. */
export function upstreamId(raw: Record<string, unknown>): string | undefined {
  const v = raw[MESSAGE_ID_HEADER] ?? raw[MESSAGE_ID_HEADER.toUpperCase()];
  const s = Array.isArray(v) ? v[0] : Buffer.isBuffer(v) ? v.toString('utf8') : v;
  return typeof s === 'string' && s !== '' ? s : undefined;
}
