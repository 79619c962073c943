// One request through the proxy: route → pool → server → a pooled server connection → the
// response streamed back. The ProxyRequest is the only object made per request: it is the
// connection waiter, the server connection's exchange and (for HTTP/1.0 clients of chunked
// responses) the body sink; its methods live on the prototype, and nothing is allocated per chunk
// beyond the subarray a partial write needs (DESIGN §2.5). Heads are written as one string, and
// the first body bytes ride in the same write.
//
// Content-Length bodies go through as received, in both directions. Chunked bodies go through
// BodyReader.forward(), which re-frames them canonically and filters their trailers (issue 13 rows
// 5 and 6); the request is its ChunkedOut. The pieces of one forward() call (size lines, small
// spans, the trailer section; for a response's first read, the head before them) are copied into
// one shared batch buffer and written once when the call returns, so a small chunked response
// still leaves in one write; a span over COALESCE_BYTES is written from the read buffer (no copy).
//
// An Upgrade request (not h2c, which is stripped and sent as plain HTTP/1.1, as HAProxy and nginx
// do) takes the same path on a server connection of its own that never goes back to the pool, and
// holds the server like a tcp session. Only a 101 whose Upgrade matches what was asked becomes a
// tunnel (upgrade.ts); any other answer is an ordinary response (issue 13 row 1).
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { ConnectionWaiter } from './http-upstream.ts';
import type { UpstreamConnection, UpstreamExchange } from './upstream-connection.ts';
import type { FullproxyError } from '../errors.ts';
import type { HttpConnection } from './client-connection.ts';
import type { HttpListenerContext } from './http-listener.ts';
import type { RequestLine } from './message-head.ts';
import { CHUNKED, LENGTH, NONE, UNTIL_CLOSE, type BodyMode, type BodySink, type ChunkedOut } from './body-reader.ts';
import { buildRequestHeaders, fieldLines, VIA, type RequestHead } from './headers.ts';
import type { ResponseHead } from './response-head.ts';
import { forwardedTarget } from './request-target.ts';
import { failureResponse, FAILURE_STATUS, type Failure } from './status.ts';
import { recordSuccess } from '../health/passive.ts';
import { connectFailed, nextServer, responseFailed, retryElsewhere, type Attempt } from '../pool/connect.ts';
import { CookiePersistence, takeCookie } from '../pool/persistence.ts';
import type { ServerConnections } from './http-upstream.ts';
import { asksH2c, upgradeMatches, UpgradeTunnel } from './upgrade.ts';
import { NO_DEADLINE, PAUSE_BACKPRESSURE, PAUSE_FOR_SERVER, REQUEST_DEADLINE } from './connection-states.ts';
import { isFlushed, send } from '../net/direct-writes.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/**
 * Head and first body bytes are copied into one buffer up to this size; larger bodies are written
 * separately (corked). Also the largest chunk-data span copied into the batch below: a larger one
 * is written from the read buffer, a copy would cost more than the extra write.
 */
const COALESCE_BYTES = 16 * 1024;
/** The batch buffer's size: a 64 KiB read of small chunks fits, framing included, most of the time. */
const BATCH_BYTES = 64 * 1024 + 1024;

/**
 * Where the re-framed pieces of a chunked body gather until the write that ends one forward()
 * call (ProxyRequest.onForward, #flushBatch). One for the process: it is filled and written within
 * one synchronous call, so it is empty whenever another request can run. A write that has to wait
 * (libuv keeps referencing the bytes) takes the buffer with it and a new one is allocated; a
 * write that would queue behind other bytes gets a copy instead, so that happens at most once per
 * backpressure spell.
 */
class WriteBatch {
  bytes: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  used = 0;
}
const batch = new WriteBatch();

const TE_CHUNKED = 'transfer-encoding: chunked\r\n';
const CONN_CLOSE = 'connection: close\r\n';
const CONN_KEEP_ALIVE = 'connection: keep-alive\r\n';
const VIA_LINE = `via: ${VIA}\r\n`;
/** Reuse key of Upgrade requests' server connections: none is ever idle under it, so each is new. */
const UPGRADE_KEY = 'upgrade';

/** Via for the client: the server's values (joined) then ours. */
function viaLine(head: ResponseHead): string {
  return head.via === null ? VIA_LINE : `via: ${head.via}, ${VIA}\r\n`;
}

export class ProxyRequest implements ConnectionWaiter, UpstreamExchange, BodySink, ChunkedOut, Attempt {
  readonly conn: HttpConnection;
  /**
   * The listener's newest generation when the request started (a reload routes the next request
   * of a kept-alive connection by the new config, issue 14): its routes, pools and server
   * connections serve this request to its end, whatever reloads happen meanwhile.
   */
  readonly ctx: HttpListenerContext;
  readonly method: string;
  /** The request-target as sent to the server: origin-form for an absolute-form one (request-target.ts). */
  readonly target: string;
  readonly minor: 0 | 1;
  readonly isHead: boolean;
  /** Set when the request must get 400 (framing, Host): the connection answers and closes. */
  readonly error: string | null;
  readonly host: string;
  /** The Upgrade value of a tunnel request, else null (h2c and HTTP/1.0 requests never are). */
  readonly upgrade: string | null;
  /** The field list to send (hop-by-hop stripped, X-Forwarded-* and Via added). */
  readonly fields: string[];
  readonly sink: BodySink | null;
  /** The request head for the server, serialized once (kept for a retry); again only when our persistence cookie is taken out of it. */
  #head: string;
  readonly #hasBody: boolean;
  readonly #expectContinue: boolean;
  /** The request body has not been fully received from the client yet. */
  readingBody: boolean;
  pool: Pool | null = null;
  server: Server | null = null;
  upstream: UpstreamConnection | null = null;
  tried: Server[] | null = null;
  /** Servers picked so far (pool/connect.ts bounds the retries by pools[].retries). */
  attempts = 0;
  /** The pool's persistence cookie as the client sent it (taken out of the Cookie fields for the server), else null. */
  cookie: string | null = null;
  /** The server's connection set this request acquired from: released there, never looked up again. */
  connections: ServerConnections | null = null;
  /** Fresh-connection attempts after a reused connection died before responding. */
  staleRetries = 0;
  /** What the previous attempt died of (retries), reported when no server is left. */
  lastFailure: Failure | null = null;
  /** The server whose `active` count this request holds. */
  activeOn: Server | null = null;
  /** Body bytes received before a server connection was ready. */
  #pending: Buffer[] | null = null;
  /** The upstream connection was reused (a dead one gets one fresh retry). */
  #reused = false;
  /** onForward() output goes to the server (the request body), else to the client: true only inside onRequestBody(). */
  #toServer = false;
  /** The response head waits in the batch for the first bytes of its chunked body (onResponseHead). */
  #headHeld = false;
  /** The client connection stays open after this response. */
  keepAlive: boolean;
  responseStarted = false;
  status = 0;
  /** The failure the proxy answered with (x-fullproxy-reason), or that cut the response short: the access line's reason; null: none. */
  failure: Failure | null = null;
  done = false;
  #upstreamPaused = false;
  /** Server bytes read at the last server-idle check. */
  #seenBytes = 0;
  /**
   * Timings (performance.now() ms; numbers on the request, nothing allocated): the access line's
   * connectMs/firstByteMs/durationMs and the latency histograms (http/request-stats.ts) read them.
   * startedAt: the head was parsed; connectStartedAt: a server connection was asked for (the last
   * attempt's); sentAt: the head went to the server; firstByteAt: its first response head came (0: none).
   */
  readonly startedAt: number;
  connectStartedAt = 0;
  sentAt = 0;
  firstByteAt = 0;
  /** ms to open a new server connection (the last attempt's, queue wait included); -1 when a kept-alive one was reused. */
  connectMs = -1;

  constructor(conn: HttpConnection, line: RequestLine) {
    const ctx = conn.ctx.slot.current ?? conn.ctx;
    this.conn = conn;
    this.ctx = ctx;
    this.method = line.method;
    const t = forwardedTarget(line.method, line.target);
    this.target = t === null ? line.target : t.target;
    this.minor = line.minor;
    this.isHead = line.method === 'HEAD';
    this.startedAt = performance.now();
    this.sink = line.minor === 0 ? this : null;
    const h: RequestHead = buildRequestHeaders(line.fields, line.minor === 1 ? '1.1' : '1.0', t === null ? null : t.authority, conn.forwarding);
    this.error = t?.error ?? h.error ?? (line.method === 'CONNECT' ? 'CONNECT is not supported' : null);
    this.host = h.host;
    // RFC 9110 §7.8: a server ignores Upgrade in HTTP/1.0; h2c is not tunnelled (issue 13 row 1).
    // Either way Upgrade and Connection were stripped as hop-by-hop: a plain request goes on.
    this.upgrade = h.upgrade === null || line.minor === 0 || asksH2c(h.upgrade) ? null : h.upgrade;
    this.fields = h.headers ?? [];
    this.keepAlive = !h.close;
    this.#hasBody = h.hasBody;
    this.#expectContinue = h.expectContinue && line.minor === 1;
    this.#head = this.error !== null ? '' : this.#serializeHead();
    const body = conn.requestBody;
    if (h.chunked) body.reset(CHUNKED, 0, h.connectionNames);
    else body.reset(h.contentLength > 0 ? LENGTH : NONE, h.contentLength);
    this.readingBody = this.error === null && !body.done;
  }

  #serializeHead(): string {
    return `${this.method} ${this.target} HTTP/1.1\r\n${fieldLines(this.fields)}${this.upgrade === null ? '' : `connection: upgrade\r\nupgrade: ${this.upgrade}\r\n`}\r\n`;
  }

  /** Cookie persistence: the Set-Cookie line for the server that answered, '' when the client already holds its id (or no cookie persistence). */
  #stickyCookie(): string {
    const p = this.pool?.persistence ?? null;
    if (!(p instanceof CookiePersistence) || this.server === null) return '';
    return p.setCookieLine(this.server, this.cookie, this.ctx.proto === 'https');
  }

  start(): void {
    const { ctx, conn } = this;
    const pool = ctx.pools.get(ctx.router.match(this.host, this.target));
    if (pool === undefined) return this.#fail('no-server');
    this.pool = pool;
    conn.session.pool = pool.name;
    const persistence = pool.persistence;
    if (persistence instanceof CookiePersistence) {
      // Our cookie is ours: the server never sees it (issue 16), and the pick honours it.
      this.cookie = takeCookie(this.fields, persistence.name);
      if (this.cookie !== null) this.#head = this.#serializeHead();
    }
    if (this.readingBody) {
      // The request body has its own idle limit (timeouts.requestBody), checked by the sweep.
      conn.session.inBody = true;
      if (this.#expectContinue) conn.socket.write(CONTINUE, 'latin1');
    }
    this.#pickAndSend();
  }

  #pickAndSend(): void {
    const pool = this.pool!;
    const server = nextServer(pool, { clientAddress: this.conn.info.clientAddress, destination: this.host }, this, this.cookie);
    // After a failed attempt with no other server left, the client learns what went wrong (502/504).
    if (server === null) return this.#fail(this.lastFailure ?? 'no-server');
    this.#sendTo(server);
  }

  #sendTo(server: Server): void {
    this.server = server;
    // An Upgrade request may become a tunnel, which holds a server connection like a tcp session
    // (maxConnections counts it at pick time).
    if (this.upgrade === null) server.active++;
    else server.holdConnection();
    this.activeOn = server;
    this.conn.session.serverAddress = server.address;
    // The first attempt runs in the same turn as the head's parse: its start is startedAt (one clock read saved per request).
    this.connectStartedAt = this.attempts <= 1 && this.staleRetries === 0 ? this.startedAt : performance.now();
    // Body bytes wait in #pending until a connection is ready; the client is not read meanwhile.
    if (this.readingBody) this.conn.pauseReading(PAUSE_FOR_SERVER);
    if (this.upgrade === null) this.ctx.acquire(server, this, this.conn);
    else (this.connections = this.ctx.connectionsOf(server)).acquire(this, UPGRADE_KEY, this.conn.info, false);
  }

  // ---- request body ----

  /** Client bytes while the body is being received: returns where the body ended (-1: malformed). */
  onRequestBody(buf: Buffer, start: number, end: number): number {
    const body = this.conn.requestBody;
    let e: number;
    if (body.mode === CHUNKED) {
      this.#toServer = true;
      e = body.forward(buf, start, end, this);
      // On -1 the gathered pieces belong to a body that will never end: dropped, the server
      // connection is aborted below, so the server never sees a last chunk.
      if (e >= 0) this.#flushBatch();
      else batch.used = 0;
      this.#toServer = false;
    } else {
      e = body.read(buf, start, end, null);
      if (e > start) this.#sendBody(start === 0 && e === buf.length ? buf : buf.subarray(start, e));
    }
    if (e < 0) {
      this.ctx.log.info({ client: this.conn.info.clientAddress, reason: body.error }, 'bad request body');
      this.readingBody = false;
      this.#abortUpstream();
      this.#fail('bad-request', true);
      return -1;
    }
    if (body.done) {
      this.readingBody = false;
      this.conn.session.inBody = false;
      if (this.upstream !== null && !this.responseStarted) this.#armResponseTimeout();
    }
    return e;
  }

  #sendBody(bytes: Buffer): void {
    const up = this.upstream;
    if (up === null) {
      (this.#pending ??= []).push(bytes);
      return;
    }
    if (!send(up.socket!, bytes)) this.conn.pauseReading(PAUSE_BACKPRESSURE);
  }

  onUpstreamDrain(): void {
    this.conn.resumeReading(PAUSE_BACKPRESSURE);
  }

  // ---- connection waiter ----

  onConnection(up: UpstreamConnection): void {
    if (this.done) {
      // The client left while we waited: the connection was never used, hand it straight back.
      this.connections!.release(up, this.upgrade === null);
      return;
    }
    this.upstream = up;
    this.#reused = up.completed > 0;
    const now = performance.now();
    this.connectMs = this.#reused ? -1 : now - this.connectStartedAt;
    this.sentAt = now;
    up.begin(this);
    const socket = up.socket!;
    const pending = this.#pending;
    this.#pending = null;
    if (pending === null) send(socket, this.#head);
    else {
      socket.cork();
      socket.write(this.#head, 'latin1');
      for (const b of pending) socket.write(b);
      socket.uncork();
    }
    this.conn.resumeReading(PAUSE_FOR_SERVER);
    if (!this.readingBody) this.#armResponseTimeout();
  }

  onConnectError(err: FullproxyError): void {
    const server = this.server!;
    this.#releaseServer();
    if (this.done) return;
    // pool/connect.ts decides what the failure was, whether it counts against the server, and
    // whether another server may be tried (nothing was sent: SPEC "Retries", even for a POST).
    const { failure, retry } = connectFailed(this.pool!, server, err, this);
    this.lastFailure = failure;
    if (retry) {
      this.ctx.log.info({ server: server.address, err: err.message }, 'retrying request on another server');
      return this.#pickAndSend();
    }
    this.ctx.log.warn({ client: this.conn.info.clientAddress, server: server.address, method: this.method, url: this.target, reason: failure, err: err.message }, 'request failed');
    this.#fail(failure);
  }

  onQueueTimeout(): void {
    if (this.server !== null) this.server.queueTimeouts++;
    this.#releaseServer();
    this.#fail('queue-timeout');
  }

  // ---- response (UpstreamExchange) ----

  /**
   * 1xx from the server: forwarded to HTTP/1.1 clients (RFC 9110 §15.2: 103 Early Hints, 102),
   * never to HTTP/1.0 ones. 100 Continue is not: the proxy answers Expect itself and strips it.
   */
  onInformational(head: ResponseHead): void {
    if (this.firstByteAt === 0) this.firstByteAt = performance.now();
    if (this.minor === 0 || head.status === 100 || this.done) return;
    const extra = viaLine(head) + '\r\n';
    const out = Buffer.allocUnsafe(head.byteLength(extra));
    head.writeTo(out, 0, extra);
    if (!send(this.conn.socket, out)) this.#pauseUpstream();
  }

  onResponseHead(head: ResponseHead, mode: BodyMode, buf: Buffer, start: number, end: number): void {
    const conn = this.conn;
    if (this.firstByteAt === 0) this.firstByteAt = performance.now();
    this.responseStarted = true;
    this.status = head.status;
    // A request body still arriving cannot be resynchronised after an early response: close after it.
    if (mode === UNTIL_CLOSE || (mode === CHUNKED && this.minor === 0) || this.readingBody || conn.endsAfterThis || this.ctx.draining) this.keepAlive = false;
    const extra = (mode === CHUNKED && this.minor === 1 ? TE_CHUNKED : '') + (!this.keepAlive ? CONN_CLOSE : this.minor === 0 ? CONN_KEEP_ALIVE : '') + viaLine(head) + this.#stickyCookie() + '\r\n';
    if (mode !== NONE) {
      this.#seenBytes = this.upstream!.socket!.bytesRead;
      conn.setDeadline(REQUEST_DEADLINE, this.pool!.config.timeouts.serverIdle);
    } else conn.setDeadline(NO_DEADLINE, 0);
    const n = end - start;
    const headBytes = head.byteLength(extra);
    if (mode === CHUNKED && this.sink === null) {
      // Held in the batch: forward() appends the first body bytes, forwarded() writes both at once.
      // A malformed first piece comes as onUpstreamError instead, before anything was sent.
      this.#reserve(headBytes);
      batch.used = head.writeTo(batch.bytes, batch.used, extra);
      this.#headHeld = true;
      return;
    }
    let ok: boolean;
    if (n <= COALESCE_BYTES) {
      // One buffer, one write, one syscall: the head and the first body bytes.
      const out = Buffer.allocUnsafe(headBytes + n);
      const o = head.writeTo(out, 0, extra);
      if (n > 0) buf.copy(out, o, start, end);
      ok = send(conn.socket, out);
    } else {
      const out = Buffer.allocUnsafe(headBytes);
      head.writeTo(out, 0, extra);
      conn.socket.cork();
      conn.socket.write(out);
      ok = conn.socket.write(buf.subarray(start, end));
      conn.socket.uncork();
    }
    if (!ok) this.#pauseUpstream();
  }

  flushed(): boolean {
    return isFlushed(this.conn.socket);
  }

  onResponseBody(buf: Buffer, start: number, end: number): void {
    if (!send(this.conn.socket, start === 0 && end === buf.length ? buf : buf.subarray(start, end))) this.#pauseUpstream();
  }

  /** Decoded payload (HTTP/1.0 client): written as is, the connection's end delimits it. */
  onBodyData(buf: Buffer, start: number, end: number): void {
    this.onResponseBody(buf, start, end);
  }

  // ---- chunked bodies re-framed (ChunkedOut): the request body when #toServer, else the response body ----

  /** Framing, then a span: small ones are copied into the batch, a large span is written from `buf` after it. */
  onForward(framing: string, buf: Buffer, start: number, end: number): void {
    const n = end - start;
    const large = n > COALESCE_BYTES;
    const copied = framing.length + (large ? 0 : n);
    if (copied > 0) {
      this.#reserve(copied);
      let o = batch.used;
      if (framing !== '') o += batch.bytes.write(framing, o, 'latin1');
      if (!large && n > 0) o += buf.copy(batch.bytes, o, start, end);
      batch.used = o;
    }
    if (large) {
      this.#flushBatch();
      this.#out(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    }
  }

  /** One forward() call of the response body is over: its pieces go out in one write. */
  forwarded(): void {
    this.#flushBatch();
  }

  /** Room for `n` more bytes in the batch: what it holds is written first if they do not fit. */
  #reserve(n: number): void {
    if (batch.used + n <= batch.bytes.length) return;
    this.#flushBatch();
    // Only a head or a trailer section near its 64 KiB limit is larger: the batch grows for good.
    if (n > batch.bytes.length) batch.bytes = Buffer.allocUnsafeSlow(n);
  }

  #flushBatch(): void {
    const n = batch.used;
    if (n === 0) return;
    batch.used = 0;
    this.#headHeld = false;
    const socket = this.#toServer ? (this.upstream?.socket ?? null) : this.conn.socket;
    if (socket === null || !isFlushed(socket)) {
      // Kept for a server connection not ready yet, or queued behind other bytes: a copy of its own.
      return this.#out(Buffer.from(batch.bytes.subarray(0, n)));
    }
    this.#out(batch.bytes.subarray(0, n));
    // libuv keeps the bytes it could not write at once: the buffer belongs to that write now.
    if (!isFlushed(socket)) batch.bytes = Buffer.allocUnsafeSlow(batch.bytes.length);
  }

  #out(bytes: Buffer): void {
    if (this.#toServer) this.#sendBody(bytes);
    else if (!send(this.conn.socket, bytes)) this.#pauseUpstream();
  }

  #pauseUpstream(): void {
    this.#upstreamPaused = true;
    this.upstream?.socket?.pause();
  }

  onClientDrain(): void {
    if (!this.#upstreamPaused) return;
    this.#upstreamPaused = false;
    this.upstream?.socket?.resume();
  }

  onResponseEnd(): void {
    if (this.done) return;
    if (this.server !== null) recordSuccess(this.server);
    this.#finish();
  }

  /** A 101: the tunnel when it answers what was asked, else 502 and the client connection closes. */
  onUpgrade(head: ResponseHead, protocol: string | null, buf: Buffer, start: number, end: number): void {
    const up = this.upstream;
    if (this.done || up === null) return;
    if (this.firstByteAt === 0) this.firstByteAt = performance.now();
    if (this.upgrade === null || protocol === null || !upgradeMatches(this.upgrade, protocol)) {
      this.ctx.log.warn({ client: this.conn.info.clientAddress, server: this.server?.address, url: this.target, asked: this.upgrade, answered: protocol }, 'request failed: 101 does not answer the request');
      return this.#fail('bad-response', true);
    }
    const server = this.server!;
    // The tunnel takes over the server connection and the hold on the server.
    this.upstream = null;
    this.activeOn = null;
    if (this.#upstreamPaused) {
      this.#upstreamPaused = false;
      up.socket?.resume();
    }
    this.done = true;
    this.responseStarted = true;
    this.status = 101;
    this.keepAlive = false;
    recordSuccess(server);
    const extra = `connection: upgrade\r\nupgrade: ${protocol}\r\n${viaLine(head)}${this.#stickyCookie()}\r\n`;
    const out = Buffer.allocUnsafe(head.byteLength(extra) + (end - start));
    buf.copy(out, head.writeTo(out, 0, extra), start, end);
    this.conn.startTunnel(this, new UpgradeTunnel(this.conn, up, server), out);
  }

  onUpstreamError(failure: Failure, detail: string): void {
    // After a failed forward() its pieces are still in the batch (nothing else can be: the batch
    // is empty between synchronous calls): dropped. A held head was never sent, so the client
    // still gets a status (502) rather than a truncated response.
    batch.used = 0;
    if (this.#headHeld) {
      this.#headHeld = false;
      this.responseStarted = false;
    }
    const server = this.server!;
    const reused = this.#reused;
    this.#releaseConnection(false);
    this.#releaseServer();
    if (this.done) return;
    this.lastFailure = failure;
    if (this.responseStarted) {
      // Too late for a status: the client sees a truncated response, the honest signal.
      this.ctx.log.warn({ client: this.conn.info.clientAddress, server: server.address, url: this.target, reason: failure, err: detail }, 'response cut short');
      this.keepAlive = false;
      this.conn.socket.destroy();
      return this.#finish();
    }
    if (failure === 'server-reset' && reused && this.staleRetries < 2 && !this.#hasBody && IDEMPOTENT.has(this.method)) {
      // A kept-alive connection the server had already closed (the keep-alive race): the
      // request never reached the application, so send it again on the same server.
      this.staleRetries++;
      server.retries++;
      return this.#sendTo(server);
    }
    // Passive health (issue 16): a malformed response, or a reset before any response byte on a
    // fresh connection, is the server's failure. A reused connection's reset is not counted: the
    // server may just have closed it idle (the keep-alive race), which says nothing of its health.
    if (failure === 'bad-response' || (failure === 'server-reset' && !reused)) responseFailed(this.pool!, server, failure);
    // A fresh connection closed or reset before any response byte: the server went away with the
    // request in flight (a crash, a restart, a flapping server). An idempotent request without a
    // body may be sent twice (RFC 9110 §9.2.2): another server gets it, within `retries`, as
    // nginx's proxy_next_upstream error and HAProxy's retry-on empty-response do. Never a request
    // with a body, and never once a response byte came.
    if (failure === 'server-reset' && !reused && this.firstByteAt === 0 && this.upgrade === null && !this.#hasBody && IDEMPOTENT.has(this.method) && retryElsewhere(this.pool!, server, this)) {
      this.ctx.log.info({ server: server.address, err: detail }, 'retrying request on another server');
      return this.#pickAndSend();
    }
    this.ctx.log.warn({ client: this.conn.info.clientAddress, server: server.address, method: this.method, url: this.target, reason: failure, err: detail }, 'request failed');
    this.#fail(failure);
  }

  // ---- timeouts (the session sweep calls these through the connection) ----

  #armResponseTimeout(): void {
    this.conn.setDeadline(REQUEST_DEADLINE, this.pool!.config.timeouts.response);
  }

  /** The request body stalled past timeouts.requestBody before any response: 408, then close (issue 13 row 11). */
  onBodyTimeout(): void {
    this.ctx.log.info({ client: this.conn.info.clientAddress, method: this.method, url: this.target }, 'request body not received in time');
    this.#abortUpstream();
    this.#fail('request-timeout', true);
  }

  onDeadline(now: number): void {
    const up = this.upstream;
    if (this.done || up === null) return;
    if (!this.responseStarted) {
      this.ctx.log.warn({ client: this.conn.info.clientAddress, server: this.server?.address, method: this.method, url: this.target, reason: 'response-timeout' }, 'request failed');
      this.#abortUpstream();
      return this.#fail('response-timeout');
    }
    const read = up.socket!.bytesRead;
    if (read !== this.#seenBytes) {
      // Still moving: check again one server-idle period from now.
      this.#seenBytes = read;
      this.conn.session.deadline = now + this.pool!.config.timeouts.serverIdle;
      this.conn.deadlineKind = REQUEST_DEADLINE;
      return;
    }
    this.ctx.log.warn({ server: this.server?.address, url: this.target }, 'server idle in the middle of a response');
    this.onUpstreamError('response-timeout', 'server idle');
  }

  // ---- endings ----

  #fail(failure: Failure, close = false): void {
    if (this.done) return;
    this.status = FAILURE_STATUS[failure];
    this.failure = failure;
    if (this.responseStarted) {
      this.conn.socket.destroy();
      this.keepAlive = false;
      return this.#finish();
    }
    if (close || this.readingBody || this.ctx.draining || this.conn.endsAfterThis) this.keepAlive = false;
    const socket = this.conn.socket;
    if (socket.writable) socket.write(failureResponse(failure, !this.keepAlive ? 'close' : this.minor === 0 ? 'keep-alive' : null), 'latin1');
    this.#finish();
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    // An Upgrade request's connection is its own: never back to the pool, whatever the answer.
    this.#releaseConnection(!this.readingBody && this.upgrade === null);
    this.#releaseServer();
    this.conn.requestFinished(this, this.keepAlive);
  }

  /** The client went away mid-request: cancel the server side (issue 3 §6). */
  clientGone(): void {
    if (this.done) return;
    this.done = true;
    this.keepAlive = false;
    this.#abortUpstream();
    this.#releaseServer();
    this.conn.requestFinished(this, false);
  }

  #abortUpstream(): void {
    const up = this.upstream;
    if (up === null) return;
    up.reusable = false;
    this.#releaseConnection(false);
  }

  #releaseConnection(reusable: boolean): void {
    const up = this.upstream;
    if (up === null) return;
    this.upstream = null;
    if (this.#upstreamPaused) {
      this.#upstreamPaused = false;
      up.socket?.resume();
    }
    this.connections!.release(up, reusable && up.reusable && !up.closed);
  }

  #releaseServer(): void {
    const s = this.activeOn;
    if (s !== null) {
      if (this.upgrade === null) s.active--;
      else s.releaseConnection();
      this.activeOn = null;
    }
  }
}

