/**
 * The console's live updates: one EventSource on GET /admin/api/events (the session cookie goes with it), whose
 * events go to the page on show. Each page registers its handlers when drawn; drawing another page replaces them.
 *
 * It also watches the connection, so that the console never shows frozen figures as live: the hub sends `flows`
 * every second, so a silence of STALE_MS (a hub killed, a network gone, a hub frozen) or a stream error marks the
 * console "connection lost" (a banner, the page greyed, `body.offline`). The EventSource reconnects by itself; one the
 * browser gave up on is opened again every RECONNECT_MS. Once events flow again the banner goes and the page on show
 * re-reads what it shows (`reconnected`).
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
  /** A replay job's progress (`event: replay-progress`). */
  job?: (job: unknown) => void;
  /** The connection came back after it was lost: re-read what the page shows. */
  reconnected?: () => void;
}

/** Without an event for this long, the hub is taken as lost (it sends `flows` every second). */
export const STALE_MS = 3500;
const RECONNECT_MS = 3000;

let source: EventSource | undefined;
let handlers: LiveHandlers = {};
let lastEvent = 0;
let lostSince: Date | undefined;
let watchdog: number | undefined;
let onSessionEnded: (() => void) | undefined;

function parse<T>(event: Event): T | undefined {
  try {
    return JSON.parse((event as MessageEvent<string>).data) as T;
  } catch {
    return undefined;
  }
}

function banner(): HTMLElement {
  let el = document.getElementById('connection');
  if (!el) {
    el = document.createElement('div');
    el.id = 'connection';
    el.setAttribute('role', 'status');
    el.setAttribute('aria-live', 'assertive');
    el.hidden = true;
    document.getElementById('top')?.after(el);
  }
  return el;
}

function setLost(): void {
  if (lostSince) return;
  lostSince = new Date();
  document.body.classList.add('offline');
  const el = banner();
  el.textContent = `Connection to the hub lost at ${lostSince.toISOString().slice(11, 19)} UTC: the figures below are from before and may be out of date. Reconnecting…`;
  el.dataset.state = 'lost';
  el.hidden = false;
}

function setLive(): void {
  lastEvent = Date.now();
  if (!lostSince) return;
  lostSince = undefined;
  document.body.classList.remove('offline');
  const el = banner();
  el.dataset.state = 'live';
  el.hidden = true;
  handlers.reconnected?.();
}

/** True while the console has lost the hub. */
export function isOffline(): boolean {
  return lostSince !== undefined;
}

function open(): void {
  source?.close();
  lastEvent = Date.now();
  const es = new EventSource(`${API}/events`);
  es.addEventListener('open', () => (lastEvent = Date.now()));
  es.addEventListener('flows', (e) => {
    setLive();
    const data = parse<{ flows: FlowInfo[] }>(e);
    if (data) handlers.flows?.(data.flows);
  });
  es.addEventListener('message', (e) => {
    const notice = parse<MessageNotice>(e);
    if (notice) handlers.message?.(notice);
  });
  es.addEventListener('replay-progress', (e) => {
    const job = parse<unknown>(e);
    if (job) handlers.job?.(job);
  });
  es.addEventListener('session-ended', () => {
    disconnect();
    onSessionEnded?.();
  });
  es.addEventListener('error', () => {
    if (es.readyState !== EventSource.OPEN) setLost();
  });
  source = es;
}

/** Opens the feed (once per login); `onEnded` runs when the hub says the session ended. */
export function connect(onEnded: () => void): void {
  disconnect();
  onSessionEnded = onEnded;
  lastEvent = Date.now();
  open();
  watchdog = window.setInterval(() => {
    if (Date.now() - lastEvent > STALE_MS) setLost();
    // The browser gives up on a stream answered with an error status (a proxy's 502 while the hub is away): open anew.
    // Sessions live in the hub's memory: after a restart the stream answers 401, and the login is shown again.
    if (source?.readyState === EventSource.CLOSED && lostSince && Date.now() - lastEvent >= RECONNECT_MS) {
      lastEvent = Date.now();
      void fetch(`${API}/session`, { credentials: 'same-origin', cache: 'no-store' }).then(
        (res) => (res.status === 401 ? (disconnect(), onSessionEnded?.()) : open()),
        () => undefined,
      );
    } else if (lostSince && source?.readyState === EventSource.OPEN && Date.now() - lastEvent > STALE_MS * 2) open();
  }, 1000);
}

export function disconnect(): void {
  source?.close();
  source = undefined;
  window.clearInterval(watchdog);
  watchdog = undefined;
  if (lostSince) {
    lostSince = undefined;
    document.body.classList.remove('offline');
    banner().hidden = true;
  }
}

/** What the page on show does with the feed's events. */
export function onLive(next: LiveHandlers): void {
  handlers = next;
}
