// Kept-alive server connections per server (http mode): the multiplexing half of the full proxy.
// Each connection is one undici Client (pipelining 1) whose socket comes from connector.ts, so
// server connections are made exactly as in tcp mode. We keep the pool ourselves rather than use
// undici's Pool because the SPEC needs what Pool does not expose: a bound on idle connections
// (maxIdlePerServer), HAProxy's "safe" reuse (a client's first request only on a proven
// connection), a reuse key (PROXY-header connections serve one client address), and knowing
// whether a failed request ran on a reused connection (retry rule).
//
//   acquire ─▶ idle stack (LIFO: hot connections stay hot, the rest time out)
//          └─▶ new connection while under servers[].maxConnections
//          └─▶ FIFO wait queue (pools[].timeouts.queue), then 503
import { Client } from 'undici';
import type { Socket } from 'node:net';
import type { PoolConfig } from '../config/schema.ts';
import type { ClientInfo, PoolConnector } from './connector.ts';
import type { Server } from './server.ts';

/** Surplus idle connections (beyond maxIdlePerServer) live this long before they are closed. */
const TRIM_DELAY_MS = 1_000;

/** One server connection (one undici Client, one socket for its whole life). */
export class UpstreamConnection {
  readonly client: Client;
  readonly key: string;
  /** Requests completed on this connection: > 0 means proven (HAProxy "safe" reuse). */
  completed = 0;
  busy = false;
  closed = false;
  /** Set by the connector: the socket, for source address/port in the session table. */
  socket: Socket | null = null;

  constructor(client: Client, key: string) {
    this.client = client;
    this.key = key;
  }
}

/** A request waiting for a connection (queued when the server is at maxConnections). */
export interface ConnectionWaiter {
  /** The connection is the caller's until release(); called synchronously when one is free. */
  onConnection(conn: UpstreamConnection): void;
  onQueueTimeout(): void;
}

interface Queued {
  waiter: ConnectionWaiter;
  key: string;
  info: ClientInfo | null;
  firstOfClient: boolean;
  deadline: number;
}

export class ServerConnections {
  readonly server: Server;
  readonly #connector: PoolConnector;
  /** source.onExhausted "queue": requests wait for a held connection when no source port is free. */
  readonly #waitForPooled: boolean;
  readonly #maxIdle: number;
  readonly #reuse: 'never' | 'safe' | 'always';
  readonly #clientOptions: Client.Options;
  readonly #queueTimeout: number;
  readonly #queueLength: number;
  /** Idle connections by reuse key ('' = shared), most recently used last. */
  readonly #idle = new Map<string, UpstreamConnection[]>();
  readonly #queue: Queued[] = [];
  #open = 0;
  #idleCount = 0;
  #queueTimer: NodeJS.Timeout | null = null;
  #trimTimer: NodeJS.Timeout | null = null;
  /** Server connections opened in total (tests and stats: the multiplexing ratio). */
  opened = 0;

  constructor(server: Server, pool: PoolConfig, connector: PoolConnector) {
    this.server = server;
    this.#connector = connector;
    this.#waitForPooled = pool.source?.onExhausted === 'queue';
    this.#maxIdle = pool.connectionPool.maxIdlePerServer;
    this.#reuse = pool.connectionPool.reuse;
    this.#queueTimeout = pool.timeouts.queue;
    this.#queueLength = 1024;
    const idle = pool.connectionPool.idleTimeout;
    this.#clientOptions = {
      pipelining: 1,
      // Never keep a connection past our idle timeout nor past the server's advertised
      // Keep-Alive timeout minus a margin (undici reads the header; threshold is the margin).
      keepAliveTimeout: idle,
      keepAliveMaxTimeout: idle,
      keepAliveTimeoutThreshold: 500,
      headersTimeout: pool.timeouts.response,
      bodyTimeout: pool.timeouts.serverIdle,
      strictContentLength: true,
    };
  }

  get openConnections(): number {
    return this.#open;
  }

  get idleConnections(): number {
    return this.#idleCount;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Finds a connection for one request. `key` is '' for shared connections or the client address
   * when the connection carries a PROXY header; `firstOfClient` is true for the first request of
   * a client connection (reuse "safe" then takes only proven connections).
   */
  acquire(waiter: ConnectionWaiter, key: string, info: ClientInfo | null, firstOfClient: boolean): void {
    const conn = this.#takeIdle(key, firstOfClient);
    if (conn !== null) return waiter.onConnection(conn);
    // No source port free toward this server (issue 6): with onExhausted "queue", wait for one of
    // the connections we hold rather than for a port that kept-alive connections will not give back.
    const portBound = this.#open > 0 && this.#waitForPooled && !this.#connector.hasFreeSourcePort(this.server);
    if ((this.server.maxConnections === 0 || this.#open < this.server.maxConnections) && !portBound) return waiter.onConnection(this.#open1(key, info));
    if (this.#queue.length >= this.#queueLength) return waiter.onQueueTimeout();
    this.#queue.push({ waiter, key, info, firstOfClient, deadline: Date.now() + this.#queueTimeout });
    this.server.queued = this.#queue.length;
    this.#armQueueTimer();
  }


  /** Gives a connection back after a request: `reusable` false when its state is unknown. */
  release(conn: UpstreamConnection, reusable: boolean): void {
    conn.busy = false;
    if (!reusable || conn.closed) return this.#close(conn);
    conn.completed++;
    // A waiting request takes it at once (only waiters whose key matches).
    for (let i = 0; i < this.#queue.length; i++) {
      const q = this.#queue[i]!;
      if (q.key !== conn.key) continue;
      this.#queue.splice(i, 1);
      this.server.queued = this.#queue.length;
      conn.busy = true;
      return q.waiter.onConnection(conn);
    }
    // Over maxIdlePerServer the surplus is trimmed later, oldest first, not closed here: under
    // high concurrency the idle count swings around the cap many times a second, and closing at
    // once meant opening a new connection moments later (measured with the bench's S7 load:
    // 16,025 server connections opened in 5 s with eager closing, 296 with deferred trimming).
    if (this.#maxIdle === 0) return this.#close(conn);
    let stack = this.#idle.get(conn.key);
    if (stack === undefined) this.#idle.set(conn.key, (stack = []));
    stack.push(conn);
    this.#idleCount++;
    this.server.idleConnections = this.#idleCount;
    if (this.#idleCount > this.#maxIdle) this.#armTrimTimer();
  }

  /** Closes idle connections beyond maxIdlePerServer, least recently used first (stack bottoms). */
  #trim(): void {
    for (const [key, stack] of this.#idle) {
      while (this.#idleCount > this.#maxIdle && stack.length > 0) this.#close(stack[0]!);
      if (stack.length === 0 && key !== '') this.#idle.delete(key);
      if (this.#idleCount <= this.#maxIdle) break;
    }
  }

  #armTrimTimer(): void {
    if (this.#trimTimer !== null) return;
    this.#trimTimer = setTimeout(() => {
      this.#trimTimer = null;
      this.#trim();
    }, TRIM_DELAY_MS);
    this.#trimTimer.unref();
  }

  /** Closes everything (reload/stop). */
  destroy(): void {
    if (this.#trimTimer !== null) clearTimeout(this.#trimTimer);
    this.#trimTimer = null;
    for (const stack of this.#idle.values()) for (const c of stack) c.client.destroy().catch(() => {});
    this.#idle.clear();
    this.#idleCount = 0;
    this.server.idleConnections = 0;
    for (const q of this.#queue.splice(0)) q.waiter.onQueueTimeout();
  }

  /** Closes the idle connections of one key (a client connection with reuse "never" ended). */
  closeKey(key: string): void {
    const stack = this.#idle.get(key);
    if (stack === undefined) return;
    for (const c of [...stack]) this.#close(c);
    this.#idle.delete(key);
  }

  #takeIdle(key: string, firstOfClient: boolean): UpstreamConnection | null {
    const stack = this.#idle.get(key);
    if (stack === undefined) return null;
    for (let i = stack.length - 1; i >= 0; i--) {
      const c = stack[i]!;
      if (firstOfClient && key === '' && this.#reuse === 'safe' && c.completed === 0) continue;
      stack.splice(i, 1);
      this.#idleCount--;
      this.server.idleConnections = this.#idleCount;
      c.busy = true;
      return c;
    }
    return null;
  }

  #open1(key: string, info: ClientInfo | null): UpstreamConnection {
    const server = this.server;
    const connector = this.#connector;
    let conn: UpstreamConnection | null = null;
    const client = new Client(`http://${server.endpoint.host.includes(':') ? `[${server.endpoint.host}]` : server.endpoint.host}:${server.endpoint.port}`, {
      ...this.#clientOptions,
      connect: (_opts, cb) => {
        connector.connect(server, info, (err, socket) => {
          if (conn !== null) conn.socket = socket;
          // undici's connector callback types want (null, socket) | (err, null)
          if (err !== null || socket === null) cb(err ?? new Error('connect failed'), null);
          else cb(null, socket);
        });
      },
    });
    conn = new UpstreamConnection(client, key);
    const c = conn;
    c.busy = true;
    this.#open++;
    this.opened++;
    client.on('disconnect', () => this.#close(c));
    client.on('connectionError', () => this.#close(c));
    return c;
  }

  #close(conn: UpstreamConnection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#open--;
    const stack = this.#idle.get(conn.key);
    if (stack !== undefined) {
      const i = stack.indexOf(conn);
      if (i >= 0) {
        stack.splice(i, 1);
        this.#idleCount--;
        this.server.idleConnections = this.#idleCount;
        if (stack.length === 0 && conn.key !== '') this.#idle.delete(conn.key);
      }
    }
    // destroy() errors a request still on it; the owner of that request already got its error.
    conn.client.destroy().catch(() => {});
    this.#drainQueue();
  }

  /** A slot freed up (a connection closed): the oldest waiter gets a new connection. */
  #drainQueue(): void {
    // With source ports the limit (waitForPooled), the closed connection gives back one port: one new connection.
    let budget = this.#waitForPooled ? 1 : Infinity;
    while (budget-- > 0 && this.#queue.length > 0 && (this.server.maxConnections === 0 || this.#open < this.server.maxConnections)) {
      const q = this.#queue.shift()!;
      this.server.queued = this.#queue.length;
      q.waiter.onConnection(this.#open1(q.key, q.info));
    }
  }

  #armQueueTimer(): void {
    if (this.#queueTimer !== null) return;
    this.#queueTimer = setInterval(() => {
      const now = Date.now();
      while (this.#queue.length > 0 && this.#queue[0]!.deadline <= now) {
        const q = this.#queue.shift()!;
        this.server.queued = this.#queue.length;
        q.waiter.onQueueTimeout();
      }
      if (this.#queue.length === 0 && this.#queueTimer !== null) {
        clearInterval(this.#queueTimer);
        this.#queueTimer = null;
      }
    }, 50);
    this.#queueTimer.unref();
  }
}
