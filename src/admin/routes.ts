/**
 * The admin API's routes on the hub's server, under /admin/api: login, flows, the journal's messages, dead letters,
 * replay and the audit (and /admin/docs). Every route comes from an entry of OPERATIONS (api/operations/), validates its
 * request with that entry's schemas and admits only the roles the entry names (security.ts); every /admin answer
 * carries the security headers, and every error answer is application/problem+json from the one error table.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { Logger } from 'pino';
import { PROJECT_ROOT } from '../config/paths.js';
import { ERROR_CODES, hubError, type HubError } from '../core/errors.js';
import { CALLER_ANSWERED } from '../runtime/refusals.js';
import { fromFastifyError, PROBLEM_CONTENT_TYPE, problemHeaders, toProblem } from '../kit/problem.js';
import { MESSAGE_STATUSES, type AdminAudit, type MessageLog, type MessageQuery, type MessageRecord, type MessageStatus, type MessageSummary, type ReplayBook, type ReplayJobStore, type RetryQueue, type TimelineEvent } from '../journal/contract.js';
import { bodyBytes } from '../journal/shared.js';
import type { FlowRunner } from '../runtime/flow-runner.js';
import type { Retention } from '../journal/retention.js';
import { ADMIN_PREFIX, ADMIN_ROOT, BULK_DEFAULT, BULK_MAX } from './api/constants.js';
import { openApiDocument } from './api/document.js';
import { fullPath, type OperationId, type OperationSpec } from './api/operation.js';
import { OPERATIONS } from './api/operations/index.js';
import { AuditLog, type AuditAction, type AuditOutcome } from './audit.js';
import { Archiver, type GroupArchiveRequest } from './archive.js';
import { ConsoleFiles } from './console-files.js';
import { DocsPage, wantsJson } from './docs-page.js';
import { FlowInfos } from './flow-infos.js';
import { LiveFeed } from './live.js';
import { streamTrace } from './trace-feed.js';
import { describe as describeReload, type ReloadReport } from '../runtime/flow-reload.js';
import type { TraceSession } from '../runtime/flow-trace.js';
import { MAX_JOBS, ReplayJobs } from './replay-jobs.js';
import { ReportFolder } from '../mesh/compare/report-folder.js';
import { fromJournalError, Replayer, requestHash, type BulkReplayRequest, type ReplayOptions } from './replay.js';
import { AdminSecurity, clientAddress, MASKED_TEXT, SECURITY_HEADERS, type AdminSecurityConfig, type Principal } from './security.js';

export interface AdminApiOptions extends AdminSecurityConfig {
  /** Every role but the dedupe keys: the retry queue for a replay's safety net (see Replayer). */
  journal: MessageLog & RetryQueue & ReplayBook & AdminAudit & ReplayJobStore;
  runners: readonly FlowRunner[];
  logger: Logger;
  /** The address the hub listens on, to warn when session cookies (Secure) would need HTTPS in front. */
  listenHost?: string;
  /** Where the built console is (index.html, assets/); by default dist/console of the project. */
  consoleDir?: string;
  /** The journal's retention (journal.keep), to say when archived records go. */
  retention?: Retention;
  /** Where hub compare's reports are (compare.reports); without it the comparison routes list none. */
  compareReportsDir?: string;
  /** The hub's reload and trace (hub.ts); without them those routes answer 404. */
  flows?: FlowControls;
}

export interface FlowControls {
  reload: () => Promise<ReloadReport>;
  /** Opens a trace session on a flow; throws NOT_FOUND or TOO_MANY_REQUESTS. */
  trace: (flow: string, session: TraceSession) => void;
}

export interface AdminApi {
  security: AdminSecurity;
  audit: AuditLog;
  /** The replay jobs: the hub stops them (where they are, to resume) before its flows. */
  jobs: { stop(): Promise<void> };
  /** A reload replaced runners: the live feed hears the new ones. */
  flowsChanged: (added: FlowRunner[], removed: FlowRunner[]) => void;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/**
 * Adds the admin API to the hub's server (before it is ready). Logs one warning when neither users nor a token
 * were given (it then answers no one). Throws when a user's password hash is malformed.
 */
export function registerAdminApi(app: FastifyInstance, options: AdminApiOptions): AdminApi {
  const logger = options.logger.child({ component: 'admin' });
  const audit = new AuditLog(options.journal, logger);
  const security = new AdminSecurity(options, audit, logger);
  if (security.closed) {
    options.logger.warn('admin API: closed: no admin users (admin.users) and no admin token (admin.token) were given to this hub; configure one to use the admin API and console');
  } else if (security.hasUsers && options.listenHost !== undefined && !LOOPBACK_HOST.test(options.listenHost)) {
    options.logger.info(`admin API: session cookies are Secure, so browsers keep them only over HTTPS (or http://localhost): serve ${ADMIN_ROOT} from ${options.listenHost} behind TLS, or reach it through an SSH tunnel`);
  }
  const api: AdminApi = { security, audit, jobs: { stop: async () => undefined }, flowsChanged: () => {} };
  void app.register((scope: FastifyInstance) => adminRoutes(scope, options, security, audit, api), { prefix: ADMIN_ROOT });
  return api;
}

type Handlers = Record<OperationId, RouteHandlerMethod>;

/** The path of a one-time login link (GET, public). */
export const LOGIN_LINK_PATH = `${ADMIN_ROOT}/login`;

/** A one-time login link at the address the request came to. */
function loginLinkUrl(request: FastifyRequest, code: string): string {
  return `${request.protocol}://${request.host}${LOGIN_LINK_PATH}?code=${code}`;
}

interface IdParams {
  id: string;
}

interface RouteConfig {
  op?: OperationSpec;
}

function operationOf(request: FastifyRequest): OperationSpec | undefined {
  return (request.routeOptions.config as RouteConfig | undefined)?.op;
}

/** Adds the routes; sets the api's flowsChanged (the live feed's) and jobs (what stops the replay jobs). */
async function adminRoutes(app: FastifyInstance, options: AdminApiOptions, security: AdminSecurity, audit: AuditLog, api: AdminApi): Promise<void> {
  const { journal, runners } = options;
  const logger = security.logger;
  const replayer = new Replayer(journal, runners, logger);
  const flowInfos = new FlowInfos(runners, journal);
  const feed = new LiveFeed(runners, () => flowInfos.read(), security, logger);
  api.flowsChanged = (added, removed) => feed.flowsChanged(added, removed);
  const controls = (): FlowControls => {
    if (!options.flows) throw hubError('NOT_FOUND', 'this server does not reload or trace flows');
    return options.flows;
  };
  app.addHook('preClose', async () => feed.close());
  const jobs = new ReplayJobs(replayer, journal, (job) => feed.replayProgress(job), logger);
  api.jobs = { stop: () => jobs.stop() };
  // Jobs a stopped hub left running go on once the flows have started (and the journal answers); a stopping hub
  // leaves them to the next.
  app.addHook('onReady', async () => {
    setTimeout(() => void jobs.resumeWhenReadable().catch((err: unknown) => logger.error({ err }, 'the replay jobs left running could not be resumed')), 0).unref();
  });
  app.addHook('preClose', async () => jobs.stop());
  const archiver = new Archiver(journal, options.retention ?? {}, (id, flow) => feed.notify({ id, flow, status: 'archived', at: new Date().toISOString() }));
  const reports = options.compareReportsDir ? new ReportFolder(options.compareReportsDir) : undefined;
  const docsPage = new DocsPage();
  const consoleFiles = new ConsoleFiles(options.consoleDir ?? resolve(PROJECT_ROOT, 'dist', 'console'));
  const principals = new WeakMap<FastifyRequest, Principal>();
  /** What a change did or why it failed, for its audit entry. */
  const outcomes = new WeakMap<FastifyRequest, string>();
  const principal = (request: FastifyRequest): Principal => {
    const p = principals.get(request);
    if (!p) throw hubError('INTERNAL', 'the admin request has no authenticated caller');
    return p;
  };

  // JSON in: any request body is read as JSON (curl -d sends a form content type by default), an empty one as none.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(hubError('BAD_JSON', `the request body is not JSON: ${(err as Error).message}`));
    }
  });
  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const err = fromFastifyError(error);
    outcomes.set(request, `${err.code}: ${err.message}`);
    return sendProblem(reply, request, err, logger);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, hubError('NOT_FOUND', `no admin API route ${request.method} ${request.url.split('?')[0]}; see ${ADMIN_PREFIX}/openapi.json`), logger));

  // Who calls, and whether the operation's role admits them, before the body is even read; unknown routes need a
  // caller too. Then CSRF protection of state-changing requests.
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    const op = operationOf(request);
    if (op?.role === 'public') return security.checkRequestOrigin(request, undefined);
    const caller = security.authenticate(request, reply);
    principals.set(request, caller);
    if (op) security.requireRole(caller, op.role, `${op.method} ${fullPath(op)} (${op.operationId})`);
    security.checkRequestOrigin(request, caller);
  });
  // Requests that need more than their operation's role (an edited replay, a replay to a sink), once the body is valid.
  app.addHook('preHandler', async (request) => {
    const op = operationOf(request);
    const caller = principals.get(request);
    if (op && caller) security.checkElevation(op, caller, request.body);
  });
  app.addHook('onResponse', async (request, reply) => {
    const op = operationOf(request);
    if (!op?.audit) return;
    const caller = principals.get(request);
    const status = reply.statusCode;
    const outcome: AuditOutcome = status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : status === 429 ? 'rate-limited' : 'failed';
    const params = request.params as Partial<IdParams & { name: string }> | undefined;
    const id = params?.id ?? (params?.name !== undefined ? `flow ${params.name}` : undefined);
    const body = request.body as { filter?: unknown; flow?: unknown; step?: unknown; code?: unknown } | undefined;
    const filter = body?.filter ?? (op.operationId === 'archiveDeadLetters' && body ? { flow: body.flow, step: body.step, code: body.code } : undefined);
    const target = id ?? (filter !== undefined ? `filter ${JSON.stringify(filter).slice(0, 500)}` : undefined);
    const detail = outcomes.get(request);
    audit.record({ action: op.audit as AuditAction, outcome, actor: caller?.actor ?? 'anonymous', ...(caller ? { role: caller.role } : {}), client: clientAddress(request), ...(target ? { target } : {}), status, ...(detail ? { detail } : {}) });
  });

  let document: Record<string, unknown> | undefined;
  const controlJob = async (request: FastifyRequest, action: 'pause' | 'resume' | 'cancel'): Promise<unknown> => {
    const { id } = request.params as IdParams;
    const { job, changed } = await jobs.control(id, action, principal(request).actor);
    outcomes.set(request, `${action} job ${id}: ${changed ? job.state : `unchanged (${job.state})`}, ${job.done} of ${job.matched} done`);
    return { ...job, changed };
  };
  const handlers: Handlers = {
    createSession: async (request, reply) => {
      const { name, password } = request.body as { name: string; password: string };
      const session = await security.login(request, reply, name, password);
      reply.header('set-cookie', security.sessionCookie(session));
      return security.describe({ via: 'session', user: session.user, role: session.role, actor: session.user, session });
    },
    getSession: async (request) => security.describe(principal(request)),
    createLoginLink: async (request) => {
      const { code, expiresAt } = security.issueLoginLink();
      return { url: loginLinkUrl(request, code), expiresAt: expiresAt.toISOString() };
    },
    redeemLoginLink: async (request, reply) => {
      const session = security.redeemLoginLink(request, reply, (request.query as { code: string }).code);
      return reply.header('set-cookie', security.sessionCookie(session)).header('location', `${ADMIN_ROOT}/`).code(303).send();
    },
    deleteSession: async (request, reply) => {
      security.logout(request, principal(request));
      return reply.header('set-cookie', security.clearedCookie()).code(204).send();
    },
    listAudit: async (request) => {
      const { limit, cursor, action } = request.query as { limit: number; cursor?: string; action?: AuditAction };
      return audit.list({ limit, ...(cursor ? { cursor } : {}), ...(action ? { action } : {}) });
    },
    listFlows: async () => flowInfos.read(),
    streamEvents: async (request, reply) => {
      if (!feed.open(reply, principal(request))) throw hubError('TOO_MANY_REQUESTS', `the live feed has ${feed.clients} clients already; close one (or poll GET ${ADMIN_PREFIX}/flows)`);
    },
    pauseFlow: async (request) => {
      const runner = flowNamed(runners, (request.params as { name: string }).name);
      const changed = runner.pause(principal(request).actor);
      outcomes.set(request, changed ? 'paused' : 'was paused already');
      return { name: runner.name, changed, ...flowState(runner) };
    },
    resumeFlow: async (request) => {
      const runner = flowNamed(runners, (request.params as { name: string }).name);
      const held = runner.paused?.held ?? 0;
      const changed = runner.resume(principal(request).actor);
      outcomes.set(request, changed ? `resumed (${held} held deliveries go on)` : 'was running already');
      return { name: runner.name, changed, ...flowState(runner) };
    },
    reloadFlows: async (request) => {
      const report = await controls().reload();
      outcomes.set(request, `${describeReload(report)}${report.problems.length ? `; ${report.problems.length} problem(s)` : ''} in ${report.tookMs} ms`);
      return report;
    },
    traceFlow: async (request, reply) => {
      const { name } = request.params as { name: string };
      const { limit, seconds, bodyBytes } = request.query as { limit: number; seconds: number; bodyBytes: number };
      const flows = controls();
      streamTrace(reply, name, { limit, seconds, bodyBytes }, principal(request).role === 'viewer', (session) => flows.trace(name, session));
    },
    listMessages: async (request) => {
      const { status, ...q } = request.query as Omit<MessageQuery, 'status'> & { status?: string[] };
      const page = await journalCall(journal.query({ ...q, ...(status ? { status: statuses(status) } : {}) }));
      return principal(request).role === 'viewer' ? { ...page, items: page.items.map(maskedSummary) } : page;
    },
    getMessage: async (request) => {
      const { id } = request.params as IdParams;
      const record = await journalCall(journal.get(id));
      if (!record) throw noSuchMessage(id);
      const shown = operationOf(request)?.viewerMasks && principal(request).role === 'viewer' ? masked(record) : record;
      return { ...shown, ...advice(record) };
    },
    getMessageBody: async (request, reply) => {
      const { id } = request.params as IdParams;
      const record = await journalCall(journal.get(id));
      if (!record) throw noSuchMessage(id);
      return reply
        .headers({
          'content-type': record.headers['content-type'] ?? 'application/octet-stream',
          // The bytes are whatever a sender sent: never let a browser run or sniff them as a page of this origin.
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; sandbox",
          'x-body-size': String(record.body.size),
          'x-body-sha256': record.body.sha256,
          'x-body-truncated': String(record.body.truncated),
        })
        .send(bodyBytes(record.body));
    },
    deleteMessage: async (request, reply) => {
      const { id } = request.params as IdParams;
      if (!(await journalCall(journal.remove(id)))) throw noSuchMessage(id);
      outcomes.set(request, 'removed');
      return reply.code(204).send();
    },
    replayMessage: async (request, reply) => {
      const { id } = request.params as IdParams;
      const body = (request.body ?? {}) as ReplayOptions;
      const key = idempotencyKey(request) ?? `auto:${requestHash({ id, ...body })}`;
      const result = await replayer.replayOne(id, body, key, principal(request).actor);
      outcomes.set(request, `${result.duplicate ? 'duplicate of' : 'replayed as'} ${result.newId}${result.outcome ? `: ${result.outcome}` : ''}${body.sink ? ` (to sink ${body.sink})` : ''}${body.body !== undefined ? ' (edited body)' : ''}`);
      return reply.code(result.duplicate || result.outcome === 'delivered' ? 200 : 202).send(result);
    },
    checkReplay: async (request) => {
      const { id } = request.params as IdParams;
      return replayer.check(id, (request.body ?? {}) as ReplayOptions);
    },
    replayMany: async (request, reply) => {
      const { background, rate, ...body } = request.body as BulkReplayRequest & { filter: { status?: string[] }; background?: boolean; rate?: number };
      // The same request, waited for or not, is one request: `background` is not part of its key.
      const key = idempotencyKey(request) ?? `auto-bulk:${requestHash(body)}`;
      const filter = { ...body.filter, ...(body.filter.status ? { status: statuses(body.filter.status) } : {}) };
      if (body.flow !== undefined && !replayer.runs(body.flow)) throw hubError('BAD_REQUEST', `flow "${body.flow}" does not run in this hub`);
      if (background || /(^|[,;\s])respond-async($|[,;\s])/i.test(String(request.headers.prefer ?? ''))) {
        // A job of any size: counted first (nothing is booked when nothing matches), then walked page by page.
        if (filter.flow !== undefined && !replayer.runs(filter.flow)) throw hubError('BAD_REQUEST', `flow "${filter.flow}" does not run in this hub`);
        if (body.sink !== undefined && filter.flow === undefined) throw hubError('BAD_REQUEST', 'a replay to a sink needs filter.flow: sink names belong to a flow');
        const { count } = await replayer.count(filter);
        if (count === 0) throw hubError('NOT_FOUND', 'no message matches the filter: no job was started');
        const job = await jobs.start({ ...body, filter }, body.max === undefined ? count : Math.min(count, body.max), key, principal(request).actor, rate);
        outcomes.set(request, `started job ${job.id} at ${job.rate} msg/s: matched ${job.matched}${body.sink ? ` (to sink ${body.sink})` : ''}${body.flow ? ` (into flow ${body.flow})` : ''}`);
        return reply.code(202).header('location', `${ADMIN_PREFIX}/replays/jobs/${job.id}`).header('preference-applied', 'respond-async').send(job);
      }
      if ((body.max ?? BULK_DEFAULT) > BULK_MAX) throw hubError('BAD_REQUEST', `a replay answered when done takes at most ${BULK_MAX} messages; start a job (background: true) for more`);
      const selection = await replayer.select({ ...body, max: body.max ?? BULK_DEFAULT, filter });
      const result = await replayer.replaySelected({ ...body, filter }, selection, key, principal(request).actor);
      outcomes.set(request, `matched ${result.matched}, replayed ${result.replayed}, duplicates ${result.duplicates}, failed ${result.failed.length}${body.sink ? ` (to sink ${body.sink})` : ''}`);
      return result;
    },
    getReplayJob: async (request) => {
      const { id } = request.params as IdParams;
      const job = await jobs.get(id);
      if (!job) throw hubError('NOT_FOUND', `no bulk replay job ${id} (the journal keeps the newest ${MAX_JOBS})`);
      return job;
    },
    listReplayJobs: async (request) => ({ jobs: await jobs.list((request.query as { limit: number }).limit) }),
    getReplayJobResults: async (request) => {
      const { id } = request.params as IdParams;
      const { offset, limit } = request.query as { offset: number; limit: number };
      if (!(await jobs.get(id))) throw hubError('NOT_FOUND', `no bulk replay job ${id} (the journal keeps the newest ${MAX_JOBS})`);
      return { ...(await jobs.results(id, offset, limit)), offset };
    },
    pauseReplayJob: async (request) => controlJob(request, 'pause'),
    resumeReplayJob: async (request) => controlJob(request, 'resume'),
    cancelReplayJob: async (request) => controlJob(request, 'cancel'),
    countMessages: async (request) => {
      const body = request.body as { filter: BulkReplayRequest['filter'] & { status?: string[] } };
      const filter = { ...body.filter, ...(body.filter.status ? { status: statuses(body.filter.status) } : {}) };
      return replayer.count(filter);
    },
    archiveMessage: async (request) => {
      const { id } = request.params as IdParams;
      const result = await archiver.archiveOne(id, principal(request).actor, (request.body as { reason?: string } | undefined)?.reason);
      const reason = (request.body as { reason?: string } | undefined)?.reason;
      outcomes.set(request, `archived${reason ? ` (reason: ${reason})` : ''}${result.removableFrom ? `; removable from ${result.removableFrom}` : ''}`);
      return result;
    },
    archiveDeadLetters: async (request) => {
      const body = request.body as GroupArchiveRequest;
      const result = await archiver.archiveGroup(body, principal(request).actor);
      outcomes.set(request, `matched ${result.matched}, archived ${result.archived}, failed ${result.failed.length}${body.reason ? ` (reason: ${body.reason})` : ''}`);
      return result;
    },
    listReplays: async (request) => journalCall(journal.listReplays(request.query as { originalId?: string; limit?: number; cursor?: string })),
    listDeadLetters: async (request) => ({ groups: await journalCall(journal.deadLetterGroups(request.query as { flow?: string })) }),
    getConsole: async (_request, reply) => {
      const page = await consoleFiles.page();
      return reply.type(page.contentType).send(page.data);
    },
    getConsoleAsset: async (request, reply) => {
      const { file } = request.params as { file: string };
      const asset = await consoleFiles.asset(file);
      if (!asset) throw hubError('NOT_FOUND', `no console file ${file}`);
      return reply.type(asset.contentType).send(asset.data);
    },
    listCompareReports: async () => ({ reports: (await reports?.list()) ?? [] }),
    getCompareReport: async (request) => {
      const { name } = request.params as { name: string };
      const report = await reports?.get(name);
      if (!report) throw hubError('NOT_FOUND', `no readable hub compare report "${name}" in the reports folder (compare.reports in hub.yaml); GET ${ADMIN_PREFIX}/compare/reports lists them`);
      return report;
    },
    getOpenApi: async () => (document ??= openApiDocument(version())),
    getDocs: async (request, reply) => {
      if (wantsJson(request.headers.accept)) return (document ??= openApiDocument(version()));
      const page = docsPage.page();
      return reply.type(page.contentType).send(page.data);
    },
    getDocsAsset: async (request, reply) => {
      const { file } = request.params as { file: string };
      const asset = await docsPage.asset(file);
      if (!asset) throw hubError('NOT_FOUND', `no file ${file} of the API reference`);
      return reply.type(asset.contentType).header('cache-control', 'public, max-age=3600').send(asset.data);
    },
  };

  for (const op of OPERATIONS) {
    const path = fullPath(op);
    if (!path.startsWith(`${ADMIN_ROOT}/`)) throw new Error(`admin operation ${op.operationId} is outside ${ADMIN_ROOT}`);
    app.route({
      method: op.method,
      url: path.slice(ADMIN_ROOT.length),
      config: { op } satisfies RouteConfig,
      schema: { ...(op.params ? { params: op.params } : {}), ...(op.querystring ? { querystring: op.querystring } : {}), ...(op.body ? { body: op.body } : {}) },
      handler: handlers[op.operationId],
    });
  }
}

function version(): string {
  return (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

async function journalCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw fromJournalError(err);
  }
}

/** A summary as a viewer sees it: no error text (it may quote the body), no correlation id (it may come from it). */
function maskedSummary<T extends MessageSummary>(m: T): T {
  return { ...m, ...(m.correlationId !== undefined ? { correlationId: '***' } : {}), ...(m.lastError ? { lastError: { ...m.lastError, message: MASKED_TEXT } } : {}) };
}

/**
 * A record as a viewer sees it: no body bytes, no header values, no error texts, no correlation id, no transport
 * facts or sink replies.
 */
function masked(record: MessageRecord): MessageRecord {
  return {
    ...maskedSummary(record),
    headers: Object.fromEntries(Object.keys(record.headers).map((k) => [k, '***'])),
    body: { ...record.body, data: '', masked: true } as MessageRecord['body'],
    timeline: record.timeline.map(maskedEvent),
  };
}

/**
 * A timeline event as a viewer sees it: no error text; and what the journal keeps under `all`, the transport's facts
 * and the sinks' replies (and their tries' error texts), withheld like the body.
 */
function maskedEvent({ meta: _meta, ...e }: TimelineEvent): TimelineEvent {
  const event = e.error ? { ...e, error: { ...e.error, message: MASKED_TEXT } } : e;
  const call = event.call;
  if (!call) return event;
  return {
    ...event,
    call: {
      ...call,
      ...(call.reply ? { reply: { ...call.reply, headers: Object.fromEntries(Object.keys(call.reply.headers).map((k) => [k, '***'])), body: '', masked: true } } : {}),
      ...(call.failure ? { failure: { ...call.failure, message: MASKED_TEXT } } : {}),
    },
  };
}

/**
 * What the console needs to advise on a message: whether its caller was answered with the error (it may have sent
 * the request again: a replay could do the work twice), and whether it failed for a permanent reason (the same body
 * would fail the same way: edit it, then replay).
 */
function advice(record: MessageRecord): { callerAnswered?: { at: string }; permanent?: boolean } {
  const answered = record.timeline.findLast((e) => e.type === 'failed' && e.detail === CALLER_ANSWERED);
  const code = record.lastError?.code;
  const spec = code !== undefined && code in ERROR_CODES ? ERROR_CODES[code as keyof typeof ERROR_CODES] : undefined;
  // Permanent and the message's own fault (its body): a downstream's refusal may pass once the downstream is fixed.
  const permanent = spec?.kind === 'permanent' && spec.fault === 'client';
  return { ...(answered ? { callerAnswered: { at: answered.at } } : {}), ...(record.lastError ? { permanent } : {}) };
}

function flowState(runner: FlowRunner): { state: 'running' | 'paused'; paused?: { at: string; by: string; held: number } } {
  const paused = runner.paused;
  return paused ? { state: 'paused', paused } : { state: 'running' };
}

function flowNamed(runners: readonly FlowRunner[], name: string): FlowRunner {
  const runner = runners.find((r) => r.name === name);
  if (!runner) throw hubError('NOT_FOUND', `no flow named "${name}" runs in this hub (flows here: ${runners.map((r) => r.name).join(', ') || 'none'})`);
  return runner;
}

function noSuchMessage(id: string): HubError {
  return hubError('NOT_FOUND', `no such message: ${id} (never recorded under its flow's journal policy, or removed)`);
}

/** Statuses given repeated or comma-separated, each checked. */
function statuses(values: string[]): MessageStatus[] {
  const out = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = out.filter((s) => !(MESSAGE_STATUSES as readonly string[]).includes(s));
  if (unknown.length) throw hubError('BAD_REQUEST', `unknown status ${unknown.map((s) => `"${s}"`).join(', ')}; statuses are ${MESSAGE_STATUSES.join(', ')}`);
  return out as MessageStatus[];
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
}

function idempotencyKey(request: FastifyRequest): string | undefined {
  const key = headerValue(request, 'idempotency-key');
  if (key !== undefined && (key.length > 200 || /[\u0000-\u001f]/.test(key))) throw hubError('BAD_REQUEST', 'Idempotency-Key must be at most 200 printable characters');
  return key;
}

/** Ajv for the admin requests: query strings and paths coerced from text (a repeated parameter becomes an array), bodies as sent; every problem at once, unknown keys refused. */
function validatorCompiler(): (route: { schema: object; httpPart?: string }) => (data: unknown) => boolean | { error?: Error; value?: unknown } {
  const make = (coerce: boolean): Ajv2020 => {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, useDefaults: true, coerceTypes: coerce ? 'array' : false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    return ajv;
  };
  const text = make(true);
  const json = make(false);
  return ({ schema, httpPart }) => {
    const validate = (httpPart === 'body' ? json : text).compile(schema);
    return (data: unknown) => {
      // A POST without a body is an empty object: every option has its default.
      const value = httpPart === 'body' && (data === undefined || data === null) ? {} : data;
      if (validate(value)) return { value };
      return { error: validationError(httpPart ?? 'request', validate.errors ?? []) };
    };
  };
}

function validationError(part: string, errors: ErrorObject[]): HubError {
  const where = part === 'querystring' ? 'query' : part;
  const list = errors.map((e) => {
    const path = `${where}${e.instancePath.replace(/\//g, '.')}`;
    if (e.keyword === 'additionalProperties') return { path, message: `unknown ${part === 'body' ? 'key' : 'parameter'} "${String(e.params.additionalProperty)}"` };
    if (e.keyword === 'enum') return { path, message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    return { path, message: e.message ?? 'is not valid' };
  });
  return hubError('BAD_REQUEST', list.map((e) => `${e.path}: ${e.message}`).join('; '), { details: { errors: list } });
}

function sendProblem(reply: FastifyReply, request: FastifyRequest, err: HubError, logger: Logger): FastifyReply {
  const messageId = (request.params as Partial<IdParams> | undefined)?.id;
  const problem = toProblem(err, { ...(messageId ? { messageId } : {}), instance: request.url.split('?')[0]! });
  // Operators see the whole reason, also of server-side failures: it is theirs to act on (the journal shows them anyway).
  problem.detail = err.message;
  if (problem.status >= 500) logger.error({ err: err.cause ?? err, code: err.code, url: request.url }, `admin API: ${err.message}`);
  return reply
    .code(problem.status)
    .headers({ ...problemHeaders(err), 'content-type': PROBLEM_CONTENT_TYPE })
    .send(Buffer.from(JSON.stringify(problem), 'utf8'));
}
