// A pool: its servers, scheduler, health and backups. pick(ctx) returns a server that is up,
// enabled and under maxConnections — primaries first, backups only when no primary is up (SPEC
// "Health"). The scheduler sees an immutable snapshot of the eligible set, rebuilt when
// membership, health or admin state changes (DESIGN §2.4).
import type { PoolConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { createScheduler, type PickContext, type Scheduler } from '../scheduler/scheduler.ts';
import { Server, type AdminState } from './server.ts';
import { FAIL_TIMEOUT_MS, reviveExpired, type PassiveHealthHost } from '../health/passive.ts';

export class Pool implements PassiveHealthHost {
  readonly name: string;
  readonly config: PoolConfig;
  readonly servers: readonly Server[];
  readonly fall: number;
  readonly activeChecks: boolean;
  readonly #log: Logger;
  #primary: Scheduler<Server>;
  #backup: Scheduler<Server>;
  #eligible: readonly Server[] = [];
  #usingBackups = false;

  constructor(config: PoolConfig, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.#log = log.child({ pool: config.name });
    this.servers = config.servers.map((s, i) => new Server(i, s));
    this.fall = config.healthCheck?.fall ?? 3;
    this.activeChecks = config.healthCheck !== undefined;
    this.#primary = createScheduler<Server>(config.scheduler);
    this.#backup = createScheduler<Server>(config.scheduler);
    this.rebuild();
  }

  /** Recomputes the eligible sets; call after any change of health, admin state or weight. */
  rebuild(): void {
    const primaries = this.servers.filter((s) => !s.backup && s.eligible);
    const backups = this.servers.filter((s) => s.backup && s.eligible);
    this.#usingBackups = primaries.length === 0;
    this.#eligible = this.#usingBackups ? backups : primaries;
    this.#primary.update(primaries);
    this.#backup.update(backups);
  }

  /** A server for a new session or request, avoiding those in `tried` (retries); null = none (503 / close). */
  pick(ctx: PickContext, tried: readonly Server[] | null = null): Server | null {
    const sched = this.#usingBackups ? this.#backup : this.#primary;
    const first = sched.pick(ctx);
    if (first === null || tried === null || !tried.includes(first)) return first;
    // Retry: rotate the scheduler a few times, then fall back to the first untried server.
    for (let i = 0; i < this.#eligible.length; i++) {
      const s = sched.pick(ctx);
      if (s !== null && !tried.includes(s)) return s;
    }
    for (const s of this.#eligible) if (!tried.includes(s) && s.hasCapacity()) return s;
    return null;
  }

  find(address: string): Server | undefined {
    return this.servers.find((s) => s.address === address);
  }

  setHealth(server: Server, health: 'up' | 'down', reason: string): void {
    if (server.health === health) return;
    server.health = health;
    server.healthReason = reason;
    this.#log.warn({ server: server.address, health, reason }, `server ${health}`);
    this.rebuild();
    if (health === 'down' && server.passiveDownUntil > 0) {
      setTimeout(() => reviveExpired(this, this.servers, Date.now()), FAIL_TIMEOUT_MS + 10).unref();
    }
  }

  setAdmin(server: Server, admin: AdminState): void {
    if (server.admin === admin) return;
    server.admin = admin;
    this.#log.info({ server: server.address, admin }, `server ${admin}`);
    this.rebuild();
  }
}
