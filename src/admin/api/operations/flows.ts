/**
 * The flows this hub runs: their figures, the live feed that carries them, pausing and resuming.
 */
import type { OperationSpec } from '../operation.js';
import { ref, text, problem, ACTOR, flowParam } from '../schema-parts.js';

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
];
