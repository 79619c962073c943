// One client connection of an http listener, read straight off the socket: request heads are
// found and parsed here (message-head.ts), each request becomes a ProxyRequest (http-proxy.ts),
// one at a time — pipelined requests wait in the buffer until the response before them is done,
// as RFC 9112 §9.3.2 orders. No node:http objects: head and body bytes go from this socket to a
// pooled server connection and back without a stream layer in between (issue 4).
//
// Timers are not per request: the phase's deadline (request head, keep-alive, response, server
// idle) sits on the session and the session table's one sweep calls onDeadline when it passes; a
// request body that stalls is the sweep's idle check (timeouts.requestBody), answered 408 here.
//
// An Upgrade request is a request like any other until the server answers it with a matching 101;
// bytes after its head wait in the buffer meanwhile. Then the connection becomes a tunnel
// (upgrade.ts): reads keep coming through the same handler and go to the tunnel, so not one byte
// is lost between modes (issue 13 rows 1 and 4).
import type { Socket } from 'node:net';
import type { ClientInfo } from '../pool/connector.ts';
import type { ServerConnections } from './http-upstream.ts';
import type { Session, EndReason, SessionOwner } from '../session/session.ts';
import type { HttpListenerContext } from './http-listener.ts';
import { BodyReader } from './body-reader.ts';
import { forwardingContext, type ForwardingContext } from './headers.ts';
import { ByteBuffer } from '../net/byte-buffer.ts';
import { deliverReads } from '../net/client-reads.ts';
import { logSessionEnd } from '../listener/counters.ts';
import { findHeadEnd, hasBareLfHeadEnd, isHeadError, parseRequestHead, skipEmptyLines } from './message-head.ts';
import { closeSocket, resetSocket } from '../net/socket.ts';
import { ProxyRequest } from './http-proxy.ts';
import { sendRawFailure, type Failure } from './status.ts';
import type { UpgradeTunnel } from './upgrade.ts';
import { HEAD_DEADLINE, KEEP_ALIVE_DEADLINE, NO_DEADLINE, PAUSE_BACKPRESSURE, PAUSE_FOR_SERVER, PAUSE_PIPELINE, REQUEST_DEADLINE } from './connection-states.ts';


export class HttpConnection implements SessionOwner {
  readonly socket: Socket;
  readonly session: Session;
  readonly info: ClientInfo;
  readonly ctx: HttpListenerContext;
  /** What every request's header pass needs of this connection (peer, proto, port). */
  readonly forwarding: ForwardingContext;
  /** Reuse key of this client's own server connections (reuse "never"; see http-upstream.ts). */
  readonly key: string;
  /** Servers this client connection has dedicated connections on (reuse "never"). */
  readonly keyedServers = new Set<ServerConnections>();
  /** The request body framing of the request in flight (one reader per connection, reset per request). */
  readonly requestBody = new BodyReader();
  current: ProxyRequest | null = null;
  tunnel: UpgradeTunnel | null = null;
  deadlineKind = NO_DEADLINE;
  /** The client sent FIN: what is in flight is answered, then the connection closes. */
  clientEnded = false;
  closed = false;
  /** Unparsed bytes: a partial head, or the next pipelined request(s). */
  readonly #in = new ByteBuffer();
  #scanFrom = 0;
  #pause = 0;
  #parsing = false;
  #reparse = false;
  readonly #onData = (chunk: Buffer): void => this.#data(chunk);
  readonly #onEnd = (): void => this.#end();
  readonly #onClose = (hadError: boolean): void => this.#close(hadError);
  readonly #onError = (err: NodeJS.ErrnoException): void => this.#error(err);
  readonly #onDrain = (): void => (this.tunnel ?? this.current)?.onClientDrain();

  constructor(socket: Socket, info: ClientInfo, ctx: HttpListenerContext) {
    this.socket = socket;
    this.info = info;
    this.ctx = ctx;
    this.forwarding = forwardingContext(ctx.forwarded, info, ctx.proto, ctx.underscoresInHeaders);
    this.session = ctx.table.create(ctx.name, 'http', socket, info.clientAddress, info.clientPort, this, ctx.timeouts);
    this.session.state = 'established';
    this.key = `#${this.session.id}`;
    this.setDeadline(HEAD_DEADLINE, ctx.requestHeadersTimeout);
    deliverReads(socket, this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', this.#onError); // 'close' follows and does the cleanup
    socket.on('drain', this.#onDrain);
    socket.resume();
  }

  /** The client sent FIN and no pipelined bytes wait: the response in flight is the last one. */
  get endsAfterThis(): boolean {
    return this.clientEnded && this.#in.bytes === null;
  }

  setDeadline(kind: number, ms: number): void {
    this.deadlineKind = kind;
    this.session.deadline = ms > 0 ? Date.now() + ms : 0;
  }

  pauseReading(reason: number): void {
    if (this.#pause === 0) this.socket.pause();
    this.#pause |= reason;
  }

  resumeReading(reason: number): void {
    if ((this.#pause & reason) === 0) return;
    this.#pause &= ~reason;
    if (this.#pause === 0 && !this.closed) this.socket.resume();
  }

  #data(chunk: Buffer): void {
    if (this.deadlineKind === KEEP_ALIVE_DEADLINE) this.setDeadline(HEAD_DEADLINE, this.ctx.requestHeadersTimeout);
    const cur = this.current;
    if (cur !== null) {
      if (!cur.readingBody) return this.#stash(chunk);
      const e = cur.onRequestBody(chunk, 0, chunk.length);
      if (e >= 0 && e < chunk.length) this.#stash(chunk.subarray(e));
      return;
    }
    if (this.tunnel !== null) return this.tunnel.fromClient(chunk);
    this.#in.append(chunk);
    this.#parse();
  }

  /** Bytes of a request after the one in flight: kept, and reading paused once they fill a head's worth. */
  #stash(bytes: Buffer): void {
    if (this.#in.append(bytes).length >= this.ctx.maxHeaderBytes) this.pauseReading(PAUSE_PIPELINE);
  }

  /** Parses buffered requests while nothing is in flight (a loop, not recursion, for pipelines). */
  #parse(): void {
    if (this.#parsing) {
      this.#reparse = true;
      return;
    }
    this.#parsing = true;
    do {
      this.#reparse = false;
      this.#parseOne();
    } while (this.#reparse && this.current === null && this.#in.bytes !== null && !this.closed);
    this.#parsing = false;
  }

  #parseOne(): void {
    let buf = this.#in.bytes;
    if (buf === null) return;
    if (this.#scanFrom === 0) {
      const skip = skipEmptyLines(buf, 0);
      if (skip > 0) {
        this.#in.consume(skip);
        buf = this.#in.bytes;
        if (buf === null) return;
      }
    }
    const end = findHeadEnd(buf, this.#scanFrom);
    const limit = this.ctx.maxHeaderBytes;
    if (end < 0) {
      if (buf.length > limit) return this.#reject('header-too-large', 'request head too large');
      if (hasBareLfHeadEnd(buf)) return this.#reject('bad-request', 'bare LF line end');
      this.#scanFrom = Math.max(0, buf.length - 3);
      return;
    }
    if (end > limit) return this.#reject('header-too-large', 'request head too large');
    this.#scanFrom = 0;
    this.#in.consume(end);
    const head = parseRequestHead(buf, 0, end);
    if (isHeadError(head)) return this.#reject(head.tooLarge ? 'header-too-large' : 'bad-request', head.error);
    this.setDeadline(NO_DEADLINE, 0);
    const pr = new ProxyRequest(this, head);
    if (pr.error !== null) return this.#reject('bad-request', pr.error);
    this.current = pr;
    // Body bytes that came with the head are framed (and buffered) before a server is picked,
    // so a new server connection gets head and body in one write.
    const rest = this.#in.bytes;
    if (rest !== null && pr.readingBody) {
      this.#in.clear();
      const e = pr.onRequestBody(rest, 0, rest.length);
      if (e < 0) return;
      if (e < rest.length) this.#stash(rest.subarray(e));
    }
    pr.start();
  }

  /**
   * A malformed, oversized or late request head: the status, then close; nothing reaches a server.
   * It is still a request: counted and logged (headRefused) once its answer is queued, so the
   * access line's bytesOut has it.
   */
  #reject(failure: Failure, reason: string): void {
    const session = this.session;
    if (session.endReason === null) session.endReason = 'client-error';
    // The logger carries the listener. The parser's reason may name a field (a token, but as long
    // as the head limit): bounded, so a flood cannot make this line long.
    this.ctx.log.info({ client: this.info.clientAddress, reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason }, 'bad request');
    this.#stopReading();
    sendRawFailure(this.socket, failure);
    session.requests++;
    this.ctx.headRefused(this, failure);
  }

  /**
   * Once the connection is to close, nothing more it carries is a request (RFC 9112 §9.6): bytes
   * already buffered or still arriving — the rest of a body the server answered early, a request
   * sent after `Connection: close` — are read and dropped, never parsed.
   */
  #stopReading(): void {
    deliverReads(this.socket, noop);
    // Keep reading (and dropping): unread bytes at close would make the kernel send RST, which
    // can destroy the response before the client has read it.
    this.#pause = 0;
    this.socket.resume();
    this.#in.clear();
    this.setDeadline(NO_DEADLINE, 0);
  }

  /** The connection ends: reading stops now, FIN after the queued response. */
  #finish(): void {
    this.#stopReading();
    closeSocket(this.socket);
  }

  /**
   * The server switched protocols for `pr` (a matching 101): the request is done, and the
   * connection is a tunnel from now on. `head` is the 101 for the client (and the server bytes
   * after it); what the client sent after the Upgrade request goes to the server first.
   */
  startTunnel(pr: ProxyRequest, tunnel: UpgradeTunnel, head: Buffer): void {
    if (this.current !== pr) return;
    this.current = null;
    this.session.requests++;
    this.session.inBody = false;
    this.ctx.requestDone(pr, this);
    this.setDeadline(NO_DEADLINE, 0);
    this.tunnel = tunnel;
    const early = this.#in.bytes;
    this.#in.clear();
    this.#scanFrom = 0;
    tunnel.start(pr.pool!, head, early, this.clientEnded);
    if (!this.closed) this.resumeReading(PAUSE_FOR_SERVER | PAUSE_PIPELINE);
  }

  /** The request in flight is over: the next one (buffered or still to come), or close. */
  requestFinished(pr: ProxyRequest, keepAlive: boolean): void {
    if (this.current !== pr) return;
    this.current = null;
    this.session.requests++;
    this.session.inBody = false;
    this.ctx.requestDone(pr, this);
    if (this.closed) return;
    if (!keepAlive) {
      this.#finish();
      return;
    }
    this.resumeReading(PAUSE_FOR_SERVER | PAUSE_BACKPRESSURE | PAUSE_PIPELINE);
    if (this.#in.bytes !== null) {
      // Requests pipelined before the client's FIN are still answered (HAProxy and nginx do).
      this.setDeadline(HEAD_DEADLINE, this.ctx.requestHeadersTimeout);
      this.#parse();
      // After the FIN, what is left unparsed can never become a request.
      if (this.clientEnded && this.current === null && this.tunnel === null) this.#finish();
    } else if (this.clientEnded) {
      this.#finish();
    } else {
      this.setDeadline(KEEP_ALIVE_DEADLINE, this.ctx.keepAliveTimeout);
      if (this.ctx.draining) this.#finish();
    }
  }

  /** Drain: a connection between requests is closed now; a busy one after its response. */
  closeIfIdle(): void {
    if (this.current === null && this.tunnel === null && this.#in.bytes === null && !this.closed) this.#finish();
  }

  #end(): void {
    this.clientEnded = true;
    if (this.tunnel !== null) return this.tunnel.onClientEnd();
    const cur = this.current;
    // A request whose body never finished cannot be answered meaningfully: abort it.
    if (cur !== null && cur.readingBody) cur.clientGone();
    if (this.current === null) closeSocket(this.socket);
  }

  /**
   * A socket error: a reset by the client (ECONNRESET) ends the session `client-reset`, any other
   * error `client-error`, as in tcp mode — unless the session already had its reason (an answer
   * refused, a timeout, a kill). A FIN is 'end', not an error: `client-close` (#close).
   */
  #error(err: NodeJS.ErrnoException): void {
    if (this.session.endReason === null) this.session.endReason = err.code === 'ECONNRESET' ? 'client-reset' : 'client-error';
  }

  #close(hadError: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.current?.clientGone();
    this.tunnel?.onClientClose(hadError);
    for (const upstream of this.keyedServers) upstream.closeKey(this.key);
    const { session, ctx } = this;
    ctx.table.remove(session);
    ctx.connectionClosed(this);
    ctx.counters.bytesIn += session.bytesIn;
    ctx.counters.bytesOut += session.bytesOut;
    if (session.endReason === null) session.endReason = 'client-close';
    if (ctx.access) logSessionEnd(ctx.log, session);
  }

  // ---- SessionOwner ----

  terminate(session: Session, reason: EndReason, reset: boolean): boolean {
    const cur = this.current;
    if (session.inBody && cur !== null && !cur.responseStarted && (reason === 'idle-close' || reason === 'idle-reset')) {
      // The request body stalled (timeouts.requestBody): 408, then close, as for a slow head.
      if (session.endReason === null) session.endReason = 'client-error';
      session.state = 'closing';
      cur.onBodyTimeout();
      return false;
    }
    if (session.endReason === null) session.endReason = reason;
    session.state = 'closing';
    if (session.server !== null) (reset ? resetSocket : closeSocket)(session.server);
    (reset ? resetSocket : closeSocket)(this.socket);
    return true;
  }

  onDeadline(session: Session, now: number): void {
    const kind = this.deadlineKind;
    this.setDeadline(NO_DEADLINE, 0);
    if (kind === HEAD_DEADLINE) {
      if (this.#in.bytes === null) {
        // No byte of a request came (since the connection opened, or only the empty lines RFC
        // 9112 §2.2 lets us skip after a keep-alive wait): a browser's pre-connect. No
        // request timed out, so no 408 and no 4xx to count — closed as idle, as nginx does
        // (HAProxy's "option http-ignore-probes").
        if (session.endReason === null) session.endReason = 'idle-close';
        return this.#finish();
      }
      // HAProxy's "timeout http-request", Node's headersTimeout: 408, then close.
      if (session.endReason === null) session.endReason = 'client-error';
      this.#reject('request-timeout', 'request head not received in time');
    } else if (kind === KEEP_ALIVE_DEADLINE) {
      if (session.endReason === null) session.endReason = 'idle-close';
      this.#finish();
    } else if (kind === REQUEST_DEADLINE) {
      this.current?.onDeadline(now);
    }
  }
}

/** Characters of the parser's reason kept in the `bad request` line. */
const MAX_REASON = 128;

function noop(): void {}
