// The long-lived root (issue 14): the bound listening sockets, the session table, the admin server
// and the current Generation (generation.ts: everything one config decides). A reload — SIGHUP or
// POST /api/v1/reload, the same code — builds the next generation beside the running one and swaps
// a single reference; nothing is dropped:
//
//   read → parse → validate → build → bind new addresses ─▶ swap ─▶ retire what the config dropped
//   (any failure before the swap changes nothing: logged with its JSON path, lastReload.ok false)
//
//   listener same name + listen   the bound socket stays; the new settings apply to new connections
//   listen changed / added        bound first (a bind error fails the whole reload), then swapped in
//   removed (or old address)      stops accepting; its sessions drain up to drainTimeout, then RST
//   pool server kept              same Server object: health, drain, counters, idle connections
//                                 (its active checks move to the new generation's checker at the swap)
//   pool server dropped           retired: no new picks; what runs on it finishes there
//
// Reloads are serialized: triggers that arrive while one runs cause exactly one more after it.
import type { Config } from './config/schema.ts';
import type { Logger } from './log.ts';
import type { Pool } from './pool/pool.ts';
import type { Server } from './pool/server.ts';
import type { SourcePortStats } from './pool/connector.ts';
import type { ServerConnections } from './http/http-upstream.ts';
import type { ListenerSlot } from './http/http-listener.ts';
import type { AdminView, ListenerView, ReloadResult, ReloadStatus } from './admin/view.ts';
import type { Session } from './session/session.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfigFile } from './config/load.ts';
import { Generation } from './generation.ts';
import { Listener, listenerOf } from './listener/listener.ts';
import { ListenerCounters } from './listener/counters.ts';
import { DenyList } from './listener/deny-list.ts';
import { FdBudget } from './listener/fd-budget.ts';
import { SessionTable } from './session/session-table.ts';
import { AdminServer } from './admin/admin-server.ts';
import { clientReadsMode } from './net/client-reads.ts';
import { directWritesMode } from './net/direct-writes.ts';
import { FAST_PATHS_OFF } from './net/fast-paths.ts';
import { TicketKeys, hasTicketKeyCallback } from './listener/ticket-keys.ts';
import { clock } from './util/clock.ts';

export class Runtime implements AdminView {
  readonly log: Logger;
  readonly sessions: SessionTable;
  /** Runtime denies (POST /api/v1/acl/deny): kept across reloads, not across restarts. */
  readonly denies = new DenyList();
  /** Client connections all listeners may hold, from RLIMIT_NOFILE (listener/fd-budget.ts). */
  readonly fds: FdBudget;
  readonly startedAt = Date.now();
  /** The bound listener of each configured listener name. */
  readonly listeners = new Map<string, Listener>();
  #gen: Generation;
  generation = 1;
  lastReload: ReloadStatus | null = null;
  /** Reloads that failed before the swap (stats and metrics). */
  reloadFailures = 0;
  #draining = false;
  admin: AdminServer | null = null;
  /** Where the admin server is bound (port 0 resolved); null without `admin`. */
  adminAddress: { host: string; port: number } | null = null;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 20 });
  /** The config file this proxy runs from (reload reads it again); null for inline configs. */
  configPath: string | null;
  /** Listener counters by name: they outlive generations and a change of address. */
  readonly #counters = new Map<string, ListenerCounters>();
  /** TLS session-ticket key rings by listener name (listener/ticket-keys.ts), rotated from one clock tick. */
  readonly #ticketKeys = new Map<string, TicketKeys>();
  #stopTicketRotation: (() => void) | null = null;
  /** http listeners by name: the generation that takes new requests, and the drain flag. */
  readonly #slots = new Map<string, ListenerSlot>();
  /** Listeners no longer in the config (or at an old address), draining their sessions. */
  readonly #retired = new Set<Listener>();
  #reloadRunning: Promise<ReloadResult> | null = null;
  #reloadQueued: Promise<ReloadResult> | null = null;

  constructor(config: Config, log: Logger, configPath: string | null = null) {
    this.log = log;
    this.configPath = configPath;
    this.sessions = new SessionTable(config.limits.maxSessions);
    this.fds = new FdBudget(log);
    this.fds.configure(config);
    const cause = FAST_PATHS_OFF ? 'FULLPROXY_FAST_PATHS=off' : 'this Node lacks the internals';
    if (clientReadsMode() !== 'user-buffer') log.warn({ node: process.version, cause }, 'client sockets read through streams, not the user-buffer fast path (more CPU and GC per read)');
    if (directWritesMode() !== 'handle') log.warn({ node: process.version, cause }, 'writes go through streams, not straight to the socket handle (more CPU per write)');
    this.#gen = new Generation(config, null, this);
    this.#gen.activate(null);
    this.#gen.warnings(log);
    for (const [name, settings] of this.#gen.listeners) this.listeners.set(name, new Listener(settings, this, log, this.countersFor(name)));
  }

  get config(): Config {
    return this.#gen.config;
  }

  /** The running generation (tests hold a WeakRef to it to see it released). */
  get currentGeneration(): Generation {
    return this.#gen;
  }

  /** The pools of the current generation (admin API, tests). */
  get pools(): ReadonlyMap<string, Pool> {
    return this.#gen.pools;
  }

  /** Kept-alive server connections of the current generation's servers. */
  get upstreams(): ReadonlyMap<Server, ServerConnections> {
    return this.#gen.upstreams;
  }

  slotFor(listener: string): ListenerSlot {
    let s = this.#slots.get(listener);
    if (s === undefined) this.#slots.set(listener, (s = { current: null, draining: false }));
    return s;
  }

  ticketKeysFor(listener: string): TicketKeys {
    let k = this.#ticketKeys.get(listener);
    if (k === undefined) {
      this.#ticketKeys.set(listener, (k = new TicketKeys(Date.now())));
      if (!hasTicketKeyCallback() && this.#ticketKeys.size === 1) this.log.warn({ node: process.version }, 'TLS session-ticket keys change only at a reload, not every hour: this Node lacks the ticket key callback');
      this.#stopTicketRotation ??= clock.onTick((now) => this.#rotateTicketKeys(now));
    }
    return k;
  }

  /** On the shared clock tick: each listener's ticket keys rotate when their interval is over. */
  #rotateTicketKeys(now: number): void {
    for (const [listener, keys] of this.#ticketKeys) if (keys.rotateIfDue(now)) this.log.debug({ listener }, 'TLS session-ticket key rotated');
  }

  countersFor(listener: string): ListenerCounters {
    let c = this.#counters.get(listener);
    if (c === undefined) this.#counters.set(listener, (c = new ListenerCounters()));
    return c;
  }

  /** Binds every listener (and the admin server); on a bind error the ones already bound are closed again. */
  async start(): Promise<void> {
    this.#loopDelay.enable();
    const admin = this.config.admin;
    try {
      if (admin !== undefined) {
        this.admin = new AdminServer(this, admin.listen, admin.token);
        const a = await this.admin.listen();
        this.adminAddress = a;
        this.log.info({ address: `${a.host}:${a.port}` }, 'admin listening');
      }
      for (const l of this.listeners.values()) {
        await l.listen();
        this.#logListening(l);
      }
    } catch (err) {
      await Promise.all([...this.listeners.values()].map((l) => l.close()));
      await this.admin?.close();
      throw err;
    }
  }

  #logListening(l: Listener): void {
    const a = l.address();
    this.log.info({ listener: l.name, protocol: l.config.protocol, address: `${a.host}:${a.port}`, pool: l.config.pool, generation: this.generation }, 'listening');
  }

  // ---- AdminView ----

  listenerViews(): ListenerView[] {
    return [...this.listeners.values()].map((l) => ({ name: l.name, protocol: l.config.protocol, counters: l.counters, certificates: l.settings.tls?.certificates ?? [] }));
  }

  poolList(): Pool[] {
    return [...this.#gen.pools.values()];
  }

  findPool(name: string): Pool | undefined {
    return this.#gen.pools.get(name);
  }

  upstreamOf(server: Server): ServerConnections | undefined {
    return this.#gen.upstreams.get(server);
  }

  /** Source-port figures of one server (SPEC stats `sourcePorts`). */
  sourcePortsOf(pool: Pool, server: Server): SourcePortStats {
    return this.#gen.connectors.get(pool)!.sourcePortStats(server);
  }

  /** Mean event-loop delay since the last call, in ms (admin stats and metrics). */
  eventLoopLagMs(): number {
    const mean = this.#loopDelay.mean;
    this.#loopDelay.reset();
    return Number.isNaN(mean) ? 0 : Math.max(0, mean / 1e6 - 20);
  }

  get draining(): boolean {
    return this.#draining;
  }

  // ---- reload ----

  /**
   * SIGHUP and POST /api/v1/reload: reloads the config file. Serialized: while one reload runs,
   * every further trigger shares the single reload queued after it (it reads the file afresh, so
   * whatever the triggers saw written is in it).
   */
  reload(): Promise<ReloadResult> {
    if (this.#reloadRunning === null) return this.#runReload();
    this.#reloadQueued ??= this.#reloadRunning.then(() => {
      this.#reloadQueued = null;
      return this.#runReload();
    });
    return this.#reloadQueued;
  }

  #runReload(): Promise<ReloadResult> {
    const run = this.#reloadOnce().finally(() => {
      if (this.#reloadRunning === run) this.#reloadRunning = null;
    });
    this.#reloadRunning = run;
    return run;
  }

  async #reloadOnce(): Promise<ReloadResult> {
    if (this.#draining) return this.#failed(['the proxy is draining (SIGTERM): no reload']);
    if (this.configPath === null) return this.#failed(['this proxy was started from an inline config: there is no file to reload']);
    const loaded = loadConfigFile(this.configPath);
    if (!loaded.ok) return this.#failed(loaded.errors);
    return this.apply(loaded.config);
  }

  /** Applies a validated config (reload's last steps; tests call it with inline configs). */
  async apply(config: Config): Promise<ReloadResult> {
    const started = performance.now();
    const old = this.#gen;
    const refused = unreloadable(old.config, config);
    if (refused.length > 0) return this.#failed(refused);
    let next: Generation;
    try {
      next = new Generation(config, old, this);
    } catch (err) {
      return this.#failed([err instanceof Error ? err.message : String(err)]);
    }
    // New addresses are bound before anything changes: a port held by another process fails the
    // reload with the running config untouched.
    const fresh = new Map<string, Listener>();
    for (const [name, settings] of next.listeners) {
      const current = this.listeners.get(name);
      if (current !== undefined && current.listenAddress === settings.config.listen) continue;
      const l = new Listener(settings, this, this.log, this.countersFor(name));
      try {
        await l.listen();
      } catch (err) {
        await Promise.all([...fresh.values(), l].map((x) => x.close()));
        const e = err as NodeJS.ErrnoException;
        const index = config.listeners.findIndex((c) => c.name === name);
        return this.#failed([`listeners[${index}].listen: cannot bind ${settings.config.listen}: ${e.code ?? e.message}`]);
      }
      fresh.set(name, l);
    }
    // ---- the swap: from here on nothing can fail ----
    next.activate(old);
    this.#gen = next;
    for (const [name, settings] of next.listeners) {
      const bound = fresh.get(name);
      const current = this.listeners.get(name);
      if (bound === undefined) {
        current!.apply(settings);
        continue;
      }
      if (current !== undefined) this.#retire(current);
      this.listeners.set(name, bound);
    }
    for (const [name, l] of this.listeners) {
      if (next.listeners.has(name)) continue;
      this.listeners.delete(name);
      this.#retire(l);
    }
    // An http listener gone (or now tcp): its connections finish in the generations they were
    // accepted in, and the slot lets go of the last one, released then with its last session.
    for (const [name, slot] of this.#slots) {
      if (next.httpListeners.some((h) => h.name === name)) continue;
      slot.current = null;
      this.#slots.delete(name);
    }
    this.sessions.maxSessions = config.limits.maxSessions;
    this.fds.configure(config);
    this.log.level = config.logging.level;
    if (this.admin !== null) this.admin.setToken(config.admin?.token);
    this.generation++;
    this.lastReload = { ok: true, error: null, at: new Date().toISOString() };
    next.warnings(this.log);
    for (const l of fresh.values()) this.#logListening(l);
    this.log.info({ generation: this.generation, applyMs: Math.round((performance.now() - started) * 10) / 10 }, 'config reloaded');
    return { ok: true, generation: this.generation };
  }

  #failed(errors: string[]): ReloadResult {
    this.reloadFailures++;
    for (const e of errors) this.log.error({ error: e }, `reload failed: ${e}`);
    this.lastReload = { ok: false, error: errors.join('; '), at: new Date().toISOString() };
    return { ok: false, errors };
  }

  /**
   * A listener the config dropped (or an old address): stop accepting, close its http
   * connections between requests, and RST whatever is left after drainTimeout — SIGTERM's drain,
   * for one listener.
   */
  #retire(l: Listener): void {
    this.#retired.add(l);
    const mine = (s: Session): boolean => listenerOf(s.client) === l;
    void l.close().then(() => this.#drainSessions(mine, this.config.drainTimeout)).then(({ reset }) => {
      this.#retired.delete(l);
      this.log.info({ listener: l.name, address: l.listenAddress, reset }, 'retired listener drained');
    });
  }

  /** Lets the matching sessions finish for up to `timeoutMs`, then RSTs the rest. */
  async #drainSessions(match: (s: Session) => boolean, timeoutMs: number): Promise<{ finished: number; reset: number }> {
    const deadline = Date.now() + timeoutMs;
    const open = this.sessions.count(match);
    let left = open;
    while (left > 0 && Date.now() < deadline) {
      this.sessions.closeIdle(match);
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
      left = this.sessions.count(match);
    }
    if (left > 0) this.sessions.reset(match, 'drain');
    return { finished: open - left, reset: left };
  }

  // ---- stopping ----

  /**
   * SIGTERM: stop accepting, let sessions finish for up to `timeoutMs`, then RST the rest.
   * Resolves when no session is left.
   */
  async drain(timeoutMs: number = this.config.drainTimeout): Promise<{ finished: number; reset: number }> {
    this.#draining = true;
    await Promise.all([...this.listeners.values(), ...this.#retired].map((l) => l.close()));
    for (const h of this.#gen.httpListeners) h.closeIdle();
    this.log.info({ sessions: this.sessions.size, timeoutMs }, 'draining');
    const result = await this.#drainSessions(() => true, timeoutMs);
    if (result.reset > 0) this.log.warn({ sessions: result.reset }, 'drain timeout: remaining sessions were reset');
    this.#gen.stopChecks(true);
    for (const u of this.#gen.upstreams.values()) u.destroy();
    for (const c of this.#gen.connectors.values()) c.close(); // connections still waiting for a source port fail now
    await this.admin?.close();
    this.#loopDelay.disable();
    this.#stopTicketRotation?.();
    this.#stopTicketRotation = null;
    return result;
  }

  /** Immediate stop (tests): close listeners and reset every session. */
  async stop(): Promise<void> {
    await this.drain(0);
  }
}

/** Changes a running process cannot take; they fail the reload with their JSON path (restart instead). */
function unreloadable(old: Config, next: Config): string[] {
  const out: string[] = [];
  if (old.admin?.listen !== next.admin?.listen) out.push(`admin.listen: changing the admin address needs a restart (running: ${old.admin?.listen ?? 'none'})`);
  return out;
}
