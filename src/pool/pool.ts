// A pool: its servers, scheduler, health, persistence and backups. pick(ctx) returns a server that is up,
// enabled and under maxConnections — primaries first, backups only when no primary is up (SPEC
// "Health"). The scheduler sees an immutable snapshot of the eligible set, rebuilt when
// membership, health or admin state changes (DESIGN §2.4).
import type { PoolConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { createScheduler, type PickContext, type Scheduler } from '../scheduler/scheduler.ts';
import { Server, type AdminState } from './server.ts';
import { FAIL_TIMEOUT_MS, reviveExpired, type PassiveHealthHost } from '../health/passive.ts';
import { createPersistence, type Persistence } from './persistence.ts';
import { isWarming, retuneSlowStart, startSlowStart } from './slow-start.ts';
import { PoolQueue } from './queue.ts';

export class Pool implements PassiveHealthHost {
  readonly name: string;
  readonly config: PoolConfig;
  readonly servers: readonly Server[];
  readonly fall: number;
  /** pools[].persistence; a reload hands the predecessor's source-ip table on (pool/persistence.ts). */
  readonly persistence: Persistence | null;
  /** tcp sessions waiting for a server below maxConnections (pool/queue.ts); a reload hands it on. */
  readonly queue: PoolQueue;
  readonly #log: Logger;
  #primary: Scheduler<Server>;
  /** Only for a pool with backup servers: most have none, and a reload builds every pool anew. */
  #backup: Scheduler<Server> | null;
  #eligible: readonly Server[] = [];
  /** Backups that are eligible, for a retry that has tried every primary (see pick). */
  #eligibleBackups: readonly Server[] = [];
  #usingBackups = false;
  /** The predecessor whose schedulers this pool shares (same scheduler, same servers): see constructor. */
  #sharesWith: Pool | null = null;
  /** Servers this reload adds to a running pool: they warm up at activate() (slow start). */
  #added: readonly Server[] = [];

  /**
   * `previous`: the same-named pool of the generation before a reload; its servers with the same
   * address are kept (state and counters carried over). Nothing of them changes until activate():
   * a reload that fails after building the pool must leave the running servers as they were.
   */
  constructor(config: PoolConfig, log: Logger, previous: Pool | null = null) {
    this.name = config.name;
    this.config = config;
    this.#log = log.child({ pool: config.name });
    this.servers = config.servers.map((s, i) => previous?.find(s.address) ?? new Server(i, s));
    // A server a reload adds to a running pool is as cold as one coming back: it ramps up too
    // (HAProxy: a server added at runtime warms up when enabled). At start nothing does.
    if (previous !== null && config.slowStart !== undefined) this.#added = this.servers.filter((s) => previous.find(s.address) === undefined);
    this.fall = config.healthCheck?.fall ?? 3;
    this.persistence = config.persistence === undefined ? null : createPersistence(config.persistence, config.name, this.servers, previous?.persistence ?? null);
    if (previous !== null && previous.config.scheduler === config.scheduler && JSON.stringify(previous.config.servers) === JSON.stringify(config.servers)) {
      // Nothing a pick depends on changed: the same Server objects, weights and scheduler. The
      // schedulers are shared with the predecessor (a pick from either returns a server of both),
      // so a reload costs no table rebuild (Maglev, wrr) and lblc/lblcr keep their destinations.
      this.#primary = previous.#primary;
      this.#backup = previous.#backup;
      this.#sharesWith = previous;
    } else {
      this.#primary = createScheduler<Server>(config.scheduler);
      this.#backup = config.servers.some((s) => s.backup) ? createScheduler<Server>(config.scheduler) : null;
    }
    // A pool with no predecessor touches no running state: it may go live at once.
    this.queue = previous?.queue ?? new PoolQueue(config.timeouts.queue);
    if (previous === null) this.activate();
  }

  /** The pool's generation goes live: kept servers take the new configured values, picks start. */
  activate(): void {
    const configs = this.config.servers;
    this.queue.configure(this.config.timeouts.queue);
    let ramping = false;
    for (let i = 0; i < this.servers.length; i++) {
      const s = this.servers[i]!;
      s.configure(i, configs[i]!);
      s.home = this;
      s.queue = this.queue;
      // A ramp under way goes on with this config's slowStart (or ends without one).
      if (isWarming(s)) {
        retuneSlowStart(s, this.config.slowStart);
        ramping = true;
      }
    }
    for (const s of this.#added) startSlowStart(s, this.config.slowStart ?? 0);
    this.#added = [];
    const shared = this.#sharesWith;
    this.#sharesWith = null;
    if (shared === null || ramping) return this.rebuild();
    this.#eligible = shared.#eligible;
    this.#eligibleBackups = shared.#eligibleBackups;
    this.#usingBackups = shared.#usingBackups;
  }

  /** Recomputes the eligible sets; call after any change of health, admin state or weight. */
  rebuild(): void {
    const primaries = this.servers.filter((s) => !s.backup && s.eligible);
    const backups = this.servers.filter((s) => s.backup && s.eligible);
    this.#usingBackups = primaries.length === 0;
    this.#eligible = this.#usingBackups ? backups : primaries;
    this.#eligibleBackups = backups;
    this.#primary.update(primaries);
    this.#backup?.update(backups);
    // A server may have come back (health, enable, reload, a slow-start step): waiting sessions try again.
    this.queue.wake();
  }

  /**
   * A server for a new session or request, avoiding those in `tried` (retries); null = none (503 /
   * close). With persistence the client's sticky server comes first while it may serve (up,
   * enabled, in this pool's current set, not tried yet); otherwise the scheduler picks and the
   * client is stuck to that server. `cookie`: the persistence cookie's value (http), else null.
   */
  pick(ctx: PickContext, tried: readonly Server[] | null = null, cookie: string | null = null): Server | null {
    const p = this.persistence;
    const key = p === null ? null : p.keyOf(ctx.clientAddress, cookie);
    if (key === null) return this.#schedule(ctx, tried);
    const stuck = p!.serverOf(key);
    if (stuck !== undefined && this.#mayServe(stuck) && (tried === null || !tried.includes(stuck))) {
      // At maxConnections: served elsewhere this once; the client stays stuck to its server.
      if (!stuck.hasCapacity()) return this.#schedule(ctx, tried);
      p!.remember(key, stuck);
      return stuck;
    }
    const s = this.#schedule(ctx, tried);
    if (s !== null) p!.remember(key, s);
    return s;
  }

  /**
   * A sticky server may take the client: eligible (up, enabled — a draining server gets no
   * persisted clients either, SPEC — not retired), held by this generation's pool, and a backup
   * only while the backups serve.
   */
  #mayServe(s: Server): boolean {
    return s.eligible && s.home === this && s.backup === this.#usingBackups;
  }

  #schedule(ctx: PickContext, tried: readonly Server[] | null): Server | null {
    const s = pickUntried(this.#usingBackups ? this.#backup : this.#primary, this.#eligible, ctx, tried);
    if (s !== null || tried === null || this.#usingBackups || this.#backup === null) return s;
    // A retry that has tried every primary still up (they failed before health said so): the
    // backups are next, rather than a 502 while the checks catch up.
    return pickUntried(this.#backup, this.#eligibleBackups, ctx, tried);
  }

  /**
   * Whether waiting could help a session that found no server: some server of the set it picks
   * from is eligible and not yet tried, so it is only at maxConnections (tcp queue, pool/queue.ts).
   */
  hasWaitable(tried: readonly Server[] | null): boolean {
    for (const s of this.#eligible) if (tried === null || !tried.includes(s)) return true;
    return false;
  }

  find(address: string): Server | undefined {
    return this.servers.find((s) => s.address === address);
  }

  /** The one place health changes (active checks, passive failures, the passive back-off): one log line per change. */
  setHealth(server: Server, health: 'up' | 'down', reason: string): void {
    if (server.health === health) return;
    server.health = health;
    server.healthReason = reason;
    server.healthSince = Date.now();
    // rise and fall count from the change on.
    server.checkPasses = 0;
    server.checkFailures = 0;
    this.#log.info({ server: server.address, health, reason }, `server ${health}`);
    if (health === 'up' && server.admin === 'enabled') this.#slowStart(server);
    this.#rebuildFor(server);
    if (health === 'down' && server.passiveDownUntil > 0) {
      setTimeout(() => reviveExpired(this, this.servers, Date.now()), FAIL_TIMEOUT_MS + 10).unref();
    }
  }

  setAdmin(server: Server, admin: AdminState): void {
    if (server.admin === admin) return;
    server.admin = admin;
    this.#log.info({ server: server.address, admin }, `server ${admin}`);
    if (admin === 'enabled' && server.health === 'up') this.#slowStart(server);
    this.#rebuildFor(server);
  }

  /** The server comes back (up and enabled again): it ramps up over slowStart, before the rebuild that lets it in. */
  #slowStart(server: Server): void {
    if (this.config.slowStart !== undefined) startSlowStart(server, this.config.slowStart);
  }

  /** This pool's picks, and those of the newest pool holding the server when that is another one (reload). */
  #rebuildFor(server: Server): void {
    this.rebuild();
    if (server.home !== null && server.home !== this) server.home.rebuild();
  }
}

/** A server from `sched` not in `tried`: rotate the scheduler a few times, then the first untried eligible server. */
function pickUntried(sched: Scheduler<Server> | null, eligible: readonly Server[], ctx: PickContext, tried: readonly Server[] | null): Server | null {
  if (sched === null) return null;
  const first = sched.pick(ctx);
  if (first === null || tried === null || !tried.includes(first)) return first;
  for (let i = 0; i < eligible.length; i++) {
    const s = sched.pick(ctx);
    if (s !== null && !tried.includes(s)) return s;
  }
  for (const s of eligible) if (!tried.includes(s) && s.hasCapacity()) return s;
  return null;
}
