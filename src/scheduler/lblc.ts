// Locality-based least connections: a destination keeps its server until that server is
// overloaded, then moves to the weighted-least-loaded one (IPVS lblc,
// net/netfilter/ipvs/ip_vs_lblc.c), so one site's sessions stay on one cache server while it copes.
// The destination → server table is an LRU bounded at MAX_DESTINATIONS entries; IPVS bounds its
// table the same way in spirit (max_size = 16 × buckets, stale entries collected after 6 min).
import { LRUCache } from 'lru-cache';
import { WeightedLeastConnectionScheduler } from './wlc.ts';
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/** Destinations remembered per scheduler; the least recently used is forgotten first. */
export const MAX_DESTINATIONS = 65536;

/**
 * IPVS's overload rule (is_overloaded in ip_vs_lblc.c and ip_vs_lblcr.c): a server is overloaded
 * when its active count exceeds its weight AND some server is below half its weight — so a busy
 * server keeps its destinations while nothing better exists. Unlike IPVS, that other server must
 * also have capacity, or moving the destination would gain nothing.
 */
export function isOverloaded(server: Schedulable, servers: readonly Schedulable[]): boolean {
  if (server.active <= server.weight) return false;
  for (let i = 0; i < servers.length; i++) {
    const d = servers[i]!;
    if (d.active * 2 < d.weight && d.hasCapacity()) return true;
  }
  return false;
}

export interface LocalityOptions {
  /** Bound of the destination table (default MAX_DESTINATIONS). */
  readonly maxDestinations?: number;
}

export class LocalityLeastConnectionScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  /** The current set: a remembered server that left it is not used (kept to regain locality if it returns). */
  #members = new Set<S>();
  /** IPVS's __ip_vs_lblc_schedule is wlc over all servers; ties rotate so idle servers share new destinations. */
  #wlc = new WeightedLeastConnectionScheduler<S>();
  /** Made at the first new destination: an LRU preallocates its bound (~1.5 MiB at 65,536), and a
   *  reload builds every pool anew, most of whose schedulers may never see a pick (bench:reload). */
  #table: LRUCache<string, S> | null = null;
  readonly #max: number;

  constructor(options: LocalityOptions = {}) {
    this.#max = options.maxDestinations ?? MAX_DESTINATIONS;
  }

  update(servers: readonly S[]): void {
    this.#servers = servers;
    this.#members = new Set(servers);
    this.#wlc.update(servers);
  }

  pick(ctx: PickContext): S | null {
    const mapped = this.#table?.get(ctx.destination);
    if (
      mapped !== undefined &&
      this.#members.has(mapped) &&
      mapped.hasCapacity() &&
      !isOverloaded(mapped, this.#servers)
    ) {
      return mapped;
    }
    const chosen = this.#wlc.pick(ctx);
    if (chosen !== null && chosen !== mapped) (this.#table ??= new LRUCache<string, S>({ max: this.#max })).set(ctx.destination, chosen);
    return chosen;
  }
}
