// One request through the proxy: route → pool → server → a pooled server connection → stream the
// response back. One ProxyRequest object per request is the undici dispatch handler; its methods
// live on the prototype and nothing is allocated per chunk (DESIGN §2.5). We use undici's
// native handler interface (onConnect/onHeaders/onData/onComplete/onError): undici calls it
// directly with the raw header buffers, where the newer controller interface is wrapped and its
// headers parsed into an object we would only flatten again.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { ConnectionWaiter, UpstreamConnection } from '../pool/http-upstream.ts';
import type { HttpSessionState, HttpListenerContext } from './http-listener.ts';
import { buildRequestHeaders, buildResponseHeaders, trailersToObject } from './headers.ts';
import { sendFailure, type Failure } from './status.ts';
import { recordFailure, recordSuccess } from '../health/passive.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class ProxyRequest implements ConnectionWaiter {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly state: HttpSessionState;
  readonly ctx: HttpListenerContext;
  pool: Pool | null = null;
  server: Server | null = null;
  conn: UpstreamConnection | null = null;
  headers: string[] | null = null;
  hasBody = false;
  tried: Server[] | null = null;
  /** Server attempts after a connect failure (bounded by pools[].retries). */
  retries = 0;
  /** Fresh-connection attempts after a reused connection died before responding. */
  staleRetries = 0;
  /** What the previous attempt died of (retries), reported when no server is left. */
  lastFailure: Failure | null = null;
  /** The server whose `active` count this request holds. */
  activeOn: Server | null = null;
  responseStarted = false;
  done = false;
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  readonly startedAt: number;
  readonly #onResClose: () => void;
  readonly #onDrain: () => void;

  constructor(req: IncomingMessage, res: ServerResponse, state: HttpSessionState, ctx: HttpListenerContext) {
    this.req = req;
    this.res = res;
    this.state = state;
    this.ctx = ctx;
    this.startedAt = Date.now();
    // Two bound callbacks per request (not per chunk): client abort and write backpressure.
    this.#onResClose = () => this.#clientGone();
    this.#onDrain = () => this.resume?.();
  }

  start(): void {
    const { req, ctx, state } = this;
    const head = buildRequestHeaders(req.rawHeaders, req.httpVersion, ctx.forwarded, state.info.clientAddress, ctx.proto, state.info.localPort);
    if (head.headers === null) {
      ctx.log.info({ client: state.info.clientAddress, reason: head.error }, 'bad request');
      return this.#fail('bad-request', true);
    }
    this.headers = head.headers;
    this.hasBody = head.hasBody;
    const poolName = ctx.router.match(req.headers.host, req.url ?? '/');
    const pool = ctx.pools.get(poolName);
    if (pool === undefined) return this.#fail('no-server');
    this.pool = pool;
    this.state.session.pool = pool.name;
    this.res.once('close', this.#onResClose);
    if (this.hasBody && !req.complete) {
      // The request body has its own idle limit (timeouts.requestBody), checked by the sweep.
      state.session.inBody = true;
      req.once('end', () => (state.session.inBody = false));
    }
    this.#pickAndSend();
  }

  #pickAndSend(): void {
    const pool = this.pool!;
    const server = pool.pick({ clientAddress: this.state.info.clientAddress, destination: this.req.headers.host ?? '' }, this.tried);
    // After a failed attempt with no other server left, the client learns what went wrong (502/504).
    if (server === null) return this.#fail(this.lastFailure ?? 'no-server');
    this.#sendTo(server);
  }

  #sendTo(server: Server): void {
    this.server = server;
    server.active++;
    this.activeOn = server;
    this.state.session.serverAddress = server.address;
    this.ctx.acquire(server, this, this.state);
  }

  onQueueTimeout(): void {
    this.#releaseServer();
    this.#fail('queue-timeout');
  }

  onConnection(conn: UpstreamConnection): void {
    if (this.done) {
      // The client left while we waited: hand the connection straight back.
      this.ctx.upstreams.get(this.server!)!.release(conn, true);
      return;
    }
    this.conn = conn;
    const opts: Dispatcher.DispatchOptions = {
      path: this.req.url ?? '/',
      method: this.req.method as Dispatcher.HttpMethod,
      headers: this.headers!,
      body: this.hasBody ? this.req : null,
      idempotent: false, // retries are ours (SPEC "Retries"), not undici's
      blocking: false,
      reset: false,
    };
    conn.client.dispatch(opts, this as unknown as Dispatcher.DispatchHandler);
  }

  // ---- undici dispatch handler (native interface) ----

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx other than 101: informational, not forwarded
    this.responseStarted = true;
    this.resume = resume;
    const res = this.res;
    if (this.done || res.destroyed) return false;
    res.writeHead(statusCode, statusText, buildResponseHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    if (res.destroyed) return false;
    if (res.write(chunk)) return true;
    res.once('drain', this.#onDrain);
    return false;
  }

  onComplete(trailers: Buffer[] | null): void {
    if (trailers !== null && trailers.length > 0) this.res.addTrailers(trailersToObject(trailers));
    this.res.end();
    this.#finish(true);
  }

  onError(err: Error & { code?: string }): void {
    const conn = this.conn;
    const reused = conn !== null && conn.completed > 0;
    const failure = classify(err);
    const server = this.server!;
    this.#releaseConnection(false);
    this.#releaseServer();
    if (this.done) return;
    if (failure === 'connect-failed' || failure === 'connect-timeout') {
      server.connectErrors++;
      recordFailure(this.pool!, server, err.code ?? failure, Date.now());
    }
    this.lastFailure = failure;
    if (!this.responseStarted) {
      if ((failure === 'connect-failed' || failure === 'connect-timeout') && this.retries < this.pool!.config.retries) {
        // Nothing was sent: another server (SPEC "Retries"), even for a POST.
        this.retries++;
        (this.tried ??= []).push(server);
        this.ctx.log.info({ server: server.address, err: err.message }, 'retrying request on another server');
        return this.#pickAndSend();
      }
      if (failure === 'server-reset' && reused && this.staleRetries < 2 && !this.hasBody && IDEMPOTENT.has(this.req.method ?? '')) {
        // A kept-alive connection the server had already closed (the keep-alive race): the
        // request never reached the application, so send it again on the same server.
        this.staleRetries++;
        return this.#sendTo(server);
      }
    }
    this.ctx.log.warn({ client: this.state.info.clientAddress, server: server.address, method: this.req.method, url: this.req.url, reason: failure, err: err.message }, 'request failed');
    this.#fail(failure);
  }

  #fail(failure: Failure, close = false): void {
    if (this.done) return;
    sendFailure(this.res, failure, close);
    this.#finish(false);
  }

  #finish(ok: boolean): void {
    if (this.done) return;
    this.done = true;
    this.res.removeListener('close', this.#onResClose);
    if (ok) {
      if (this.server !== null) recordSuccess(this.server);
      this.#releaseConnection(true);
      this.#releaseServer();
    }
    this.state.requestDone(this);
  }

  #clientGone(): void {
    if (this.done) return;
    // The client went away mid-request: cancel the server side (issue 3 §6).
    this.done = true;
    this.abort?.(new Error('client aborted'));
    this.#releaseConnection(false);
    this.#releaseServer();
    this.state.requestDone(this);
  }

  #releaseConnection(reusable: boolean): void {
    const conn = this.conn;
    if (conn === null) return;
    this.conn = null;
    this.ctx.upstreams.get(this.server!)!.release(conn, reusable);
  }

  #releaseServer(): void {
    if (this.activeOn !== null) {
      this.activeOn.active--;
      this.activeOn = null;
    }
  }
}

/** undici and connector errors → the client-facing failure (status.ts maps it to a status). */
export function classify(err: Error & { code?: string }): Failure {
  switch (err.code) {
    case 'FP_ERR_CONNECT_FAILED':
    case 'ECONNREFUSED':
      return 'connect-failed';
    case 'FP_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect-timeout';
    case 'FP_ERR_SOURCE_EXHAUSTED':
      return 'source-exhausted';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'response-timeout';
    case 'HPE_INVALID_CONSTANT':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'bad-response';
    default:
      if (err.code?.startsWith('HPE_') === true || err.name === 'HTTPParserError') return 'bad-response';
      return 'server-reset';
  }
}
