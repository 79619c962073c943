// THE connect path's rules, shared by tcp sessions, http requests and Upgrade tunnels (issue 14):
// pick a server not tried yet, and after a failed connect decide — once, here — what the failure
// was, whether it is the server's fault (connect errors, passive health) and whether to try
// another server. The callers differ only in how they hold a server and what they do with the
// socket (tcp-proxy.ts pipes it; http-upstream.ts pools it).
//
//   next(pool, ctx, attempt) ─▶ server | null
//   connector.connect(...)   ─▶ ok: connectSucceeded(server)
//                            └─▶ err: connectFailed(pool, server, err, attempt) ─▶ { failure, retry }
//
// Our own source-port exhaustion is never the server's fault: no connect error, no passive
// failure, no retry (issue 6; the Upgrade path used to count it against the server).
import type { ConnectFailure, FullproxyError } from '../errors.ts';
import type { PickContext } from '../scheduler/scheduler.ts';
import type { Pool } from './pool.ts';
import type { Server } from './server.ts';
import { recordFailure, recordSuccess } from '../health/passive.ts';

/** The servers one session or request has tried, and how many attempts it made. */
export interface Attempt {
  /** Servers already tried (allocated on the first retry only). */
  tried: Server[] | null;
  /** Connect attempts made so far. */
  attempts: number;
}

export interface ConnectOutcome {
  /** What the attempt died of (src/errors.ts); status.ts maps it to 502 / 504 / 503 for http. */
  failure: ConnectFailure;
  /** Try another server: nothing was sent, the failure was the server's, and `retries` allows it. */
  retry: boolean;
}

/**
 * The server for the next attempt (a retry avoids the servers already tried, the sticky one
 * included: persistence re-sticks the client to the one picked instead); null: none left.
 * `cookie`: the persistence cookie's value of an http request (pool/persistence.ts), else null.
 */
export function nextServer(pool: Pool, ctx: PickContext, attempt: Attempt, cookie: string | null = null): Server | null {
  const server = pool.pick(ctx, attempt.tried, cookie);
  if (server !== null) attempt.attempts++;
  return server;
}

/**
 * A connect to `server` failed. Counts it against the server when it was the server's fault
 * (connectErrors, connectTimeouts, passive health), and says whether the caller may try another
 * server (counted in its `retries` when so): SPEC
 * "Retries" — only when the connection failed before any byte was sent, which a failed connect
 * guarantees, up to `pools[].retries` more attempts.
 */
export function connectFailed(pool: Pool, server: Server, err: FullproxyError | null, attempt: Attempt): ConnectOutcome {
  // The connector's error carries its reason as its code; no error at all is a failed connect.
  const failure: ConnectFailure = err?.code ?? 'connect-failed';
  if (failure === 'source-exhausted') return { failure, retry: false };
  server.connectErrors++;
  if (failure === 'connect-timeout') server.connectTimeouts++;
  recordFailure(pool, server, failure, Date.now());
  return { failure, retry: retryElsewhere(pool, server, attempt) };
}

/**
 * Whether an attempt that failed on `server` may go on to another server: up to `pools[].retries`
 * more attempts, and `server` is not picked again. Asked for every failed connect (nothing was
 * sent), and by http-proxy.ts for an idempotent request without a body whose fresh connection
 * closed before any response byte (a server that went away with the request in flight).
 */
export function retryElsewhere(pool: Pool, server: Server, attempt: Attempt): boolean {
  if (attempt.attempts > pool.config.retries) return false;
  (attempt.tried ??= []).push(server);
  server.retries++;
  return true;
}

/** A connect succeeded: the server's run of passive failures ends. */
export function connectSucceeded(server: Server): void {
  recordSuccess(server);
}

/**
 * Live http traffic failed on `server` after the connect: the connection was reset or closed before
 * any response byte, or the response was malformed (the 502-class failures). Counted toward `fall`
 * like a failed connect (issue 16). Not for timeouts (504: a slow server is not a dead one) or for
 * a reused idle connection the server closed as it may (keep-alive race: retried, not its fault).
 */
export function responseFailed(pool: Pool, server: Server, reason: string): void {
  recordFailure(pool, server, reason, Date.now());
}
