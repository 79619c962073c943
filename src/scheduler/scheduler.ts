// The Scheduler interface, the context a pick sees, and the registry keyed by the SPEC names.
// Like grpc-js pickers: `update()` runs when membership, health, weight or admin state
// changes and may precompute tables; `pick()` is on the hot path and only reads them.
import type { SchedulerName } from '../config/schema.ts';

/** What a scheduler may know of a server (pool/server.ts implements it). */
export interface Schedulable {
  /** Stable position in the pool's configured server list (hash tables use it). */
  readonly index: number;
  /** "host:port" as configured. */
  readonly address: string;
  /** Effective weight now (slow start may lower it); > 0 for servers handed to update(). */
  readonly weight: number;
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
