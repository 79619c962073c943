// Upgrade requests (WebSocket and others): the request head goes to the server on a fresh
// connection of its own (never one from the shared pool), then the two sockets are piped like a
// tcp session, with idle timeout and RST. Both sockets are destroyed when either side goes, so
// nothing is left behind (the classic node-http-proxy fd leak).
import type { Socket } from 'node:net';
import type { HttpListenerContext } from './http-listener.ts';
import type { HttpConnection } from './client-connection.ts';
import type { ProxyRequest } from './http-proxy.ts';
import type { FullproxyError } from '../errors.ts';
import type { Server } from '../pool/server.ts';
import type { Pool } from '../pool/pool.ts';
import { closeSocket, resetSocket } from '../net/socket.ts';
import { fieldLines } from './headers.ts';
import { recordFailure, recordSuccess } from '../health/passive.ts';
import { sendRawFailure } from './status.ts';

export class UpgradeTunnel {
  readonly req: ProxyRequest;
  readonly client: Socket;
  readonly head: Buffer;
  readonly state: HttpConnection;
  readonly ctx: HttpListenerContext;
  server: Server | null = null;
  upstream: Socket | null = null;
  #closed = false;

  constructor(req: ProxyRequest, client: Socket, head: Buffer, state: HttpConnection, ctx: HttpListenerContext) {
    this.req = req;
    this.client = client;
    this.head = head;
    this.state = state;
    this.ctx = ctx;
  }

  start(): void {
    const { req, client, state, ctx } = this;
    client.on('error', () => this.#teardown(true));
    client.on('close', () => this.#teardown(false));
    const pool = ctx.pools.get(ctx.router.match(req.host, req.target));
    const server = pool?.pick({ clientAddress: state.info.clientAddress, destination: req.host }) ?? null;
    if (pool === undefined || server === null) return sendRawFailure(client, 'no-server');
    this.server = server;
    server.holdConnection();
    state.session.serverAddress = server.address;
    state.session.pool = pool.name;
    // The tunnel is a tcp-like session from now on: server idle and RST apply (issue 3 §7).
    state.session.timeouts = { ...state.session.timeouts, serverIdle: pool.config.timeouts.serverIdle, serverKeepAlive: pool.config.tcpKeepAlive };
    const requestHead = Buffer.from(`${req.method} ${req.target} HTTP/1.1\r\n${fieldLines(req.fields)}connection: upgrade\r\nupgrade: ${req.upgrade ?? ''}\r\n\r\n`, 'latin1');
    ctx.connectors.get(pool)!.connect(server, state.info, (err, socket) => this.#onConnected(err, socket, requestHead, pool));
  }

  #onConnected(err: FullproxyError | null, socket: Socket | null, requestHead: Buffer, pool: Pool): void {
    const server = this.server!;
    if (err !== null || socket === null) {
      server.connectErrors++;
      recordFailure(pool, server, err?.code ?? 'connect', Date.now());
      this.ctx.log.warn({ server: server.address, err: err?.message }, 'upgrade: server connect failed');
      sendRawFailure(this.client, err?.code === 'FP_ERR_CONNECT_TIMEOUT' ? 'connect-timeout' : 'connect-failed');
      return;
    }
    if (this.#closed) {
      socket.destroy();
      return;
    }
    recordSuccess(server);
    server.sessionsTotal++;
    this.upstream = socket;
    this.state.session.server = socket;
    if (this.ctx.access) this.state.session.rememberSource();
    socket.on('error', () => this.#teardown(true));
    socket.on('close', () => this.#teardown(false));
    socket.write(requestHead);
    if (this.head.length > 0) socket.write(this.head);
    socket.pipe(this.client);
    this.client.pipe(socket);
    this.client.resume();
  }

  /** Either side gone: the other goes too — RST when it was a reset, else FIN after queued data. */
  #teardown(reset: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.server !== null) this.server.releaseConnection();
    const end = reset ? resetSocket : closeSocket;
    end(this.client);
    if (this.upstream !== null) end(this.upstream);
  }
}
