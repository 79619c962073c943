// The one vocabulary of what went wrong: the names clients and logs see. An http error response
// carries its failure in `x-fullproxy-reason` (http/status.ts gives each its status); every
// session's access line says why it ended (`reason`). docs/errors.md has one row per name, a test
// (test/repo-rules.test.ts) keeps the table and these lists in step, and test/e2e/errors/
// produces every name through a real proxy.
//
// There are no separate error codes: the errors the code matches on (the connector's) carry the
// reason name itself as `code`, so what a caller tests is what the client and the log see.

/** What an http request failed of, sent as `x-fullproxy-reason` with FAILURE_STATUS's status. */
export const HTTP_FAILURES = [
  'bad-request',
  'header-too-large',
  'request-timeout',
  'no-server',
  'queue-timeout',
  'source-exhausted',
  'connect-failed',
  'server-reset',
  'bad-response',
  'connect-timeout',
  'response-timeout',
] as const;

export type Failure = (typeof HTTP_FAILURES)[number];

/** Why a session ended: one word each, logged in the `session end` access line (issue 2 §6). */
export const END_REASONS = [
  'client-close',
  'server-close',
  'client-reset',
  'server-reset',
  'client-error',
  'server-error',
  'idle-reset',
  'idle-close',
  'connect-failed',
  'connect-timeout',
  'no-server',
  'queue-timeout',
  'source-exhausted',
  'drain',
  'rejected',
  'killed',
] as const;

export type EndReason = (typeof END_REASONS)[number];

/** What a connect attempt died of: an http failure and a session end reason alike (Extract: a
 *  name dropped from either list no longer compiles where it is produced). */
export type ConnectFailure = Extract<Failure & EndReason, 'connect-failed' | 'connect-timeout' | 'source-exhausted'>;

/**
 * A failed connect (pool/connector.ts makes every one): `code` is its reason, matched by callers
 * (pool/connect.ts, health checks); the message says what happened, for the log.
 */
export class FullproxyError extends Error {
  readonly code: ConnectFailure;
  constructor(code: ConnectFailure, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FullproxyError';
    this.code = code;
  }
}
