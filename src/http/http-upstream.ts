// Kept-alive server connections per server (http mode): the multiplexing half of the full proxy.
// Each connection is an UpstreamConnection (upstream-connection.ts) over a socket from
// connector.ts, so server connections are made exactly as in tcp mode. The SPEC needs what a
// generic client pool does not give: a bound on idle connections (maxIdlePerServer), HAProxy's
// "safe" reuse (a client's first request only on a proven connection), a reuse key
// (PROXY-header connections serve one client address), and knowing whether a failed request ran
// on a reused connection (retry rule).
//
//   acquire ─▶ idle stack (LIFO: hot connections stay hot, the rest time out)
//          └─▶ new connection while under servers[].maxConnections
//          └─▶ FIFO wait queue (pools[].timeouts.queue), then 503
import type { PoolConfig } from '../config/schema.ts';
import type { FullproxyError } from '../errors.ts';
import { clock } from '../util/clock.ts';
import { applySocketOptions } from '../net/socket.ts';
import type { ClientInfo, PoolConnector } from '../pool/connector.ts';
import type { Server } from '../pool/server.ts';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.ts';


/** Surplus idle connections (beyond maxIdlePerServer) live this long before they are closed. */
const TRIM_DELAY_MS = 1_000;
/** A connection is not reused this close to the server's advertised Keep-Alive timeout. */
const KEEP_ALIVE_MARGIN_MS = 500;

/** A request waiting for a connection (queued when the server is at maxConnections). */
export interface ConnectionWaiter {
  /** The connection is the caller's until release(); its socket is connected. */
  onConnection(conn: UpstreamConnection): void;
  /** Opening a new connection for this waiter failed (connect refused/timeout, no source port). */
  onConnectError(err: FullproxyError): void;
  onQueueTimeout(): void;
}

interface Queued {
  waiter: ConnectionWaiter;
  key: string;
  info: ClientInfo | null;
  firstOfClient: boolean;
  deadline: number;
}

export class ServerConnections implements ConnectionOwner {
  readonly server: Server;
  #connector!: PoolConnector;
  /** source.onExhausted "queue": requests wait for a held connection when no source port is free. */
  #waitForPooled!: boolean;
  #maxIdle!: number;
  #reuse!: 'never' | 'safe' | 'always';
  #idleTimeout!: number;
  #keepAlive!: number | false;
  #queueTimeout!: number;
  readonly #queueLength: number;
  /** Idle connections by reuse key ('' = shared), most recently used last. */
  readonly #idle = new Map<string, UpstreamConnection[]>();
  readonly #queue: Queued[] = [];
  #open = 0;
  #idleCount = 0;
  #queueTimer: NodeJS.Timeout | null = null;
  /** The idle sweep runs on the shared clock tick while any connection is open. */
  #stopTick: (() => void) | null = null;
  /** Server connections opened in total (tests and stats: the multiplexing ratio). */
  opened = 0;

  constructor(server: Server, pool: PoolConfig, connector: PoolConnector) {
    this.server = server;
    this.#queueLength = 1024;
    this.reconfigure(pool, connector); // the pool's settings: the fields marked `!` above
  }

  /**
   * A reload kept the server and what its connections were made with (PROXY header, source): the
   * idle connections stay, and the pool's other settings (idle limits, reuse, queue and connect
   * timeouts: the new connector) apply from now on.
   */
  reconfigure(pool: PoolConfig, connector: PoolConnector): void {
    this.#connector = connector;
    this.#waitForPooled = pool.source?.onExhausted === 'queue';
    this.#maxIdle = pool.connectionPool.maxIdlePerServer;
    this.#reuse = pool.connectionPool.reuse;
    this.#idleTimeout = pool.connectionPool.idleTimeout;
    this.#keepAlive = pool.tcpKeepAlive;
    this.#queueTimeout = pool.timeouts.queue;
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
    if ((this.server.maxConnections === 0 || this.#open < this.server.maxConnections) && !portBound) return this.#open1(waiter, key, info, firstOfClient, 0);
    if (this.#queue.length >= this.#queueLength) return waiter.onQueueTimeout();
    this.#queue.push({ waiter, key, info, firstOfClient, deadline: Date.now() + this.#queueTimeout });
    this.server.queued = this.#queue.length;
    this.#armQueueTimer();
  }

  /** Gives a connection back after a request: `reusable` false when its state is unknown. */
  release(conn: UpstreamConnection, reusable: boolean): void {
    conn.busy = false;
    conn.exchange = null;
    if (!reusable || conn.closed) return conn.destroy();
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
    if (this.#maxIdle === 0) return conn.destroy();
    let stack = this.#idle.get(conn.key);
    if (stack === undefined) this.#idle.set(conn.key, (stack = []));
    conn.idleSince = clock.now;
    stack.push(conn);
    this.#idleCount++;
    this.server.idleConnections = this.#idleCount;
  }

  /**
   * The tick: idle connections past pools[].connectionPool.idleTimeout (or near the server's own
   * Keep-Alive timeout) are closed, and so is the surplus beyond maxIdlePerServer once it has
   * been idle for TRIM_DELAY_MS — least recently used first (stack bottoms).
   */
  #sweep(now: number): void {
    if (this.#idleCount === 0) return;
    for (const [key, stack] of this.#idle) {
      while (stack.length > 0) {
        const c = stack[0]!;
        const limit = c.keepAliveMs > 0 ? Math.min(this.#idleTimeout, c.keepAliveMs - KEEP_ALIVE_MARGIN_MS) : this.#idleTimeout;
        const idleFor = now - c.idleSince;
        if (idleFor >= limit || (this.#idleCount > this.#maxIdle && idleFor >= TRIM_DELAY_MS)) c.destroy();
        else break;
      }
      if (stack.length === 0 && key !== '') this.#idle.delete(key);
    }
  }

  /** Closes everything (reload/stop). */
  destroy(): void {
    for (const stack of this.#idle.values()) for (const c of [...stack]) c.destroy();
    this.#idle.clear();
    this.#idleCount = 0;
    this.server.idleConnections = 0;
    for (const q of this.#queue.splice(0)) q.waiter.onQueueTimeout();
  }

  /**
   * A reload dropped this set (its server, or the settings its connections were made with): idle
   * connections close now; busy ones finish their request and then close (release() finds no
   * room: maxIdle is 0 from now on). Queued requests still get a connection.
   */
  closeIdle(): void {
    this.#maxIdle = 0;
    for (const stack of this.#idle.values()) for (const c of [...stack]) c.destroy();
    this.#idle.clear();
    this.#idleCount = 0;
    this.server.idleConnections = 0;
  }

  /** Closes the idle connections of one key (a client connection with reuse "never" ended). */
  closeKey(key: string): void {
    const stack = this.#idle.get(key);
    if (stack === undefined) return;
    for (const c of [...stack]) c.destroy();
    this.#idle.delete(key);
  }

  #takeIdle(key: string, firstOfClient: boolean): UpstreamConnection | null {
    const stack = this.#idle.get(key);
    if (stack === undefined) return null;
    for (let i = stack.length - 1; i >= 0; i--) {
      const c = stack[i]!;
      if (firstOfClient && key === '' && this.#reuse === 'safe' && c.completed === 0) continue;
      if (i === stack.length - 1) stack.pop();
      else stack.splice(i, 1);
      this.#idleCount--;
      this.server.idleConnections = this.#idleCount;
      c.busy = true;
      return c;
    }
    return null;
  }

  /**
   * Opens a connection for `waiter`: it gets it once connected, or the connect error. `deadline`:
   * when a waiter taken from the queue gives up (0: it was never queued).
   */
  #open1(waiter: ConnectionWaiter, key: string, info: ClientInfo | null, firstOfClient: boolean, deadline: number): void {
    const conn = new UpstreamConnection(key, this);
    conn.busy = true;
    // Source ports the limit (onExhausted "queue") and connections of ours that will come back: a
    // connect that finds no port now — the kernel refused the ones our accounting thought free
    // (issue 17) — waits for one of those connections, not in the source-port queue, which they
    // never feed (they go idle and keep their ports).
    const noPort = this.#waitForPooled && this.#open > 0 ? 'fail' : 'wait';
    this.#open++;
    this.opened++;
    if (this.#stopTick === null) this.#stopTick = clock.onTick((now) => this.#sweep(now));
    this.#connector.connect(this.server, info, (err, socket) => {
      if (err !== null || socket === null) {
        conn.closed = true;
        if (noPort === 'fail' && err?.code === 'source-exhausted') return this.#requeue(waiter, key, info, firstOfClient, deadline);
        this.connectionClosed(conn, true);
        waiter.onConnectError(err!);
        return;
      }
      // Pooled connections live long: keepalive at once (sessions arm theirs on the sweep).
      applySocketOptions(socket, this.#keepAlive);
      conn.attach(socket);
      waiter.onConnection(conn);
    }, conn.onread, noPort);
  }

  /**
   * A connect found no source port: the waiter queues (by its deadline, which the queue timer
   * needs in order) for a connection of ours. The failed one freed no port, so it opens nothing
   * (connectionClosed would), unless none of ours is left to come back: then the head waits for a
   * port in the connector's queue.
   */
  #requeue(waiter: ConnectionWaiter, key: string, info: ClientInfo | null, firstOfClient: boolean, deadline: number): void {
    this.#open--;
    const now = Date.now();
    const until = deadline === 0 ? now + this.#queueTimeout : deadline;
    if (until <= now || this.#queue.length >= this.#queueLength) waiter.onQueueTimeout();
    else {
      let i = this.#queue.length;
      while (i > 0 && this.#queue[i - 1]!.deadline > until) i--;
      this.#queue.splice(i, 0, { waiter, key, info, firstOfClient, deadline: until });
      this.server.queued = this.#queue.length;
      this.#armQueueTimer();
    }
    if (this.#open === 0) {
      if (this.#stopTick !== null) {
        this.#stopTick();
        this.#stopTick = null;
      }
      this.#drainQueue();
    }
  }

  /** A connection is gone (closed by either side or destroyed): forget it, let a waiter in. */
  connectionClosed(conn: UpstreamConnection, failedConnect = false): void {
    this.#open--;
    if (!failedConnect) {
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
    }
    if (this.#open === 0 && this.#stopTick !== null) {
      this.#stopTick();
      this.#stopTick = null;
    }
    this.#drainQueue();
  }

  /** A slot freed up (a connection closed): the oldest waiter gets a new connection. */
  #drainQueue(): void {
    // With source ports the limit (waitForPooled), the closed connection gives back one port: one new connection.
    let budget = this.#waitForPooled ? 1 : Infinity;
    while (budget-- > 0 && this.#queue.length > 0 && (this.server.maxConnections === 0 || this.#open < this.server.maxConnections)) {
      const q = this.#queue.shift()!;
      this.server.queued = this.#queue.length;
      this.#open1(q.waiter, q.key, q.info, q.firstOfClient, q.deadline);
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
