// Everything built from one validated config (issue 14): pools with their schedulers and
// connectors, the http server-connection sets, and per listener the settings a reload swaps onto
// the bound socket (ACL, PROXY policy, routes, forwarding policy, timeouts — the protocol handler).
//
// Built by one function from (config, previous generation, runtime). Building touches nothing
// that runs: kept servers and their connection sets are only *referenced* here, and take the new
// config's values in activate(), which the runtime calls at the swap. A reload that fails after
// building (a listener that cannot bind) therefore leaves the running generation as it was.
//
// In-flight work holds direct references into the generation it started in (a tcp session its
// TcpProxy, pool and connector; an http request its pool, server and server-connection set), so a
// generation lives exactly as long as its last session and is then garbage (nothing registers it).
import type { Config, PoolConfig } from './config/schema.ts';
import type { Logger } from './log.ts';
import type { SessionTable } from './session/session-table.ts';
import type { ListenerCounters } from './listener/counters.ts';
import type { Server } from './pool/server.ts';
import { ListenerSettings } from './listener/listener.ts';
import { EXPIRY_WARNING_MS, buildListenerTls } from './listener/tls.ts';
import type { TicketKeys } from './listener/ticket-keys.ts';
import { Pool } from './pool/pool.ts';
import { PoolConnector, buildPoolTls, sameJson } from './pool/connector.ts';
import { TcpProxy } from './tcp/tcp-proxy.ts';
import { HttpListener, type ListenerSlot } from './http/http-listener.ts';
import { ServerConnections } from './http/http-upstream.ts';
import { HealthChecker } from './health/health-checker.ts';

/** What a generation needs of the long-lived runtime. */
export interface GenerationHost {
  readonly log: Logger;
  readonly sessions: SessionTable;
  /** Counters of a listener name: they outlive generations (and a change of `listen`). */
  countersFor(listener: string): ListenerCounters;
  /** The http listener name's slot: which generation takes its new requests. */
  slotFor(listener: string): ListenerSlot;
  /** The listener name's TLS session-ticket keys: kept across reloads, so resumption survives them. */
  ticketKeysFor(listener: string): TicketKeys;
}

/**
 * Pool settings a server connection was made with: when one changes, idle connections of the old
 * settings must not serve new requests (a PROXY header or source address they no longer match).
 */
function connectionIdentity(pc: PoolConfig): string {
  return JSON.stringify([pc.sendProxyProtocol, pc.source ?? null, pc.tls ?? null]);
}

export class Generation {
  readonly config: Config;
  readonly pools = new Map<string, Pool>();
  /** One connector per pool: every server connection of the pool, any mode, is made (and its source port counted) there. */
  readonly connectors = new Map<Pool, PoolConnector>();
  /** Kept-alive server connections per server (http listeners share them). */
  readonly upstreams = new Map<Server, ServerConnections>();
  /** Per listener name: what the bound socket applies to the connections it accepts. */
  readonly listeners = new Map<string, ListenerSettings>();
  readonly httpListeners: HttpListener[] = [];
  /** Active health checks, one checker per pool with `healthCheck`: they run while this generation is the live one. */
  readonly checkers: HealthChecker[] = [];
  /** Pools built on a predecessor: activate() applies their servers' new values at the swap. */
  readonly #successors: Pool[] = [];
  /** Connection sets carried over from the previous generation: activate() gives them the new pool settings. */
  readonly #keptConnections: Array<{ connections: ServerConnections; pool: Pool }> = [];

  constructor(config: Config, previous: Generation | null, host: GenerationHost) {
    this.config = config;
    const log = host.log;
    config.pools.forEach((pc, p) => {
      const prev = previous?.pools.get(pc.name) ?? null;
      const pool = new Pool(pc, log, prev);
      if (prev !== null) this.#successors.push(pool);
      this.pools.set(pc.name, pool);
      // The CA file is read here (a reload reads it again); one gone bad since load.ts checked it throws: the reload fails with nothing changed.
      const connector = new PoolConnector(pc, log, prev === null ? null : { connector: previous!.connectors.get(prev)!, config: prev.config }, buildPoolTls(pc, `pools[${p}]`));
      this.connectors.set(pool, connector);
      if (pc.healthCheck !== undefined) this.checkers.push(new HealthChecker(pool, pc.healthCheck, connector, log));
      const sameConnections = prev !== null && connectionIdentity(prev.config) === connectionIdentity(pc);
      for (const server of pool.servers) {
        // A kept server keeps its idle pooled connections, unless what they were made with changed.
        const kept = sameConnections ? previous!.upstreams.get(server) : undefined;
        if (kept !== undefined) this.#keptConnections.push({ connections: kept, pool });
        this.upstreams.set(server, kept ?? new ServerConnections(server, pc, connector));
      }
    });
    config.listeners.forEach((lc, i) => {
      const pool = this.#pool(lc.pool);
      // Certificates are read here, so a reload swaps them with the rest of the listener's settings;
      // a file gone bad since load.ts checked it throws, and the reload fails with nothing changed.
      const tls = lc.tls === undefined ? null : buildListenerTls(lc, `listeners[${i}]`, host.ticketKeysFor(lc.name));
      const llog = log.child({ listener: lc.name });
      const counters = host.countersFor(lc.name);
      switch (lc.protocol) {
        case 'tcp':
          {
            // SNI passthrough routes (validate.ts: only `sni` on tcp listeners, never with `tls`).
            const routes = lc.routes.map((r) => {
              const routed = this.#pool(r.pool);
              return { sni: r.sni!, pool: routed, connector: this.connectors.get(routed)! };
            });
            this.listeners.set(lc.name, new ListenerSettings(lc, new TcpProxy(lc, pool, this.connectors.get(pool)!, host.sessions, counters, llog, config.logging.access, routes), config.limits.onFull, tls));
          }
          break;
        case 'http': {
          const http = new HttpListener(lc, host.slotFor(lc.name), this.pools, this.connectors, this.upstreams, host.sessions, counters, llog, config.logging.access);
          this.httpListeners.push(http);
          this.listeners.set(lc.name, new ListenerSettings(lc, http, config.limits.onFull, tls));
          break;
        }
        case 'udp':
          throw new Error(`listener ${lc.name}: protocol "${lc.protocol}" is not implemented yet`);
        default: {
          const never: never = lc.protocol;
          throw new Error(`unknown protocol ${String(never)}`);
        }
      }
    });
  }

  #pool(name: string): Pool {
    const p = this.pools.get(name);
    if (p === undefined) throw new Error(`no pool named ${name}`); // validate.ts checks references
    return p;
  }

  /** Stops this generation's health checks: the next generation went live, or (`final`) the proxy stops. */
  stopChecks(final = false): void {
    for (const c of this.checkers) c.stop(final);
  }

  /** Warnings about this config worth a log line at start and at every reload. */
  warnings(log: Logger): void {
    const soon = Date.now() + EXPIRY_WARNING_MS;
    for (const [name, settings] of this.listeners) {
      for (const c of settings.tls?.certificates ?? []) {
        if (c.notAfter < soon) log.warn({ listener: name, certificate: c.file, subject: c.subject, notAfter: new Date(c.notAfter).toISOString() }, c.notAfter < Date.now() ? 'TLS certificate has expired' : 'TLS certificate expires within 30 days');
      }
      for (const c of settings.tls?.unserved ?? []) {
        log.warn({ listener: name, certificate: c.file, names: c.names }, 'TLS certificate not served: an earlier certificate has the same names and a key of the same type (or the names are not the first certificate\'s: only those may have an RSA and an ECDSA certificate)');
      }
    }
    for (const pc of this.config.pools) {
      if (pc.tls?.verify === false) log.warn({ pool: pc.name }, 'TLS to servers without certificate verification (pools[].tls.verify: false) — every certificate is accepted, so anyone on the path to the servers can impersonate them');
    }
    for (const lc of this.config.listeners) {
      if (lc.protocol !== 'http') continue;
      for (const name of new Set([lc.pool, ...lc.routes.map((r) => r.pool)])) {
        if (this.#pool(name).config.sendProxyProtocol !== 'off') {
          log.warn({ listener: lc.name, pool: name }, 'PROXY headers toward http servers: a server connection is reused only for the same client address, so connection reuse drops');
        }
      }
    }
  }

  /**
   * The generation goes live (the swap): kept servers take their new configured values and every
   * pool's picks are rebuilt. Servers of `previous` that this generation dropped are retired: no
   * new picks (also not for retries still running in the old generation); what runs on them
   * finishes there. Idle server connections nobody can use any more are closed.
   */
  activate(previous: Generation | null): void {
    for (const pool of this.#successors) pool.activate();
    for (const { connections, pool } of this.#keptConnections) connections.reconfigure(pool.config, this.connectors.get(pool)!);
    for (const h of this.httpListeners) h.activate();
    // The new checkers take their servers first; the old ones then stop, leaving kept servers (and a
    // check in flight on one) to their successor: no server is checked twice, none by a dropped pool.
    for (const c of this.checkers) c.start();
    if (previous === null) return;
    previous.stopChecks();
    for (const oldPool of previous.pools.values()) {
      let retired = false;
      for (const s of oldPool.servers) {
        if (this.upstreams.has(s) || s.retired) continue;
        s.retired = true;
        retired = true;
      }
      // Only a pool that lost servers needs new picks (retries still running in it); rebuilding
      // every old pool cost a maglev table each (bench:reload).
      if (retired) oldPool.rebuild();
    }
    for (const [server, up] of previous.upstreams) {
      if (this.upstreams.get(server) !== up) up.closeIdle();
    }
  }
}
