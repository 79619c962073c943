// One kept-alive server connection in http mode: the raw socket from connector.ts, the response
// head parser and the body framing of the request in flight. It reads responses and hands them to
// the exchange (http-proxy.ts) that owns it between acquire and release; it never writes to the
// client itself. One request at a time (no pipelining toward servers, like HAProxy and nginx).
// Content-Length and close-delimited bodies are handed over as received; a chunked body goes
// through BodyReader.forward(), which re-frames it canonically and filters its trailers (issue 13
// rows 5 and 6), one forwarded() per read so the exchange writes each read's output once.
//
// A 101 Switching Protocols is handed to the exchange (onUpgrade), never read as HTTP: the
// exchange either makes the connection a tunnel (startTunnel: from then on every read goes to the
// tunnel peer, upgrade.ts, since the socket's onread callback is ours for its whole life) or
// releases it, and it is never pooled again (issue 13 row 1).
import type { OnReadOpts, Socket } from 'node:net';
import { ReadBuffers } from '../net/read-buffers.ts';
import { ByteBuffer } from '../net/byte-buffer.ts';
import { BodyReader, CHUNKED, LENGTH, NONE, UNTIL_CLOSE, type BodyMode, type BodySink, type ChunkedOut } from './body-reader.ts';
import { findHeadEnd, hasBareLfHeadEnd } from './message-head.ts';
import { ResponseHead } from './response-head.ts';
import type { Failure } from './status.ts';

/** A response head larger than this is a bad response (nginx's default large buffer is 8–32 KiB). */
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * The request using a connection: what it is told about the response. As the ChunkedOut of a
 * chunked body (when `sink` is null) it gets the re-framed body from BodyReader.forward(), then
 * forwarded() once per read: write what was gathered.
 */
export interface UpstreamExchange extends ChunkedOut {
  /** The request was HEAD: the response has no body whatever its headers say. */
  readonly isHead: boolean;
  /** True when nothing of the bytes handed over so far is still queued (read buffers can be reused). */
  flushed(): boolean;
  /** Payload receiver when the body must be decoded (HTTP/1.0 client and a chunked response); null forwards the body. */
  readonly sink: BodySink | null;
  /** An informational (1xx) response other than 101, before the final one (valid until the next scan). */
  onInformational(head: ResponseHead): void;
  /**
   * The final response head; `buf[start, end)` is the first piece of its body (Content-Length or
   * close-delimited, `sink` null). For a chunked body forwarded re-framed the span is empty: the
   * exchange holds the head, the first piece follows through onForward() and forwarded(), so head
   * and first bytes still make one write; if that piece is malformed, onUpstreamError comes
   * instead of forwarded() and the head was never sent (a 502 is still possible) unless chunk data
   * too large to copy came before the error and pushed it out.
   */
  onResponseHead(head: ResponseHead, mode: BodyMode, buf: Buffer, start: number, end: number): void;
  /** More body bytes as received (Content-Length or close-delimited body, `sink` null). */
  onResponseBody(buf: Buffer, start: number, end: number): void;
  /** The end of one forward() call's output (chunked body, `sink` null): write what onForward() gathered. */
  forwarded(): void;
  onResponseEnd(): void;
  /** The connection failed before the response was complete. */
  onUpstreamError(failure: Failure, detail: string): void;
  /** The request body may be written again (backpressure). */
  onUpstreamDrain(): void;
  /**
   * A 101 Switching Protocols (valid until the next scan): `protocol` is its Upgrade value (null
   * when absent), `buf[start, end)` the bytes after its head. The connection is no longer the
   * exchange's for HTTP and never reusable: it calls startTunnel or releases it.
   */
  onUpgrade(head: ResponseHead, protocol: string | null, buf: Buffer, start: number, end: number): void;
}

/** Who gets the server's bytes once the connection is a tunnel (upgrade.ts). */
export interface TunnelPeer {
  /** True when nothing handed over so far is still queued toward the client. */
  flushed(): boolean;
  onServerData(chunk: Buffer): void;
  /** The server sent FIN (half-close). */
  onServerEnd(): void;
  /** The server socket is gone: closed, or `reset` by an error. */
  onServerGone(reset: boolean): void;
  onUpstreamDrain(): void;
}

/** Told when a connection is gone, so the pool forgets it. */
export interface ConnectionOwner {
  connectionClosed(conn: UpstreamConnection): void;
}

export class UpstreamConnection {
  readonly key: string;
  readonly #owner: ConnectionOwner;
  socket: Socket | null = null;
  /** Requests completed on this connection: > 0 means proven (HAProxy "safe" reuse). */
  completed = 0;
  busy = false;
  closed = false;
  /** When it went idle (ms epoch), for pools[].connectionPool.idleTimeout and trimming. */
  idleSince = 0;
  /** The server's Keep-Alive: timeout=N, in ms (0 = not advertised). */
  keepAliveMs = 0;
  /** The response in flight leaves the connection reusable (keep-alive, framing complete). */
  reusable = true;
  exchange: UpstreamExchange | null = null;
  /** Set once a 101 made this connection a tunnel: every read goes there. */
  #tunnel: TunnelPeer | null = null;
  readonly body = new BodyReader();
  /** The response head being handled (one per connection, reused). */
  readonly head = new ResponseHead();
  /** The response head seen so far when it spans several reads. */
  readonly #partial = new ByteBuffer();
  #inBody = false;
  #scanFrom = 0;
  readonly #reads = new ReadBuffers();
  /** The socket reads into our buffers (connector.ts passes this to net.connect). */
  readonly onread: OnReadOpts = {
    buffer: this.#reads.next,
    callback: (n: number, buf: Uint8Array): boolean => {
      this.#read(n, buf as Buffer);
      return true;
    },
  };
  readonly #onEnd = (): void => this.#eof();
  readonly #onClose = (): void => this.#gone('server-reset', 'connection closed', false);
  readonly #onError = (err: Error): void => this.#gone('server-reset', err.message, true);
  readonly #onDrain = (): void => (this.exchange ?? this.#tunnel)?.onUpstreamDrain();

  constructor(key: string, owner: ConnectionOwner) {
    this.key = key;
    this.#owner = owner;
  }

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', this.#onError);
    socket.on('drain', this.#onDrain);
  }

  /** The exchange takes the connection for one request. */
  begin(exchange: UpstreamExchange): void {
    this.exchange = exchange;
    this.reusable = true;
    this.#partial.clear();
    this.#scanFrom = 0;
    this.#inBody = false;
  }

  /** After a 101 the exchange hands the connection to a tunnel: reads go to `peer` from now on. */
  startTunnel(peer: TunnelPeer): void {
    this.exchange = null;
    this.reusable = false;
    this.#tunnel = peer;
  }

  /** Closes the socket (FIN when idle and clean, else destroy); the owner is told once. */
  destroy(): void {
    const s = this.socket;
    this.exchange = null;
    if (s !== null && !s.destroyed) s.destroy();
    this.#closedNow();
  }

  #closedNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.#owner.connectionClosed(this);
  }

  /** One read: handled, then the buffer goes back unless its bytes may still be referenced. */
  #read(n: number, buf: Buffer): void {
    const ex = this.exchange;
    this.#data(this.#reads.own(n, buf));
    this.#reads.release(buf, ex !== null ? ex.flushed() : this.#tunnel === null || this.#tunnel.flushed());
  }

  #data(chunk: Buffer): void {
    const ex = this.exchange;
    if (ex === null) {
      if (this.#tunnel !== null) return this.#tunnel.onServerData(chunk);
      // Bytes nobody asked for (a server speaking out of turn): the connection is out of sync.
      this.destroy();
      return;
    }
    if (this.#inBody) return this.#body(ex, chunk, 0);
    // Partial heads are kept in our own memory (the read buffer goes back to the free list).
    const buf = this.#partial.length === 0 ? chunk : this.#partial.append(chunk);
    let start = 0;
    // A head arriving in pieces is searched from where the last search stopped, not from its start.
    let from = this.#scanFrom;
    this.#scanFrom = 0;
    for (;;) {
      const end = findHeadEnd(buf, start + from);
      if (end < 0) {
        if (buf.length - start > MAX_RESPONSE_HEAD) return this.#fail(ex, 'bad-response', 'response head too large');
        // A head ending in bare LFs never completes: 502 now, not after the response timeout
        // (issue 13 row 9; the request side does the same). Only the bytes new since the last look.
        if (hasBareLfHeadEnd(buf.subarray(start + Math.max(0, from - 1)))) return this.#fail(ex, 'bad-response', 'bare LF line end in the response head');
        this.#scanFrom = Math.max(0, buf.length - start - 3);
        if (buf !== chunk) this.#partial.consume(start);
        else this.#partial.append(Buffer.from(buf.subarray(start)));
        return;
      }
      from = 0;
      if (end - start > MAX_RESPONSE_HEAD) return this.#fail(ex, 'bad-response', 'response head too large');
      const head = this.head;
      if (!head.scan(buf, start, end)) return this.#fail(ex, 'bad-response', head.error ?? 'malformed response head');
      if (head.status < 200) {
        if (head.status === 101) {
          // Whatever follows is not HTTP any more: the exchange tunnels it or drops the connection.
          this.reusable = false;
          this.exchange = null;
          this.#partial.clear(); // `buf` keeps the bytes after the head
          return ex.onUpgrade(head, head.upgrade, buf, end, buf.length);
        }
        ex.onInformational(head);
        if (this.exchange !== ex) return;
        start = end;
        continue;
      }
      this.#partial.clear(); // `buf` keeps the bytes for the body read below
      let mode: BodyMode;
      if (ex.isHead || head.status === 204 || head.status === 304) mode = NONE;
      else if (head.contentLength === -2) return this.#fail(ex, 'bad-response', 'malformed or ambiguous Content-Length');
      else if (head.transferEncoding) mode = head.chunked ? CHUNKED : UNTIL_CLOSE;
      else mode = head.contentLength >= 0 ? LENGTH : UNTIL_CLOSE;
      this.reusable = !head.close && (head.minor === 1 || head.keepAlive) && mode !== UNTIL_CLOSE;
      this.keepAliveMs = head.keepAliveTimeoutMs;
      this.#inBody = true;
      if (ex.sink !== null || mode === CHUNKED) {
        // Decoded (HTTP/1.0 client) or re-framed (chunked): the body, first piece included, goes
        // through #body. Trailers named in the response's Connection are dropped too.
        if (mode === CHUNKED) this.body.reset(mode, 0, head.connectionNames);
        else this.body.reset(mode, head.contentLength);
        ex.onResponseHead(head, mode, buf, end, end);
        if (this.exchange !== ex) return;
        return this.#body(ex, buf, end);
      }
      this.body.reset(mode, head.contentLength);
      const e = this.body.read(buf, end, buf.length, null);
      if (e < 0) return this.#fail(ex, 'bad-response', this.body.error ?? 'bad body');
      ex.onResponseHead(head, mode, buf, end, e);
      if (this.exchange !== ex) return;
      if (this.body.done) this.#complete(ex, e < buf.length);
      return;
    }
  }

  #body(ex: UpstreamExchange, buf: Buffer, start: number): void {
    const sink = ex.sink;
    const body = this.body;
    let e: number;
    if (sink === null && body.mode === CHUNKED) {
      e = body.forward(buf, start, buf.length, ex);
      if (e < 0) return this.#fail(ex, 'bad-response', body.error ?? 'bad body');
      ex.forwarded();
      if (this.exchange !== ex) return;
    } else {
      e = body.read(buf, start, buf.length, sink);
      if (e < 0) return this.#fail(ex, 'bad-response', body.error ?? 'bad body');
      if (sink === null && e > start) {
        ex.onResponseBody(buf, start, e);
        if (this.exchange !== ex) return;
      }
    }
    if (body.done) this.#complete(ex, e < buf.length);
  }

  #complete(ex: UpstreamExchange, extraBytes: boolean): void {
    // Bytes after the response's end: the server does not frame like we do — never reuse it.
    if (extraBytes) this.reusable = false;
    this.#inBody = false;
    this.exchange = null;
    this.completed++;
    ex.onResponseEnd();
  }

  #fail(ex: UpstreamExchange, failure: Failure, detail: string): void {
    this.reusable = false;
    this.exchange = null;
    this.socket?.destroy();
    this.#closedNow();
    ex.onUpstreamError(failure, detail);
  }

  /** The server ended its side: the end of a close-delimited body, else the connection is gone. */
  #eof(): void {
    // A tunnel forwards the half-close; the socket stays open for the client's bytes.
    if (this.#tunnel !== null) return this.#tunnel.onServerEnd();
    const ex = this.exchange;
    if (ex !== null && this.#inBody && this.body.finishAtEof()) {
      this.reusable = false;
      this.#complete(ex, false);
    }
    this.#gone('server-reset', 'server closed the connection', false);
  }

  #gone(failure: Failure, detail: string, reset: boolean): void {
    const t = this.#tunnel;
    if (t !== null) {
      this.#tunnel = null;
      if (this.socket !== null && !this.socket.destroyed) this.socket.destroy();
      this.#closedNow();
      return t.onServerGone(reset);
    }
    const ex = this.exchange;
    this.exchange = null;
    this.reusable = false;
    if (this.socket !== null && !this.socket.destroyed) this.socket.destroy();
    this.#closedNow();
    // A response cut short (or never started): the exchange decides between retry, 502 and abort.
    if (ex !== null) ex.onUpstreamError(failure, detail);
  }
}
