// Upgrade (WebSocket-style) tunnels: what relays bytes both ways once a server answered an Upgrade
// request with a 101 whose Upgrade matches what was asked (issue 13 row 1). The request itself
// went the ordinary way (http-proxy.ts) on a server connection of its own, never a pooled one; any
// other answer is an ordinary response and the client connection goes on parsing HTTP.
//
// No pipe and no change of read mode: the client socket keeps delivering to its HttpConnection,
// which hands each read here, and the server socket keeps reading into its UpstreamConnection,
// which hands each read here too. So bytes the client sent right after the Upgrade head (kept in
// the connection's buffer until the 101) go first, and nothing can fall between two read modes
// (issue 13 row 4: early data lost in 5–6 of 25 runs when the socket was switched back to 'data'
// events before a pipe existed). Backpressure pauses the reading side, as for a request body.
//
// The tunnel is a tcp-like session: it holds a server connection (Server.holdConnection, taken
// when the request picked the server) and the session's server-idle limit and RST apply (issue 3
// §7). Either side gone takes the other along, so nothing is left behind (the classic
// node-http-proxy fd leak); a FIN is forwarded as a half-close.
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { HttpConnection } from './client-connection.ts';
import type { TunnelPeer, UpstreamConnection } from './upstream-connection.ts';
import { closeSocket, resetSocket } from '../net/socket.ts';
import { isFlushed, send } from '../net/direct-writes.ts';
import { PAUSE_BACKPRESSURE } from './connection-states.ts';

export class UpgradeTunnel implements TunnelPeer {
  readonly conn: HttpConnection;
  readonly upstream: UpstreamConnection;
  /** The server whose connection the tunnel holds (released once, at teardown). */
  readonly server: Server;
  #closed = false;
  #serverPaused = false;

  constructor(conn: HttpConnection, upstream: UpstreamConnection, server: Server) {
    this.conn = conn;
    this.upstream = upstream;
    this.server = server;
  }

  /**
   * The 101 was accepted: `head` (the client's 101 and the server bytes after it) goes to the
   * client, `early` (client bytes sent after the Upgrade request) to the server, in that order
   * before any later read; `clientEnded`: the client's FIN came while we waited.
   */
  start(pool: Pool, head: Buffer, early: Buffer | null, clientEnded: boolean): void {
    const { conn, upstream } = this;
    const session = conn.session;
    const socket = upstream.socket!;
    upstream.startTunnel(this);
    this.server.sessionsTotal++;
    session.server = socket;
    session.timeouts = { ...session.timeouts, serverIdle: pool.config.timeouts.serverIdle, serverKeepAlive: pool.config.tcpKeepAlive };
    if (conn.ctx.access) session.rememberSource();
    if (!send(conn.socket, head)) this.#pauseServer();
    if (early !== null && !send(socket, early)) conn.pauseReading(PAUSE_BACKPRESSURE);
    if (clientEnded) socket.end();
  }

  // ---- client → server (HttpConnection hands its reads and events here) ----

  fromClient(chunk: Buffer): void {
    if (!send(this.upstream.socket!, chunk)) this.conn.pauseReading(PAUSE_BACKPRESSURE);
  }

  onUpstreamDrain(): void {
    this.conn.resumeReading(PAUSE_BACKPRESSURE);
  }

  onClientEnd(): void {
    const s = this.upstream.socket;
    if (s !== null && !s.destroyed) s.end();
  }

  onClientClose(reset: boolean): void {
    this.#teardown(reset);
  }

  // ---- server → client (TunnelPeer: the UpstreamConnection hands its reads here) ----

  flushed(): boolean {
    return isFlushed(this.conn.socket);
  }

  onServerData(chunk: Buffer): void {
    if (!send(this.conn.socket, chunk)) this.#pauseServer();
  }

  onClientDrain(): void {
    if (!this.#serverPaused) return;
    this.#serverPaused = false;
    this.upstream.socket?.resume();
  }

  onServerEnd(): void {
    const c = this.conn.socket;
    if (!c.destroyed) c.end();
  }

  onServerGone(reset: boolean): void {
    this.#teardown(reset);
  }

  #pauseServer(): void {
    this.#serverPaused = true;
    this.upstream.socket?.pause();
  }

  /** Either side gone: the other goes too — RST when it was a reset, else FIN after queued data. */
  #teardown(reset: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.server.releaseConnection();
    const end = reset ? resetSocket : closeSocket;
    end(this.conn.socket);
    const s = this.upstream.socket;
    if (s !== null) end(s);
  }
}

/**
 * The 101's Upgrade names only protocols the request asked for (RFC 9110 §7.8), compared by token
 * ignoring case, and at least one. Anything else is not the switch the client asked for.
 */
export function upgradeMatches(asked: string, answered: string): boolean {
  const want = tokens(asked);
  const got = tokens(answered);
  if (got.length === 0) return false;
  for (const t of got) if (!want.includes(t)) return false;
  return true;
}

/** True when an Upgrade value lists h2c: never tunnelled, the request goes on as plain HTTP/1.1. */
export function asksH2c(value: string): boolean {
  return tokens(value).includes('h2c');
}

function tokens(value: string): string[] {
  const out: string[] = [];
  for (const t of value.split(',')) {
    const tok = t.trim().toLowerCase();
    if (tok !== '') out.push(tok);
  }
  return out;
}
