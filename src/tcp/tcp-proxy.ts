// tcp listeners: one session per client connection — pick a server, connect (retrying another
// server on failure), move bytes both ways with backpressure, propagate half-close (FIN) and
// reset (RST), release.
//
//   client ──reads──▶ server    one handler shared by all sessions (the socket leads to its
//                               session) gets the client's reads (net/client-reads.ts: no
//                               allocation per read), writes them to the server and pauses the
//                               client on backpressure: stream.pipe's setup and teardown cost
//                               more per connection than this (bench S2). The client's FIN → end().
//   client ◀─onread── server    the server socket reads into our buffers (net/read-buffers.ts) and
//                               one callback per read writes them to the client: no Readable
//                               stream and no 64 KiB allocation per read (downloads are the bulk).
//                               The server's FIN → client.end(); the other direction keeps flowing.
//   Writes both ways go to the socket handle when nothing is queued (net/direct-writes.ts).
//   error on one side (ECONNRESET, …) → RST on the other (resetAndDestroy).
import type { OnReadOpts, Socket } from 'node:net';
import type { ListenerConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { ClientInfo, Connector } from '../pool/connector.ts';
import type { SessionTable } from '../session/session-table.ts';
import type { EndReason, Session, SessionOwner, SessionTimeouts } from '../session/session.ts';
import type { FullproxyError } from '../errors.ts';
import { defaultIdleReset } from '../config/defaults.ts';
import { connectFailed, connectSucceeded, nextServer, type Attempt } from '../pool/connect.ts';
import { closeSocket, resetSocket } from '../net/socket.ts';
import { logSessionEnd, type ListenerCounters } from '../listener/counters.ts';
import { ReadBuffers } from '../net/read-buffers.ts';
import { deliverReads } from '../net/client-reads.ts';
import { parseClientHello } from '../net/client-hello.ts';
import { SniRoutes } from './sni-routes.ts';
import type { QueueWaiter } from '../pool/queue.ts';
import { isFlushed, send } from '../net/direct-writes.ts';

const kSession = Symbol('tcpSession');

type SessionSocket = Socket & { [kSession]?: TcpSession };

/** 'drain' of a client socket: one function for all sessions (the socket leads to its session). */
function onClientDrain(this: SessionSocket): void {
  this[kSession]?.resumeServer();
}

/** 'drain' of a server socket. */
function onServerDrain(this: SessionSocket): void {
  this[kSession]?.resumeClient();
}

/** Client bytes to the server; the client pauses while the server's queue is full. */
function onClientData(this: SessionSocket, chunk: Buffer): void {
  const ts = this[kSession];
  const server = ts?.session.server;
  if (server == null || send(server, chunk) || server.destroyed) return;
  ts!.clientPaused = true;
  this.pause();
}

/**
 * Per-session state that only tcp mode needs, kept beside the shared Session record. It is the
 * session's owner for the table (idle sweep, drain), so no lookup map is needed: every byte of
 * per-session state counts at 10,000 idle sessions (bench S6).
 */
/** Where a session's server connections go: the listener's pool, or the one its SNI route names. */
interface TcpTarget {
  readonly pool: Pool;
  readonly connector: Connector;
  readonly timeouts: SessionTimeouts;
}

class TcpSession implements SessionOwner, Attempt, QueueWaiter {
  readonly proxy: TcpProxy;
  readonly info: ClientInfo;
  session!: Session;
  target!: TcpTarget;
  /** Waiting in the pool's queue for a server below maxConnections (pool/queue.ts). */
  queued = false;
  /** Servers already tried (allocated on the first retry only). */
  tried: Server[] | null = null;
  attempts = 0;
  server: Server | null = null;
  clientClosed = false;
  /** The client's FIN came before the server connection existed: sent once it does. */
  clientEnded = false;
  serverClosed = false;
  finished = false;
  /** The server socket is paused until the client drains. */
  waitingDrain = false;
  /** The client socket is paused until the server drains. */
  clientPaused = false;
  readonly reads = new ReadBuffers();
  readonly onread: OnReadOpts;

  constructor(proxy: TcpProxy, info: ClientInfo) {
    this.proxy = proxy;
    this.info = info;
    this.onread = { buffer: this.reads.next, callback: (n: number, buf: Uint8Array): boolean => this.fromServer(n, buf as Buffer) };
  }

  /** One read from the server: to the client; false pauses the server socket (backpressure). */
  fromServer(n: number, buf: Buffer): boolean {
    const client = this.session.client;
    const ok = send(client, this.reads.own(n, buf));
    this.reads.release(buf, isFlushed(client));
    if (ok || client.destroyed) return true;
    this.waitingDrain = true;
    return false;
  }

  resumeServer(): void {
    if (!this.waitingDrain) return;
    this.waitingDrain = false;
    this.session.server?.resume();
  }

  resumeClient(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    this.session.client.resume();
  }

  terminate(_session: Session, reason: EndReason, reset: boolean): void {
    this.proxy.terminateSession(this, reason, reset);
  }

  retry(): boolean {
    return this.proxy.retryQueued(this);
  }

  queueTimeout(): void {
    this.proxy.queueTimedOut(this);
  }
}

export class TcpProxy {
  readonly #listener: string;
  readonly #default: TcpTarget;
  /** SNI passthrough routes (null: none, the ClientHello is not read). */
  readonly #sni: SniRoutes<TcpTarget> | null;
  /** The ClientHello must be complete within this (listeners[].timeouts.requestHeaders). */
  readonly #helloTimeout: number;
  readonly #table: SessionTable;
  readonly #log: Logger;
  readonly #access: boolean;
  readonly #counters: ListenerCounters;
  readonly #destination: string;

  /** `routes`: the listener's SNI routes with their pools and connectors (generation.ts). */
  constructor(cfg: ListenerConfig, pool: Pool, connector: Connector, table: SessionTable, counters: ListenerCounters, log: Logger, access: boolean, routes: ReadonlyArray<{ readonly sni: string; readonly pool: Pool; readonly connector: Connector }> = []) {
    this.#listener = cfg.name;
    this.#table = table;
    this.#counters = counters;
    this.#log = log;
    this.#access = access;
    this.#destination = cfg.listen;
    this.#helloTimeout = cfg.timeouts.requestHeaders;
    const target = (p: Pool, c: Connector): TcpTarget => ({
      pool: p,
      connector: c,
      timeouts: {
        clientIdle: cfg.timeouts.clientIdle,
        serverIdle: p.config.timeouts.serverIdle,
        idleReset: cfg.idleReset ?? defaultIdleReset('tcp'),
        clientKeepAlive: cfg.tcpKeepAlive,
        serverKeepAlive: p.config.tcpKeepAlive,
      },
    });
    this.#default = target(pool, connector);
    this.#sni = routes.length === 0 ? null : new SniRoutes(routes.map((r) => ({ sni: r.sni, target: target(r.pool, r.connector) })));
  }

  /** Takes over an accepted (paused) client socket; `info` holds the real client address. */
  handle(client: Socket, info: ClientInfo): void {
    const ts = new TcpSession(this, info);
    ts.target = this.#default;
    const session = this.#table.create(this.#listener, 'tcp', client, info.clientAddress, info.clientPort, ts, this.#default.timeouts);
    session.pool = this.#default.pool.name;
    ts.session = session;
    this.#counters.sessionsTotal++;
    client.on('error', (err: NodeJS.ErrnoException) => this.#onClientError(ts, err));
    client.on('end', () => {
      this.#setReason(ts, 'client-close');
      // The client's FIN, forwarded after what is queued. It can come while the server connection
      // is being made: a reader that ran first (PROXY header, ClientHello) resumed the socket, and
      // Node emits 'end' for a FIN behind an empty buffer even on a paused socket (issue 17, fuzzing).
      if (session.server === null) ts.clientEnded = true;
      else session.server.end();
    });
    client.on('close', () => {
      ts.clientClosed = true;
      // Client gone before the server connection exists: nothing else will close the session.
      if (session.server === null || ts.serverClosed) this.#finish(ts);
    });
    if (this.#sni === null) return this.#connectNext(ts);
    this.#readClientHello(ts, this.#sni);
  }

  /**
   * SNI passthrough: reads the client's first bytes until its ClientHello is complete, picks the
   * pool by its server name, then puts the bytes back (unshift): the server gets them unchanged.
   */
  #readClientHello(ts: TcpSession, routes: SniRoutes<TcpTarget>): void {
    const client = ts.session.client;
    let buf: Buffer | null = null;
    const done = (): void => {
      client.removeListener('data', onData);
      client.removeListener('timeout', onTimeout);
      client.setTimeout(0);
      client.pause();
    };
    const onData = (chunk: Buffer): void => {
      buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
      const r = parseClientHello(buf);
      if (r.kind === 'incomplete') return;
      done();
      client.unshift(buf);
      // Garbage or no name: the default pool, which gets the bytes as they came (SPEC).
      const target = r.kind === 'ok' ? routes.match(r.servername) : null;
      if (target !== null) {
        ts.target = target;
        ts.session.pool = target.pool.name;
        ts.session.timeouts = target.timeouts;
      }
      this.#connectNext(ts);
    };
    const onTimeout = (): void => {
      done();
      this.#setReason(ts, 'client-error');
      closeSocket(client);
    };
    client.on('data', onData);
    client.on('timeout', onTimeout);
    client.setTimeout(this.#helloTimeout);
    client.resume();
  }

  #connectNext(ts: TcpSession): void {
    const { session } = ts;
    if (ts.clientClosed) return this.#finish(ts);
    const pool = ts.target.pool;
    const server = nextServer(pool, { clientAddress: session.clientAddress, destination: this.#destination }, ts);
    if (server === null) {
      // Every server it may use is at maxConnections: wait for one in the pool's queue
      // (timeouts.queue), as HAProxy's backend queue does, rather than close at once.
      if (pool.hasWaitable(ts.tried) && pool.queue.enqueue(ts)) {
        ts.queued = true;
        session.state = 'queued';
        return;
      }
      return this.#noServer(ts);
    }
    this.#connectTo(ts, server);
  }

  /** No server to try, and none it could wait for: closed (FIN), no-server or the last connect's failure. */
  #noServer(ts: TcpSession): void {
    this.#setReason(ts, ts.attempts === 0 ? 'no-server' : 'connect-failed');
    closeSocket(ts.session.client);
  }

  /** The pool's queue woke a waiting session: pick again. False: still no server, keep waiting. */
  retryQueued(ts: TcpSession): boolean {
    if (ts.clientClosed || ts.finished) return true;
    const pool = ts.target.pool;
    const server = nextServer(pool, { clientAddress: ts.session.clientAddress, destination: this.#destination }, ts);
    if (server === null && pool.hasWaitable(ts.tried)) return false;
    ts.queued = false;
    if (server !== null) {
      this.#connectTo(ts, server);
      return true;
    }
    // No server left that it could wait for (they went down or were drained).
    this.#noServer(ts);
    return true;
  }

  /**
   * timeouts.queue passed with every server still full: the client is closed with a FIN, as
   * HAProxy closes a tcp stream after `timeout queue`. What the client sent meanwhile is read and
   * dropped first, so that closing does not turn into a RST (the kernel resets a socket closed
   * with unread bytes).
   */
  queueTimedOut(ts: TcpSession): void {
    ts.queued = false;
    if (ts.clientClosed || ts.finished) return;
    this.#setReason(ts, 'queue-timeout');
    const client = ts.session.client;
    client.resume();
    closeSocket(client);
  }

  #connectTo(ts: TcpSession, server: Server): void {
    const session = ts.session;
    session.state = 'connecting';
    session.serverAddress = server.address;
    server.holdConnection();
    ts.target.connector.connect(server, ts.info, (err, socket) => this.#onConnected(ts, server, err, socket), ts.onread);
  }

  #onConnected(ts: TcpSession, server: Server, err: FullproxyError | null, socket: Socket | null): void {
    const { session } = ts;
    if (err !== null || socket === null) {
      server.releaseConnection();
      const outcome = connectFailed(ts.target.pool, server, err, ts);
      if (outcome.failure === 'source-exhausted') {
        // Our own limit, not the server's fault (pool/connect.ts): the client learns at once, by
        // RST (issue 6). The connector counted and logged it.
        this.#setReason(ts, 'source-exhausted');
        resetSocket(session.client);
        if (ts.clientClosed) this.#finish(ts);
        return;
      }
      this.#log.warn({ server: server.address, client: session.clientAddress, err: err?.message }, 'server connect failed');
      if (outcome.retry) return this.#connectNext(ts);
      this.#setReason(ts, outcome.failure); // connect-failed or connect-timeout, as an http client is told
      closeSocket(session.client);
      if (ts.clientClosed) this.#finish(ts);
      return;
    }
    if (ts.clientClosed) {
      // The client left while we were connecting: drop the fresh server connection.
      server.releaseConnection();
      socket.destroy();
      return this.#finish(ts);
    }
    connectSucceeded(server);
    server.sessionsTotal++;
    ts.server = server;
    session.server = socket;
    session.state = 'established';
    if (this.#access) session.rememberSource();
    socket.on('error', (e: NodeJS.ErrnoException) => this.#onServerError(ts, e));
    socket.on('end', () => {
      this.#setReason(ts, 'server-close');
      session.client.end(); // the server's FIN, forwarded after what is queued
    });
    socket.on('close', () => {
      ts.serverClosed = true;
      if (ts.clientClosed) this.#finish(ts);
    });
    (session.client as SessionSocket)[kSession] = ts;
    (socket as SessionSocket)[kSession] = ts;
    session.client.on('drain', onClientDrain);
    deliverReads(session.client, onClientData);
    socket.on('drain', onServerDrain);
    session.client.resume();
    if (ts.clientEnded) socket.end();
  }

  #onClientError(ts: TcpSession, err: NodeJS.ErrnoException): void {
    this.#setReason(ts, err.code === 'ECONNRESET' ? 'client-reset' : 'client-error');
    const server = ts.session.server;
    if (server !== null) resetSocket(server);
  }

  #onServerError(ts: TcpSession, err: NodeJS.ErrnoException): void {
    this.#setReason(ts, err.code === 'ECONNRESET' ? 'server-reset' : 'server-error');
    resetSocket(ts.session.client);
    // A TLS error after the handshake (a broken record from a pools[].tls server) comes without
    // the socket being destroyed (Node's _tls_wrap emits it and leaves the socket open): reset it
    // too, or the session and its server connection stay open, unlogged, until the idle timeout.
    const server = ts.session.server;
    if (server !== null) resetSocket(server);
  }

  /** The first cause wins: later events of the same teardown must not overwrite it. */
  #setReason(ts: TcpSession, reason: EndReason): void {
    if (ts.session.endReason === null) ts.session.endReason = reason;
  }

  terminateSession(ts: TcpSession, reason: EndReason, reset: boolean): void {
    const session = ts.session;
    this.#setReason(ts, reason);
    session.state = 'closing';
    const end = reset ? resetSocket : closeSocket;
    if (session.server !== null) end(session.server);
    end(session.client);
  }

  #finish(ts: TcpSession): void {
    if (ts.finished) return;
    ts.finished = true;
    const { session } = ts;
    if (ts.queued) {
      ts.queued = false;
      ts.target.pool.queue.remove(ts);
    }
    if (ts.server !== null) ts.server.releaseConnection();
    if (session.server !== null && !session.server.destroyed) session.server.destroy();
    if (!session.client.destroyed) session.client.destroy();
    this.#table.remove(session);
    this.#counters.bytesIn += session.bytesIn;
    this.#counters.bytesOut += session.bytesOut;
    if (this.#access) logSessionEnd(this.#log, session);
  }
}
