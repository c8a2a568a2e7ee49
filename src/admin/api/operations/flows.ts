/**
 * The flows this hub runs: their figures, the live feed that carries them, pausing and resuming.
 */
import type { OperationSpec } from '../operation.js';
import { ref, problem, ACTOR, flowParam } from '../schema-parts.js';
import { TRACE_MAX_BODY_BYTES, TRACE_MAX_LIMIT, TRACE_MAX_SECONDS, TRACE_MAX_SESSIONS } from '../../../runtime/flow-trace.js';

export const FLOW_OPERATIONS: OperationSpec[] = [
  {
    method: 'GET',
    path: '/flows',
    operationId: 'listFlows',
    role: 'viewer',
    summary: 'The flows this hub runs',
    description: 'Each flow with its source adapter, sinks (each with its health from its real calls), steps, journal policy, readiness and health (ready, degraded, not ready), state (running or paused), how many of its messages are dead, waiting and failed now (from the journal), its rate and p99 latency over the last minute, and this process\'s counters since start.',
    responses: { 200: { description: 'The flows, and when they were read.', schema: { type: 'object', required: ['flows', 'at'], properties: { flows: { type: 'array', items: ref('FlowInfo') }, at: { type: 'string', format: 'date-time' } } } } },
  },
  {
    method: 'GET',
    path: '/events',
    operationId: 'streamEvents',
    role: 'viewer',
    summary: 'Live updates (server-sent events)',
    description:
      'A text/event-stream that stays open: `event: flows` at once and then every second, with the data of GET /flows; `event: message` when a message changed off the common path (`{ id, flow, status, at, replayOf? }`: parked waiting for a retry or dead, delivered by a durable retry or a replay, archived; first-time deliveries show in the flows\' rates instead); `event: session-ended` before the stream of an ended session closes. Nothing is replayed on reconnect: re-read what you show. Watching does not keep a session alive. At most 64 streams per hub; a client that leaves more than 256 KiB unread is dropped.',
    responses: {
      200: { description: 'The stream.', content: { 'text/event-stream': { schema: { type: 'string', description: 'Server-sent events: `event: flows` (data: { flows: FlowInfo[] }), `event: message` (data: { id, flow, status, at, replayOf? }), `event: session-ended`.' } } } },
      429: problem('The hub has as many live streams as it serves.'),
    },
  },
  {
    method: 'POST',
    path: '/flows/:name/pause',
    operationId: 'pauseFlow',
    role: 'admin',
    audit: 'pause',
    summary: 'Pause a flow: it takes no new messages until resumed',
    description:
      'A source that waits for a reply (REST, SOAP) answers 503 FLOW_PAUSED (retryable, with Retry-After). A broker source\'s deliveries are held in the runner until the flow is resumed or the hub stops, so its prefetch (AMQP) or its partition (Kafka) stops further consumption; a broker may take back a delivery held past its own limit (RabbitMQ\'s consumer_timeout, 30 min by default) and deliver it again. Durable retries that come due are put back 30 s at a time, their attempts not counted. Messages already in the flow finish. Replays are refused (409) while paused; the dry run is not. The pause lives in this process: a restart, or another replica, runs the flow. Pausing a paused flow changes nothing.',
    params: flowParam,
    headers: [ACTOR],
    responses: { 200: { description: 'Paused (or it was).', schema: ref('FlowState') }, 404: problem('No such flow in this hub.') },
  },
  {
    method: 'POST',
    path: '/flows/:name/resume',
    operationId: 'resumeFlow',
    role: 'admin',
    audit: 'resume',
    summary: 'Resume a paused flow',
    description: 'The flow takes messages again; the held broker deliveries go on first, and durable retries run when next due. Resuming a running flow changes nothing.',
    params: flowParam,
    headers: [ACTOR],
    responses: { 200: { description: 'Running.', schema: ref('FlowState') }, 404: problem('No such flow in this hub.') },
  },
  {
    method: 'POST',
    path: '/flows/reload',
    operationId: 'reloadFlows',
    role: 'admin',
    audit: 'reload',
    summary: 'Reload the flows from their files, without a restart',
    description:
      'Lints every flow file again and replaces only the flows whose file (or the message schemas folder) changed: the new version is started and takes the flow\'s routes and new messages at once, the old one takes no new message and finishes those in flight (a broker gives what the old consumer had prefetched to the new one). A new file starts a flow, a removed file stops one (its routes answer 404 at once). A flow whose file has errors keeps its running version; the answer lists each problem at `file:line:col` (`problems`; `hub flow reload` then exits 1). One reload at a time: while one runs another is refused with 409. `hub run` does the same on SIGHUP, and `hub dev` on each save.',
    headers: [ACTOR],
    responses: {
      200: { description: 'Reloaded (or nothing had changed); `problems` lists the errors of files whose flows go on as they were.', schema: ref('ReloadReport') },
      409: problem('Another reload is running.'),
    },
  },
  {
    method: 'GET',
    path: '/flows/:name/trace',
    operationId: 'traceFlow',
    role: 'viewer',
    viewerMasks: 'the bodies and header values of every message, step output, sink call and reply',
    summary: 'Trace the flow\'s next messages step by step (server-sent events)',
    description: `A text/event-stream: \`event: trace-started\` (\`{ flow, limit, seconds, bodyBytes }\`), then for each of the flow's next \`limit\` messages, once it is done, \`event: message\` with its input, each step's output (headers and body) and time, the route it took, each sink call with what was sent and the reply or error, its outcome and what the caller got; then \`event: end\` (\`{ reason: limit | time | closed | flow-stopped, traced }\`) and the stream closes. Off unless asked: a flow nobody traces pays nothing for it. Bounded: at most ${TRACE_MAX_LIMIT} messages, ${TRACE_MAX_SECONDS} s and ${TRACE_MAX_BODY_BYTES} bytes of each body per trace, and ${TRACE_MAX_SESSIONS} traces per hub. A reload of the flow keeps the trace on its new version. Viewers get bodies and header values masked.`,
    params: flowParam,
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        limit: { type: 'integer', minimum: 1, maximum: TRACE_MAX_LIMIT, default: 10, description: 'How many messages to follow.' },
        seconds: { type: 'integer', minimum: 1, maximum: TRACE_MAX_SECONDS, default: 300, description: 'How long to wait for them.' },
        bodyBytes: { type: 'integer', minimum: 0, maximum: TRACE_MAX_BODY_BYTES, default: 4096, description: 'How much of each body to show.' },
      },
    },
    responses: {
      200: { description: 'The stream.', content: { 'text/event-stream': { schema: { type: 'string', description: 'Server-sent events: `event: trace-started`, `event: message` (data: TracedMessage), `event: end`.' } } } },
      400: problem('A parameter is not valid.'),
      404: problem('No such flow in this hub.'),
      429: problem('The hub has as many traces open as it allows.'),
    },
  },
];
