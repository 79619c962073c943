// http listeners: accepted client sockets are fed into a node:http server (one per listener) with
// the header, keep-alive and size limits of the config; each client connection is one session
// in the session table; each request becomes a ProxyRequest (http-proxy.ts). Upgrade requests
// become tunnels (upgrade.ts).
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { ListenerConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { ProtocolHandler } from '../listener/listener.ts';
import type { ClientInfo, PoolConnector } from '../pool/connector.ts';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { ServerConnections } from '../pool/http-upstream.ts';
import type { SessionTable } from '../session/session-table.ts';
import type { EndReason, Session, SessionOwner, SessionTimeouts } from '../session/session.ts';
import { defaultIdleReset } from '../config/defaults.ts';
import { logSessionEnd, type ListenerCounters } from '../listener/counters.ts';
import { closeSocket, resetSocket } from '../net/socket.ts';
import { ForwardedPolicy } from './forwarded.ts';
import { ProxyRequest } from './http-proxy.ts';
import { Router } from './router.ts';
import { sendRawFailure } from './status.ts';
import { UpgradeTunnel } from './upgrade.ts';

/** Node checks header timeouts on this interval (default 30 s): slowloris is cut at requestHeaders + this. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 250;

/** What every request of one listener shares: decided once per config (DESIGN §2.4). */
export interface HttpListenerContext {
  readonly name: string;
  readonly log: Logger;
  readonly access: boolean;
  readonly router: Router;
  readonly forwarded: ForwardedPolicy;
  readonly proto: 'http' | 'https';
  readonly pools: ReadonlyMap<string, Pool>;
  readonly upstreams: ReadonlyMap<Server, ServerConnections>;
  readonly connectors: ReadonlyMap<Pool, PoolConnector>;
  readonly counters: ListenerCounters;
  readonly requestBodyTimeout: number;
  acquire(server: Server, pr: ProxyRequest, state: HttpSessionState): void;
}

/** One client connection of an http listener. */
export class HttpSessionState {
  readonly session: Session;
  readonly info: ClientInfo;
  readonly ctx: HttpListenerContext;
  /** Reuse key of this client's server connections ('' = shared; see http-upstream.ts). */
  readonly key: string;
  tunnel: UpgradeTunnel | null = null;
  /** Servers this client connection has dedicated connections on (reuse "never" / PROXY keys). */
  readonly keyedServers = new Set<ServerConnections>();

  constructor(session: Session, info: ClientInfo, ctx: HttpListenerContext, key: string) {
    this.session = session;
    this.info = info;
    this.ctx = ctx;
    this.key = key;
  }

  requestDone(pr: ProxyRequest): void {
    this.session.requests++;
    this.ctx.counters.requestsTotal++;
    if (pr.server !== null) pr.server.requestsTotal++;
    if (this.ctx.access) {
      this.ctx.log.info(
        {
          session: this.session.id,
          client: `${this.info.clientAddress}:${this.info.clientPort}`,
          method: pr.req.method,
          url: pr.req.url,
          host: pr.req.headers.host,
          status: pr.res.statusCode,
          pool: pr.pool?.name ?? null,
          server: pr.server?.address ?? null,
          durationMs: Date.now() - pr.startedAt,
        },
        'request',
      );
    }
  }
}

export class HttpListener implements ProtocolHandler, SessionOwner, HttpListenerContext {
  readonly name: string;
  readonly log: Logger;
  readonly access: boolean;
  readonly router: Router;
  readonly forwarded: ForwardedPolicy;
  readonly proto: 'http' | 'https' = 'http';
  readonly pools: ReadonlyMap<string, Pool>;
  readonly upstreams: ReadonlyMap<Server, ServerConnections>;
  readonly connectors: ReadonlyMap<Pool, PoolConnector>;
  readonly counters: ListenerCounters;
  readonly requestBodyTimeout: number;
  readonly #server: HttpServer;
  readonly #table: SessionTable;
  readonly #timeouts: SessionTimeouts;
  readonly #bySocket = new WeakMap<Duplex, HttpSessionState>();
  readonly #reuseNever: ReadonlySet<Pool>;
  /** Pools whose server connections carry a PROXY header: reused only for the same client address. */
  readonly #proxyKeyed: ReadonlySet<Pool>;

  constructor(cfg: ListenerConfig, pools: ReadonlyMap<string, Pool>, connectors: ReadonlyMap<Pool, PoolConnector>, upstreams: ReadonlyMap<Server, ServerConnections>, table: SessionTable, counters: ListenerCounters, log: Logger, access: boolean) {
    this.name = cfg.name;
    this.log = log;
    this.access = access;
    this.router = new Router(cfg);
    this.forwarded = new ForwardedPolicy(cfg.forwardedHeaders);
    this.pools = pools;
    this.upstreams = upstreams;
    this.connectors = connectors;
    this.counters = counters;
    this.requestBodyTimeout = cfg.timeouts.requestBody;
    this.#table = table;
    this.#reuseNever = new Set([...pools.values()].filter((p) => p.config.connectionPool.reuse === 'never'));
    this.#proxyKeyed = new Set([...pools.values()].filter((p) => p.config.sendProxyProtocol !== 'off'));
    this.#timeouts = { clientIdle: cfg.timeouts.clientIdle, serverIdle: 0, idleReset: cfg.idleReset ?? defaultIdleReset('http'), requestBody: cfg.timeouts.requestBody };
    this.#server = createServer({
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
      maxHeaderSize: cfg.limits.maxHeaderBytes,
      headersTimeout: cfg.timeouts.requestHeaders,
      requestTimeout: 0, // the body has its own idle timeout (requestBody), enforced by the session sweep
      keepAliveTimeout: cfg.timeouts.httpKeepAlive,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
      noDelay: true,
    });
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(err, socket as Socket));
    // node:http starts its connection tracking (the headersTimeout checks and the list that
    // closeIdleConnections() walks) on 'listening'. This server never listens — listener.ts owns
    // the socket and hands connections over — so start the tracking the same way.
    this.#server.emit('listening');
    // A client may send its request and then FIN (nc -N, some health checkers): like HAProxy and
    // nginx, answer it. Node's default would abort the request on the FIN.
    (this.#server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true; // not in @types/node
  }

  handle(socket: Socket, info: ClientInfo): void {
    const session = this.#table.create(this.name, 'http', socket, info.clientAddress, info.clientPort, this, this.#timeouts);
    session.state = 'established';
    this.counters.sessionsTotal++;
    const key = `#${session.id}`;
    const state = new HttpSessionState(session, info, this, key);
    this.#bySocket.set(socket, state);
    socket.once('close', () => this.#onClose(state));
    this.#server.emit('connection', socket);
    socket.resume();
  }

  acquire(server: Server, pr: ProxyRequest, state: HttpSessionState): void {
    const upstream = this.upstreams.get(server)!;
    // reuse "never": the client connection's own key; PROXY pools: the client address (the
    // PROXY spec forbids mixing clients on one connection); otherwise shared ('').
    const pool = pr.pool!;
    const never = this.#reuseNever.has(pool);
    const key = never ? state.key : this.#proxyKeyed.has(pool) ? `ip:${state.info.clientAddress}` : '';
    if (never) state.keyedServers.add(upstream);
    upstream.acquire(pr, key, state.info, state.session.requests === 0);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const state = this.#bySocket.get(req.socket);
    if (state === undefined) {
      res.destroy();
      return;
    }
    const pr = new ProxyRequest(req, res, state, this);
    pr.start();
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const state = this.#bySocket.get(socket);
    if (state === undefined) {
      socket.destroy();
      return;
    }
    state.tunnel = new UpgradeTunnel(req, socket as Socket, head, state, this);
    state.tunnel.start();
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const state = this.#bySocket.get(socket);
    if (state !== undefined && state.session.endReason === null) state.session.endReason = 'client-error';
    // ECONNRESET and friends: nothing to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const failure = err.code === 'HPE_HEADER_OVERFLOW' ? 'header-too-large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'bad-request';
    this.log.info({ listener: this.name, client: state?.info.clientAddress, code: err.code, reason: err.message }, 'bad request');
    sendRawFailure(socket, failure);
  }

  #onClose(state: HttpSessionState): void {
    const { session } = state;
    for (const upstream of state.keyedServers) upstream.closeKey(state.key);
    this.#table.remove(session);
    this.counters.bytesIn += session.bytesIn;
    this.counters.bytesOut += session.bytesOut;
    if (session.endReason === null) session.endReason = 'client-close';
    if (this.access) logSessionEnd(this.log, session);
  }

  terminate(session: Session, reason: EndReason, reset: boolean): void {
    if (session.endReason === null) session.endReason = reason;
    session.state = 'closing';
    if (session.server !== null) (reset ? resetSocket : closeSocket)(session.server);
    (reset ? resetSocket : closeSocket)(session.client);
  }

  /** Drain: keep-alive client connections between requests are closed (FIN); busy ones finish
   *  their request and are closed by the next call. The listening socket is listener.ts's. */
  closeIdle(): void {
    this.#server.closeIdleConnections();
  }

  /** Stops the node:http server's own timers (header-timeout checks). */
  close(): void {
    this.#server.close();
  }
}

