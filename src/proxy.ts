// The runtime root: builds pools, listeners, the session table and the admin server from a
// Config, by hand and in order (DESIGN: no DI container); start(), drain() and stop().
import type { Config } from './config/schema.ts';
import type { Logger } from './log.ts';
import { Listener } from './listener/listener.ts';
import { Pool } from './pool/pool.ts';
import { PoolConnector, type SourcePortStats } from './pool/connector.ts';
import { SessionTable } from './session/session-table.ts';
import { TcpProxy } from './tcp/tcp-proxy.ts';
import { HttpListener } from './http/http-listener.ts';
import { ServerConnections } from './http/http-upstream.ts';
import type { Server } from './pool/server.ts';
import { AdminServer } from './admin/admin-server.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { clientReadsMode } from './net/client-reads.ts';
import { directWritesMode } from './net/direct-writes.ts';

export class Proxy {
  readonly config: Config;
  readonly log: Logger;
  readonly sessions: SessionTable;
  readonly pools = new Map<string, Pool>();
  readonly listeners = new Map<string, Listener>();
  /** Kept-alive server connections per server (http listeners share them). */
  readonly upstreams = new Map<Server, ServerConnections>();
  /** One connector per pool: every server connection of the pool, any mode, is made (and its source port counted) there. */
  readonly connectors = new Map<Pool, PoolConnector>();
  readonly #httpListeners: HttpListener[] = [];
  readonly startedAt = Date.now();
  generation = 1;
  lastReload: { ok: boolean; error: string | null; at: string } | null = null;
  #draining = false;
  admin: AdminServer | null = null;
  /** Where the admin server is bound (port 0 resolved); null without `admin`. */
  adminAddress: { host: string; port: number } | null = null;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 20 });
  /** The config file this proxy runs from (reload reads it again); null for inline configs. */
  configPath: string | null = null;

  constructor(config: Config, log: Logger) {
    this.config = config;
    this.log = log;
    this.sessions = new SessionTable(config.limits.maxSessions);
    if (clientReadsMode() !== 'user-buffer') log.warn({ node: process.version }, 'this Node lacks the internals client-reads.ts uses: client sockets read through streams (more CPU and GC per read)');
    if (directWritesMode() !== 'handle') log.warn({ node: process.version }, 'this Node lacks the internals direct-writes.ts uses: writes go through streams (more CPU per write)');
    for (const pc of config.pools) {
      const pool = new Pool(pc, log);
      this.pools.set(pc.name, pool);
      const connector = new PoolConnector(pc, log);
      this.connectors.set(pool, connector);
      for (const server of pool.servers) this.upstreams.set(server, new ServerConnections(server, pc, connector));
    }
    for (const lc of config.listeners) {
      const listener = new Listener(lc, this.sessions, config.limits.onFull, log);
      const pool = this.#pool(lc.pool);
      const llog = log.child({ listener: lc.name });
      switch (lc.protocol) {
        case 'tcp':
          listener.setHandler(new TcpProxy(lc, pool, this.connectors.get(pool)!, this.sessions, listener.counters, llog, config.logging.access));
          break;
        case 'http': {
          for (const name of new Set([lc.pool, ...lc.routes.map((r) => r.pool)])) {
            if (this.#pool(name).config.sendProxyProtocol !== 'off') {
              log.warn({ listener: lc.name, pool: name }, 'PROXY headers toward http servers: a server connection is reused only for the same client address, so connection reuse drops');
            }
          }
          const http = new HttpListener(lc, this.pools, this.connectors, this.upstreams, this.sessions, listener.counters, llog, config.logging.access);
          this.#httpListeners.push(http);
          listener.setHandler(http);
          break;
        }
        case 'udp':
          throw new Error(`listener ${lc.name}: protocol "${lc.protocol}" is not implemented yet`);
        default: {
          const never: never = lc.protocol;
          throw new Error(`unknown protocol ${String(never)}`);
        }
      }
      this.listeners.set(lc.name, listener);
    }
  }

  #pool(name: string): Pool {
    const p = this.pools.get(name);
    if (p === undefined) throw new Error(`no pool named ${name}`); // validate.ts checks references
    return p;
  }

  /** Binds every listener (and the admin server); on a bind error the ones already bound are closed again. */
  async start(): Promise<void> {
    this.#loopDelay.enable();
    try {
      if (this.config.admin !== undefined) {
        this.admin = new AdminServer(this, this.config.admin.listen, this.config.admin.token);
        const a = await this.admin.listen();
        this.adminAddress = a;
        this.log.info({ address: `${a.host}:${a.port}` }, 'admin listening');
      }
      for (const l of this.listeners.values()) {
        await l.listen();
        const a = l.address();
        this.log.info({ listener: l.name, protocol: l.config.protocol, address: `${a.host}:${a.port}`, pool: l.config.pool }, 'listening');
      }
    } catch (err) {
      await Promise.all([...this.listeners.values()].map((l) => l.close()));
      await this.admin?.close();
      throw err;
    }
  }

  /** Mean event-loop delay since the last call, in ms (admin stats and metrics). */
  eventLoopLagMs(): number {
    const mean = this.#loopDelay.mean;
    this.#loopDelay.reset();
    return Number.isNaN(mean) ? 0 : Math.max(0, mean / 1e6 - 20);
  }

  /** Source-port figures of one server (SPEC stats `sourcePorts`). */
  sourcePortsOf(pool: Pool, server: Server): SourcePortStats {
    return this.connectors.get(pool)!.sourcePortStats(server);
  }

  /** POST /api/v1/reload and SIGHUP: not implemented yet — the running config stays. */
  async reloadFromFile(): Promise<{ ok: boolean; error: string | null; errors?: string[] }> {
    return { ok: false, error: 'reload is not implemented yet; the running config stays' };
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * SIGTERM: stop accepting, let sessions finish for up to `timeoutMs`, then RST the rest.
   * Resolves when no session is left.
   */
  async drain(timeoutMs: number = this.config.drainTimeout): Promise<{ finished: number; reset: number }> {
    this.#draining = true;
    await Promise.all([...this.listeners.values()].map((l) => l.close()));
    const open = this.sessions.size;
    this.log.info({ sessions: open, timeoutMs }, 'draining');
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      for (const h of this.#httpListeners) h.closeIdle();
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    }
    const reset = this.sessions.size;
    if (reset > 0) {
      this.log.warn({ sessions: reset }, 'drain timeout: resetting remaining sessions');
      this.sessions.resetAll('drain');
    }
    for (const h of this.#httpListeners) h.close();
    for (const u of this.upstreams.values()) u.destroy();
    for (const c of this.connectors.values()) c.close(); // connections still waiting for a source port fail now
    await this.admin?.close();
    this.#loopDelay.disable();
    return { finished: open - reset, reset };
  }

  /** Immediate stop (tests): close listeners and reset every session. */
  async stop(): Promise<void> {
    await this.drain(0);
  }
}
