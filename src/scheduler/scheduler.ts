// The Scheduler interface, the context a pick sees, and the registry keyed by the SPEC names.
// Like grpc-js pickers: `update()` runs when membership, health, weight or admin state
// changes and may precompute tables; `pick()` is on the hot path and only reads them.
import type { SchedulerName } from '../config/schema.ts';
import { DestinationHashScheduler } from './dh.ts';
import { LocalityLeastConnectionScheduler } from './lblc.ts';
import { ReplicatedLocalityLeastConnectionScheduler } from './lblcr.ts';
import { LeastConnectionScheduler } from './lc.ts';
import { MaglevScheduler } from './maglev.ts';
import { PowerOfTwoChoicesScheduler } from './p2c.ts';
import { RandomScheduler } from './random.ts';
import { RoundRobinScheduler } from './rr.ts';
import { SourceHashScheduler } from './sh.ts';
import { WeightedLeastConnectionScheduler } from './wlc.ts';
import { WeightedRoundRobinScheduler } from './wrr.ts';

/** What a scheduler may know of a server (pool/server.ts implements it). */
export interface Schedulable {
  /** Stable position in the pool's configured server list (hash tables use it). */
  readonly index: number;
  /** "host:port" as configured. */
  readonly address: string;
  /** Effective weight now (slow start may lower it); > 0 for servers handed to update(). */
  readonly weight: number;
  /**
   * Slow start (pool/slow-start.ts): the share of its configured weight the server has now, in
   * (0, 1]; 1 when not ramping. Weighted schedulers see it in `weight` already; the others (rr, lc,
   * sh, dh) read it to give a returning server that share of what they would give it.
   */
  readonly slowStartFraction: number;
  /** Sessions (tcp) or in-flight requests (http) on this server now. */
  readonly active: number;
  /** False when at maxConnections: skip it for this pick, do not drop it from the set. */
  hasCapacity(): boolean;
}

export interface PickContext {
  /** Client address (after an accepted PROXY header), for sh / maglev / persistence. */
  readonly clientAddress: string;
  /** Destination key for dh / lblc / lblcr: the listener address in tcp mode, Host in http mode. */
  readonly destination: string;
}

export interface Scheduler<S extends Schedulable = Schedulable> {
  /** The eligible servers (up, enabled, weight > 0), in configured order. */
  update(servers: readonly S[]): void;
  /** One of the eligible servers with capacity, or null when none has. */
  pick(ctx: PickContext): S | null;
}

export type SchedulerFactory = <S extends Schedulable>() => Scheduler<S>;

/**
 * Every scheduler by its SPEC name (`pool.scheduler`). Adding one: a file beside this one, a line
 * here, and test/unit/scheduler/<name>.test.ts running the conformance suite.
 */
export const SCHEDULERS = {
  rr: <S extends Schedulable>() => new RoundRobinScheduler<S>(),
  wrr: <S extends Schedulable>() => new WeightedRoundRobinScheduler<S>(),
  lc: <S extends Schedulable>() => new LeastConnectionScheduler<S>(),
  wlc: <S extends Schedulable>() => new WeightedLeastConnectionScheduler<S>(),
  sh: <S extends Schedulable>() => new SourceHashScheduler<S>(),
  dh: <S extends Schedulable>() => new DestinationHashScheduler<S>(),
  lblc: <S extends Schedulable>() => new LocalityLeastConnectionScheduler<S>(),
  lblcr: <S extends Schedulable>() => new ReplicatedLocalityLeastConnectionScheduler<S>(),
  random: <S extends Schedulable>() => new RandomScheduler<S>(),
  p2c: <S extends Schedulable>() => new PowerOfTwoChoicesScheduler<S>(),
  maglev: <S extends Schedulable>() => new MaglevScheduler<S>(),
} as const satisfies Record<SchedulerName, SchedulerFactory>;

/** A new scheduler of the named kind, empty until its first update(). */
export function createScheduler<S extends Schedulable>(name: SchedulerName): Scheduler<S> {
  const factory: SchedulerFactory = SCHEDULERS[name];
  return factory<S>();
}
