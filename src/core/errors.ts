/**
 * The error codes, in two tables: this one for messages, CONFIG_ERROR_CODES below for configuration (and the command
 * line). Every error the hub raises while handling a message carries one of these codes, and so does every error
 * answer of the admin API.
 *
 * - `kind` drives control flow: `retryable` errors are retried with backoff (then dead-lettered), `permanent` ones go
 *   straight to the dead letter. Code never inspects message text to decide this.
 * - `status` is the HTTP status an HTTP ingress answers with when this error ends a request.
 * - `fault` is the SOAP fault side: `client` (SOAP 1.1 Client / 1.2 Sender, the caller's input is wrong) or `server`
 *   (SOAP 1.1 Server / 1.2 Receiver, something behind the hub failed).
 * - `hint` tells the operator how to get out of it.
 */
export const ERROR_CODES = {
  // Input the caller sent (permanent: sending it again will not help).
  BAD_JSON: { kind: 'permanent', status: 400, fault: 'client', title: 'Malformed JSON', hint: 'Send a well-formed JSON document.' },
  BAD_XML: { kind: 'permanent', status: 400, fault: 'client', title: 'Malformed XML', hint: 'Send a well-formed XML document.' },
  XML_DOCTYPE_FORBIDDEN: { kind: 'permanent', status: 400, fault: 'client', title: 'DOCTYPE not allowed', hint: 'Remove the DOCTYPE declaration: the hub never processes DTDs or entities.' },
  TOO_DEEP: { kind: 'permanent', status: 400, fault: 'client', title: 'Document nested too deeply', hint: 'Flatten the document or raise limits.max_depth in the hub configuration.' },
  FORBIDDEN_KEY: { kind: 'permanent', status: 400, fault: 'client', title: 'Forbidden key', hint: 'Keys named __proto__, constructor or prototype are refused to prevent prototype pollution.' },
  BODY_TOO_LARGE: { kind: 'permanent', status: 413, fault: 'client', title: 'Body too large', hint: 'Send a smaller body or raise limits.body_bytes in the hub configuration.' },
  UNSUPPORTED_MEDIA_TYPE: { kind: 'permanent', status: 415, fault: 'client', title: 'Unsupported media type', hint: 'Send a content type this endpoint accepts.' },
  BAD_REQUEST: { kind: 'permanent', status: 400, fault: 'client', title: 'Bad request', hint: 'Check the request against the endpoint description.' },
  SOAP_BAD_ENVELOPE: { kind: 'permanent', status: 400, fault: 'client', title: 'Not a SOAP envelope', hint: 'Send a SOAP 1.1 or 1.2 Envelope with a Body.' },
  SOAP_VERSION_MISMATCH: { kind: 'permanent', status: 400, fault: 'client', title: 'SOAP version mismatch', hint: 'SOAP 1.1 uses text/xml and the 1.1 envelope namespace; SOAP 1.2 uses application/soap+xml and the 1.2 namespace.' },
  SOAP_MUST_UNDERSTAND: { kind: 'permanent', status: 400, fault: 'client', title: 'Header not understood', hint: 'A SOAP header marked mustUnderstand is one this endpoint does not process; drop it or the mustUnderstand flag.' },
  SOAP_UNKNOWN_OPERATION: { kind: 'permanent', status: 400, fault: 'client', title: 'Unknown SOAP operation', hint: 'Call one of the operations the endpoint\'s WSDL lists.' },
  SECURITY_FAILED: { kind: 'permanent', status: 401, fault: 'client', title: 'Authentication failed', hint: 'Send a valid WS-Security UsernameToken.' },
  AUTH_REQUIRED: { kind: 'permanent', status: 401, fault: 'client', title: 'Authentication required', hint: 'Send the credential the endpoint asks for in its WWW-Authenticate header (an API key, a bearer token, or a user and password); the hub log says exactly what failed.' },
  AUTH_FORBIDDEN: { kind: 'permanent', status: 403, fault: 'client', title: 'Not allowed', hint: 'The caller is known but lacks a scope or claim the endpoint requires: ask its owner for a token with it.' },
  RATE_LIMITED: { kind: 'retryable', status: 429, fault: 'client', title: 'Rate limited', hint: 'More requests than allowed: the caller\'s (or the flow\'s) rate_limit, or a throttle step whose queue is full. Send again after Retry-After seconds; the flow\'s owner can raise the rate or max_queue.' },
  AUTH_UNAVAILABLE: { kind: 'retryable', status: 503, fault: 'server', title: 'Authentication unavailable', hint: 'The hub cannot check tokens: the JWKS URL of the source\'s auth.jwt block is unreachable and no keys are cached; bring the identity provider back or fix jwks_url.' },
  VALIDATION_FAILED: { kind: 'permanent', status: 422, fault: 'client', title: 'Validation failed', hint: 'Fix the message so that it matches the schema named in the error.' },
  NOT_FOUND: { kind: 'permanent', status: 404, fault: 'client', title: 'Not found', hint: 'Check the path.' },

  // An operator's request to the admin API (or the CLI through it).
  UNAUTHORIZED: { kind: 'permanent', status: 401, fault: 'client', title: 'Unauthorized', hint: 'Log in (POST /admin/api/session with a user of admin.users in hub.yaml), or send Authorization: Bearer <token> with the admin token the hub was started with (admin.token, or HUB_ADMIN_TOKEN).' },
  FORBIDDEN: { kind: 'permanent', status: 403, fault: 'client', title: 'Forbidden', hint: 'The caller\'s role does not allow it (viewer reads, operator replays, admin edits, replays to a sink and deletes); a session\'s state-changing request needs its X-CSRF-Token and the hub\'s own origin; without users or a token the admin API answers clients on the hub\'s machine only.' },
  REPLAY_LIMIT: { kind: 'permanent', status: 409, fault: 'server', title: 'Replayed too often', hint: 'This message was replayed as many times as a replay job allows (each replay of it failed again): it is parked in its own dead-letter group. Find out why it fails, then edit and replay it by hand.' },
  CONFLICT: { kind: 'permanent', status: 409, fault: 'client', title: 'Conflict', hint: 'The request does not fit the current state of what it names; the detail says why and what to do instead.' },
  TOO_MANY_REQUESTS: { kind: 'permanent', status: 429, fault: 'client', title: 'Too many requests', hint: 'Too many failed logins from this address or for this name: wait as long as Retry-After says.' },

  // Mediation inside the hub.
  TRANSFORM_FAILED: { kind: 'permanent', status: 422, fault: 'client', title: 'Transformation failed', hint: 'The JSONata expression failed on this message; check the message shape or the expression.' },
  NO_ROUTE: { kind: 'permanent', status: 422, fault: 'client', title: 'No route matched', hint: 'Add an `otherwise` branch to the route step, or send a message one of its conditions matches.' },
  TEMPLATE_FAILED: { kind: 'permanent', status: 500, fault: 'server', title: 'Template failed', hint: 'A {{ }} template in the flow could not be evaluated for this message.' },
  LATE_MEMBER: { kind: 'permanent', status: 409, fault: 'client', title: 'Late aggregate member', hint: 'Its group was completed lately and the aggregate step says `late: dead_letter`; replay it to start a new group, or send members before the group completes.' },
  UNKNOWN_RECIPIENT: { kind: 'permanent', status: 422, fault: 'client', title: 'Unknown recipient', hint: 'The recipient_list expression named a sink the flow does not declare; declare it under `sinks:` or fix the expression.' },
  FLOW_OVERLOADED: { kind: 'retryable', status: 503, fault: 'server', title: 'Flow overloaded', hint: 'The flow is at its concurrency limit with a full queue; retry later or raise the flow\'s concurrency.' },
  FLOW_PAUSED: { kind: 'retryable', status: 503, fault: 'server', title: 'Flow paused', hint: 'An operator paused this flow (POST /admin/api/flows/{name}/pause); retry after it is resumed.' },
  FLOW_STOPPING: { kind: 'retryable', status: 503, fault: 'server', title: 'Hub is stopping', hint: 'Retry against another replica or after the restart.' },
  TIMEOUT: { kind: 'retryable', status: 504, fault: 'server', title: 'Timed out', hint: 'A downstream did not answer in time; it is retried, or raise the timeout.' },
  JOURNAL_UNAVAILABLE: { kind: 'retryable', status: 503, fault: 'server', title: 'Journal unavailable', hint: 'The journal (Redis, or the embedded store\'s disk) cannot be written, so the message could not be parked; its source keeps it and delivers it again. Bring the journal back.' },
  INTERNAL: { kind: 'permanent', status: 500, fault: 'server', title: 'Internal error', hint: 'A bug in the hub or an adapter; the log line with this message id has the stack.' },

  // Downstream systems behind a sink.
  DOWNSTREAM_UNAVAILABLE: { kind: 'retryable', status: 502, fault: 'server', title: 'Downstream unavailable', hint: 'The downstream refused the connection or answered 5xx/429; it is retried with backoff.' },
  CIRCUIT_OPEN: { kind: 'retryable', status: 503, fault: 'server', title: 'Circuit open', hint: 'The sink failed too many times in a row, so the hub stopped calling it for the ejection time (service.resilience.circuit_breaker) and retries the message later; fix the downstream, or the breaker lets one probe call through when that time is over.' },
  DOWNSTREAM_REJECTED: { kind: 'permanent', status: 502, fault: 'server', title: 'Downstream rejected the message', hint: 'The downstream answered 4xx: the message is wrong for it, and sending it again will not help.' },
  SOAP_FAULT_CLIENT: { kind: 'permanent', status: 502, fault: 'server', title: 'Downstream SOAP Client/Sender fault', hint: 'The SOAP service rejected the request as wrong; see the fault reason and detail.' },
  SOAP_FAULT_SERVER: { kind: 'retryable', status: 502, fault: 'server', title: 'Downstream SOAP Server/Receiver fault', hint: 'The SOAP service failed; it is retried with backoff.' },
  BAD_REPLY: { kind: 'permanent', status: 502, fault: 'server', title: 'Unreadable reply', hint: 'The downstream answered with a body the hub cannot read.' },
} as const satisfies Record<string, ErrorCodeSpec>;

export interface ErrorCodeSpec {
  kind: 'retryable' | 'permanent';
  status: number;
  fault: 'client' | 'server';
  title: string;
  hint: string;
}

export type ErrorCode = keyof typeof ERROR_CODES;

export interface HubErrorOptions {
  /** Extra machine-readable facts: schema errors, the SOAP fault's code and detail, the HTTP status met downstream. */
  details?: unknown;
  /** The flow step (by index and kind, e.g. "2:validate") where the error arose; the runtime fills it in. */
  step?: string;
  cause?: unknown;
}

/** Marks hub errors so that two copies of this module (an adapter bundling its own) still recognise each other's. */
const BRAND = Symbol.for('integration-hub.HubError');

/** An error raised while a message is handled. Use `hubError(code, ...)`; `retryable` and `permanent` are subclasses so callers branch on type. */
export abstract class HubError extends Error {
  abstract readonly retryable: boolean;
  readonly code: ErrorCode;
  readonly details: unknown;
  step: string | undefined;
  /**
   * For an error a request-reply caller is answered with: whether the journal keeps the message it is about (set by
   * the runtime), so that the answer can say whether its message id can be looked up. Undefined when nobody said.
   */
  journal: 'kept' | 'not kept' | undefined;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options: HubErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.step = options.step;
    this.journal = undefined;
  }

  get spec(): ErrorCodeSpec {
    return ERROR_CODES[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; step?: string; details?: unknown } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.step ? { step: this.step } : {}), ...(this.details === undefined ? {} : { details: this.details }) };
  }
}

export class RetryableError extends HubError {
  override readonly name: string = 'RetryableError';
  readonly retryable = true;
}

export class PermanentError extends HubError {
  override readonly name: string = 'PermanentError';
  readonly retryable = false;
}

/** Builds the error of the right class for a code from the table. */
export function hubError(code: ErrorCode, message: string, options?: HubErrorOptions): HubError {
  return ERROR_CODES[code].kind === 'retryable' ? new RetryableError(code, message, options) : new PermanentError(code, message, options);
}

/** Any thrown value as a HubError: unknown errors become INTERNAL (permanent), so a bug never loops forever. */
export function toHubError(err: unknown): HubError {
  if (err instanceof HubError || (typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true)) return err as HubError;
  const message = err instanceof Error ? err.message : String(err);
  return new PermanentError('INTERNAL', message, { cause: err });
}

/**
 * A problem found in configuration (a flow file, the hub configuration) before anything starts: `path` is the
 * location inside the config object being built (e.g. ['steps', 2, 'transform', 'jsonata']) so the linter can
 * point at line and column; `offset` optionally points inside the string value at that path.
 */
export interface ConfigIssue {
  path: (string | number)[];
  message: string;
  severity?: 'error' | 'warning';
  offset?: number;
}

/**
 * The second table: errors of configuration in the wide sense, what an operator or a flow author sets up and gets
 * wrong, as opposed to a message that fails. The flow files and hub.yaml, the adapter modules and message schemas
 * they name, the command line, and what the configuration points at: the journal's store, the port, the hub the
 * CLI talks to. They end a command or a start, never a message, so they have no kind, HTTP status or SOAP side.
 *
 * - `exit` is the status `hub` exits with when the error ends a command: 2 for a command line to correct, 1 for the
 *   rest. The CLI prints `hub: CODE: message`.
 * - `hint` says how to get out of it; the message of each error says it for the case at hand (fastify's manner).
 *
 * A code is unique across both tables (src/core/error-table.test.ts checks it, and that each code is used).
 */
export const CONFIG_ERROR_CODES = {
  // The command line.
  CLI_UNKNOWN_COMMAND: { exit: 2, title: 'Unknown command', hint: 'hub --help lists the commands; hub COMMAND --help shows one with its options.' },
  CLI_UNKNOWN_OPTION: { exit: 2, title: 'Unknown option', hint: 'The command does not take this option: hub COMMAND --help lists those it takes.' },
  CLI_BAD_OPTION: { exit: 2, title: 'Bad option value', hint: 'An option lacks its value, has one it does not take, or one out of its range; the message names the option and what it takes.' },
  CLI_BAD_ARGUMENTS: { exit: 2, title: 'Bad arguments', hint: 'Arguments are missing, extra, or options that do not go together; the usage printed with the error shows the forms the command takes.' },
  CLI_BAD_INPUT: { exit: 1, title: 'Unusable input', hint: 'What the command read (on stdin) cannot be used; the message says why.' },
  CLI_OUTPUT_FAILED: { exit: 1, title: 'Cannot write the output', hint: 'The file or folder named with --out cannot be written: check the path and its permissions.' },

  // Configuration files and what they name.
  HUB_CONFIG_NOT_FOUND: { exit: 1, title: 'Hub configuration not found', hint: 'Name an existing file with --config or HUB_CONFIG, or leave both out to use ./hub.yaml when there is one (else the defaults).' },
  HUB_CONFIG_INVALID: { exit: 1, title: 'Invalid hub configuration', hint: 'Fix each problem at its line and column (schemas/hub.schema.json describes the file); an environment variable (HUB_PORT ...) or a flag may be the culprit when the file is not named.' },
  FLOWS_NOT_FOUND: { exit: 1, title: 'No such flow file or folder', hint: 'Name flow files or folders that exist (hub run reads ./flows unless --flows, HUB_FLOWS or hub.yaml\'s flows says otherwise).' },
  TESTS_NOT_FOUND: { exit: 1, title: 'No test files', hint: 'hub test reads <flow>.test.yaml files beside the flows: name such files, flow files that have one, or folders that hold some (docs/flow-authoring.md shows one).' },
  FLOW_INVALID: { exit: 1, title: 'Invalid flows', hint: 'Fix each problem at its line and column; hub validate PATH checks flows without starting anything.' },
  FLOW_UNKNOWN: { exit: 2, title: 'No such flow', hint: 'hub run --flow NAME takes the name of a flow in the flows folder (its name:, else its file name); the message lists them.' },
  ADAPTER_MODULE_LOAD_FAILED: { exit: 1, title: 'Adapter module not loaded', hint: 'A module of hub.yaml\'s adapters: list could not be imported: check the path (relative to hub.yaml) or install the package, and that it loads in Node.' },
  ADAPTER_MODULE_INVALID: { exit: 1, title: 'Not an adapter module', hint: 'The module must default-export an adapter registration ({ name, description, source?, sink? }) or a list of them; the README\'s "Writing your own" (under Adapters) shows one.' },
  MESSAGE_SCHEMA_NOT_FOUND: { exit: 1, title: 'Message schema not found', hint: 'Put NAME.schema.json in the schemas folder (hub.yaml\'s schemas, or HUB_SCHEMAS), or correct the name.' },
  MESSAGE_SCHEMA_INVALID: { exit: 1, title: 'Invalid message schema', hint: 'The schema file must be valid JSON and a JSON Schema that ajv compiles; the message says where it fails.' },
  COMPARE_PLAN_NOT_FOUND: { exit: 1, title: 'No load plan', hint: 'hub compare reads load.json beside the flows it compares: see flows/compare/load.json and schemas/compare-load.schema.json.' },
  COMPARE_PLAN_INVALID: { exit: 1, title: 'Invalid load plan', hint: 'Fix each problem of load.json at its line and column, or the option (--flows, --faulty, --neighbour) it names.' },

  // What the configuration points at.
  PORT_IN_USE: { exit: 1, title: 'Port in use', hint: 'Another process listens on the port: stop it, or choose another port with --port (HUB_PORT, or port: in hub.yaml).' },
  LISTEN_FAILED: { exit: 1, title: 'Cannot listen', hint: 'The hub cannot open its port on that address: check --host (HUB_HOST) names an address of this machine, and the port is one the process may open.' },
  JOURNAL_NOT_FOUND: { exit: 1, title: 'No journal record', hint: 'The message has no journal record: it was never recorded under its flow\'s journal policy, or it was removed; or the retry claim is no longer held.' },
  JOURNAL_INVALID_ARGUMENT: { exit: 1, title: 'Bad journal argument', hint: 'The journal was called with a bad argument (an id, a cursor, a limit, an event): a bug in the caller, or a request to correct.' },
  JOURNAL_STORE_UNAVAILABLE: { exit: 1, title: 'Journal store unavailable', hint: 'The journal\'s store (Redis, or the embedded store\'s folder) cannot be reached or written: bring it back, or check REDIS_URL or the folder\'s permissions; settle no transport on the strength of this call.' },
  JOURNAL_LOCKED: { exit: 1, title: 'Journal in use', hint: 'Another process has this journal open; stop it, or give this hub its own journal directory (journal.dir in hub.yaml, or HUB_JOURNAL_DIR).' },
  JOURNAL_CLOSED: { exit: 1, title: 'Journal closed', hint: 'The journal was closed (the hub is stopping); a bug if it happens while the hub runs.' },
  FIXTURE_INCOMPLETE: { exit: 1, title: 'Message not journalled in full', hint: 'A test case is written only from a message recorded whole: set `journal: all` on its flow so that the journal keeps its input and the replies its sinks gave, then record another.' },
  ADMIN_UNREACHABLE: { exit: 1, title: 'Hub not reachable', hint: 'No hub answers at that address: start it, or name it with --url (or HUB_URL).' },
  ADMIN_REFUSED: { exit: 1, title: 'Refused by the hub', hint: 'The hub answered with a problem: its title, status and code (of the message table, ERROR_CODES) follow, with how to fix it.' },
  ADMIN_TOKEN_UNSAFE: { exit: 1, title: 'Unsafe admin token file', hint: 'The admin token file in the state folder (state_dir, HUB_STATE_DIR) must belong to the hub\'s user and be readable by it only (chmod 600); delete it to have the hub make a new token, or set HUB_ADMIN_TOKEN.' },
  ADMIN_UNEXPECTED_ANSWER: { exit: 1, title: 'Unexpected answer', hint: 'What answered at that address does not speak the hub\'s admin API: check --url (or HUB_URL).' },
} as const satisfies Record<string, ConfigErrorSpec>;

export interface ConfigErrorSpec {
  exit: 1 | 2;
  title: string;
  hint: string;
}

export type ConfigErrorCode = keyof typeof CONFIG_ERROR_CODES;

/**
 * An error of configuration (CONFIG_ERROR_CODES): callers branch on its class or `code`, never on its text. Its
 * subclasses add what their callers need (a flow file's diagnostics, the flows there are, the command line's usage).
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  get spec(): ConfigErrorSpec {
    return CONFIG_ERROR_CODES[this.code];
  }

  /** The status the CLI exits with when this error ends a command. */
  get exitCode(): 1 | 2 {
    return this.spec.exit;
  }
}
