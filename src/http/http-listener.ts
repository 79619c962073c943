// http listeners: each accepted client socket becomes an HttpConnection (client-connection.ts),
// which parses requests off the raw socket; what every request of the listener shares — routes,
// X-Forwarded policy, which request field names are kept (underscoresInHeaders), limits and
// timeouts, the pools and their server connections — is decided once per config here
// (DESIGN §2.4) and read through HttpListenerContext.
import type { Socket } from 'node:net';
import type { ListenerConfig, UnderscoresInHeaders } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { ProtocolHandler } from '../listener/listener.ts';
import type { ClientInfo, PoolConnector } from '../pool/connector.ts';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { ServerConnections } from './http-upstream.ts';
import type { SessionTable } from '../session/session-table.ts';
import type { SessionTimeouts } from '../session/session.ts';
import type { ProxyRequest } from './http-proxy.ts';
import { DEFAULTS, defaultIdleReset } from '../config/defaults.ts';
import type { ListenerCounters } from '../listener/counters.ts';
import { ForwardedPolicy } from './forwarded.ts';
import { HttpConnection } from './client-connection.ts';
import { Router } from './router.ts';
import { recordRefused, recordRequest } from './request-stats.ts';
import { FAILURE_STATUS, type Failure } from './status.ts';

/**
 * One per listener name, for the life of the process: the newest generation's context (requests
 * start there, so a kept-alive connection follows reloads) and whether the proxy drains.
 */
/** What an access line says of one request (http-listener.ts #accessLine adds the session, client and bytes). */
interface AccessFields {
  method: string | null;
  url: string | null;
  host: string | null;
  status: number | null;
  reason: string | null;
  pool: string | null;
  server: string | null;
  connectMs: number | null;
  firstByteMs: number | null;
  durationMs: number | null;
}

export interface ListenerSlot {
  current: HttpListenerContext | null;
  draining: boolean;
}

/** What every request of one listener shares. */
export interface HttpListenerContext {
  readonly name: string;
  readonly slot: ListenerSlot;
  readonly log: Logger;
  readonly access: boolean;
  readonly router: Router;
  readonly forwarded: ForwardedPolicy;
  /** Request fields whose name holds `_`: dropped (nginx's default) or kept; read into each connection's ForwardingContext. */
  readonly underscoresInHeaders: UnderscoresInHeaders;
  readonly proto: 'http' | 'https';
  readonly pools: ReadonlyMap<string, Pool>;
  readonly upstreams: ReadonlyMap<Server, ServerConnections>;
  readonly connectors: ReadonlyMap<Pool, PoolConnector>;
  readonly counters: ListenerCounters;
  readonly table: SessionTable;
  readonly timeouts: SessionTimeouts;
  readonly requestHeadersTimeout: number;
  readonly keepAliveTimeout: number;
  readonly maxHeaderBytes: number;
  /** SIGTERM drain in progress: responses close their connection. */
  readonly draining: boolean;
  acquire(server: Server, pr: ProxyRequest, conn: HttpConnection): void;
  /** The server's kept-alive connection set in this generation. */
  connectionsOf(server: Server): ServerConnections;
  requestDone(pr: ProxyRequest, conn: HttpConnection): void;
  /** A request refused at its head (400, 408, 431), its answer already queued: counted and logged. */
  headRefused(conn: HttpConnection, failure: Failure): void;
  connectionClosed(conn: HttpConnection): void;
}

export class HttpListener implements ProtocolHandler, HttpListenerContext {
  readonly name: string;
  readonly slot: ListenerSlot;
  readonly log: Logger;
  readonly access: boolean;
  readonly router: Router;
  readonly forwarded: ForwardedPolicy;
  readonly underscoresInHeaders: UnderscoresInHeaders;
  readonly proto: 'http' | 'https';
  readonly pools: ReadonlyMap<string, Pool>;
  readonly upstreams: ReadonlyMap<Server, ServerConnections>;
  readonly connectors: ReadonlyMap<Pool, PoolConnector>;
  readonly counters: ListenerCounters;
  readonly table: SessionTable;
  readonly timeouts: SessionTimeouts;
  readonly requestHeadersTimeout: number;
  readonly keepAliveTimeout: number;
  readonly maxHeaderBytes: number;
  readonly #connections = new Set<HttpConnection>();
  readonly #reuseNever: ReadonlySet<Pool>;
  /** Pools whose server connections carry a PROXY header: reused only for the same client address. */
  readonly #proxyKeyed: ReadonlySet<Pool>;

  /** `slot`: the listener name's, shared by its generations (runtime.ts points it at the newest at the swap). */
  constructor(cfg: ListenerConfig, slot: ListenerSlot, pools: ReadonlyMap<string, Pool>, connectors: ReadonlyMap<Pool, PoolConnector>, upstreams: ReadonlyMap<Server, ServerConnections>, table: SessionTable, counters: ListenerCounters, log: Logger, access: boolean) {
    this.name = cfg.name;
    this.slot = slot;
    this.log = log;
    this.access = access;
    this.router = new Router(cfg);
    this.forwarded = new ForwardedPolicy(cfg.forwardedHeaders);
    this.underscoresInHeaders = cfg.underscoresInHeaders ?? DEFAULTS.listener.underscoresInHeaders;
    // X-Forwarded-Proto: what the client spoke to us (the listener terminates TLS or does not).
    this.proto = cfg.tls === undefined ? 'http' : 'https';
    this.pools = pools;
    this.upstreams = upstreams;
    this.connectors = connectors;
    this.counters = counters;
    this.table = table;
    this.requestHeadersTimeout = cfg.timeouts.requestHeaders;
    this.keepAliveTimeout = cfg.timeouts.httpKeepAlive;
    this.maxHeaderBytes = cfg.limits.maxHeaderBytes;
    this.#reuseNever = new Set([...pools.values()].filter((p) => p.config.connectionPool.reuse === 'never'));
    this.#proxyKeyed = new Set([...pools.values()].filter((p) => p.config.sendProxyProtocol !== 'off'));
    // serverKeepAlive is the tunnel's (upgrade.ts); pooled server connections get theirs in http-upstream.ts.
    this.timeouts = { clientIdle: cfg.timeouts.clientIdle, serverIdle: 0, idleReset: cfg.idleReset ?? defaultIdleReset('http'), requestBody: cfg.timeouts.requestBody, clientKeepAlive: cfg.tcpKeepAlive, serverKeepAlive: false };
  }

  /** SIGTERM drain in progress (every generation of the listener sees it): responses close their connection. */
  get draining(): boolean {
    return this.slot.draining;
  }

  /** This generation takes the listener's new requests (the reload's swap). */
  activate(): void {
    this.slot.current = this;
  }

  handle(socket: Socket, info: ClientInfo): void {
    const conn = new HttpConnection(socket, info, this);
    this.#connections.add(conn);
    this.counters.sessionsTotal++;
  }

  connectionsOf(server: Server): ServerConnections {
    return this.upstreams.get(server)!;
  }

  acquire(server: Server, pr: ProxyRequest, conn: HttpConnection): void {
    const upstream = this.upstreams.get(server)!;
    // Set before acquire(): an idle connection is handed over synchronously.
    pr.connections = upstream;
    // reuse "never": the client connection's own key; PROXY pools: the client address (the
    // PROXY spec forbids mixing clients on one connection); otherwise shared ('').
    const pool = pr.pool!;
    const never = this.#reuseNever.has(pool);
    const key = never ? conn.key : this.#proxyKeyed.has(pool) ? proxyReuseKey(conn.info) : '';
    if (never) conn.keyedServers.add(upstream);
    upstream.acquire(pr, key, conn.info, conn.session.requests === 0);
  }

  /** Counts the request (status class, latency histograms: a few adds) and writes its access line. */
  requestDone(pr: ProxyRequest, conn: HttpConnection): void {
    const server = pr.server;
    this.counters.requestsTotal++;
    if (server !== null) server.requestsTotal++;
    const totalMs = performance.now() - pr.startedAt;
    const firstByteMs = pr.firstByteAt === 0 ? -1 : pr.firstByteAt - pr.sentAt;
    recordRequest(this.counters.requestStats, server?.requestStats ?? null, pr.status, totalMs, firstByteMs);
    if (!this.access) return;
    this.#accessLine(conn, {
      method: pr.method,
      url: pr.target,
      host: pr.host,
      status: pr.status,
      reason: pr.failure,
      pool: pr.pool?.name ?? null,
      server: server?.address ?? null,
      connectMs: server === null || pr.sentAt === 0 ? null : pr.connectMs < 0 ? -1 : roundMs(pr.connectMs),
      firstByteMs: firstByteMs < 0 ? null : roundMs(firstByteMs),
      durationMs: roundMs(totalMs),
    });
  }

  /**
   * A request refused at its head — malformed (400), too large (431) or not complete in time
   * (408) — is a request like any other for the operator: it counts in the listener's requests by
   * status class and gets its access line, with the failure as `reason`. It never reached a
   * server and has no parsed head to time, so no server, pool or timing. Nothing of the client's
   * bytes goes into the line (method, url and host are null): a flood of garbage must not become
   * a flood of attacker-chosen log bytes; the `bad request` line gives the parser's reason.
   */
  headRefused(conn: HttpConnection, failure: Failure): void {
    const status = FAILURE_STATUS[failure];
    this.counters.requestsTotal++;
    recordRefused(this.counters.requestStats, status);
    if (!this.access) return;
    this.#accessLine(conn, { method: null, url: null, host: null, status, reason: failure, pool: null, server: null, connectMs: null, firstByteMs: null, durationMs: null });
  }

  /**
   * The `request` access line: the request's fields, then the bytes since the previous request of
   * the connection ended — its head and body, and everything written back for it (1xx, head,
   * body), as the client socket counted them.
   */
  #accessLine(conn: HttpConnection, fields: AccessFields): void {
    const session = conn.session;
    const read = conn.socket.bytesRead;
    const written = conn.socket.bytesWritten;
    this.log.info({ session: session.id, client: `${conn.info.clientAddress}:${conn.info.clientPort}`, ...fields, bytesIn: read - session.readMark, bytesOut: written - session.writeMark }, 'request');
    session.readMark = read;
    session.writeMark = written;
  }

  connectionClosed(conn: HttpConnection): void {
    this.#connections.delete(conn);
  }

  /** Drain: keep-alive client connections between requests are closed (FIN); busy ones are
   *  closed after their response. The listening socket is listener.ts's. */
  closeIdle(): void {
    this.slot.draining = true;
    for (const c of this.#connections) c.closeIfIdle();
  }

  /** Nothing of its own to stop: connections end with their sockets. */
  close(): void {}
}

/**
 * Reuse key of a server connection that starts with a PROXY header: everything the header says of
 * the client. Its address (the PROXY spec forbids mixing clients on one connection), and for a TLS
 * client the v2 SSL and AUTHORITY TLVs too — two TLS connections from one address with different
 * SNI names must not share a server connection that announced only the first one's.
 */
function proxyReuseKey(info: ClientInfo): string {
  const tls = info.tls;
  return tls === undefined ? `ip:${info.clientAddress}` : `ip:${info.clientAddress}|${tls.servername ?? ''}|${tls.version}|${tls.cipher}`;
}

/** Milliseconds to the microsecond, for the access line. */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
