/**
 * The console's live updates: one EventSource on GET /admin/api/events (the session cookie goes with it), whose
 * events go to the page on show. Each page registers its handlers when drawn; drawing another page replaces them.
 */
import { API, type FlowInfo, type MessageStatus } from './api.js';

export interface MessageNotice {
  id: string;
  flow: string;
  status: MessageStatus;
  at: string;
  replayOf?: string;
}

export interface LiveHandlers {
  flows?: (flows: FlowInfo[]) => void;
  message?: (notice: MessageNotice) => void;
}

let source: EventSource | undefined;
let handlers: LiveHandlers = {};

function parse<T>(event: Event): T | undefined {
  try {
    return JSON.parse((event as MessageEvent<string>).data) as T;
  } catch {
    return undefined;
  }
}

/** Opens the feed (once per login); `onEnded` runs when the hub says the session ended. */
export function connect(onEnded: () => void): void {
  disconnect();
  const es = new EventSource(`${API}/events`);
  es.addEventListener('flows', (e) => {
    const data = parse<{ flows: FlowInfo[] }>(e);
    if (data) handlers.flows?.(data.flows);
  });
  es.addEventListener('message', (e) => {
    const notice = parse<MessageNotice>(e);
    if (notice) handlers.message?.(notice);
  });
  es.addEventListener('session-ended', () => {
    disconnect();
    onEnded();
  });
  source = es;
}

export function disconnect(): void {
  source?.close();
  source = undefined;
}

/** What the page on show does with the feed's events. */
export function onLive(next: LiveHandlers): void {
  handlers = next;
}
