// Locality-based least connections with replication: like lblc, but a destination maps to a set
// of servers; the least loaded of the set serves it, and when that one is overloaded (or the set
// has none with capacity) the least loaded server overall joins the set (IPVS lblcr,
// net/netfilter/ipvs/ip_vs_lblcr.c). A popular destination thus grows onto several servers; when
// a set has not changed for `expiration` (IPVS sysctl lblcr_expiration, default 24 h) its most
// loaded member is dropped, so it shrinks back when the rush is over.
import { LRUCache } from 'lru-cache';
import { clock } from '../util/clock.ts';
import { isOverloaded, MAX_DESTINATIONS, type LocalityOptions } from './lblc.ts';
import { lessLoaded, WeightedLeastConnectionScheduler } from './wlc.ts';
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/** IPVS DEFAULT_EXPIRATION: 24 h in ms. */
export const SET_EXPIRATION_MS = 24 * 60 * 60 * 1000;

export interface ReplicatedLocalityOptions extends LocalityOptions {
  /** A set unchanged this long (ms) loses its most loaded member on the next pick. */
  readonly expirationMs?: number;
  /** Milliseconds clock; the coarse shared clock by default (util/clock.ts), a fake in tests. */
  readonly now?: () => number;
}

interface ServerSet<S> {
  servers: S[];
  /** When a member was last added or dropped (ms). */
  lastModified: number;
  /** The update() generation the members were last checked against. */
  generation: number;
}

export class ReplicatedLocalityLeastConnectionScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  #members = new Set<S>();
  #generation = 0;
  #wlc = new WeightedLeastConnectionScheduler<S>();
  /** Made at the first new destination: an LRU preallocates its bound (~1.5 MiB at 65,536), and a
   *  reload builds every pool anew, most of whose schedulers may never see a pick (bench:reload). */
  #table: LRUCache<string, ServerSet<S>> | null = null;
  readonly #max: number;
  readonly #expirationMs: number;
  readonly #now: () => number;

  constructor(options: ReplicatedLocalityOptions = {}) {
    this.#max = options.maxDestinations ?? MAX_DESTINATIONS;
    this.#expirationMs = options.expirationMs ?? SET_EXPIRATION_MS;
    this.#now = options.now ?? (() => clock.now);
  }

  update(servers: readonly S[]): void {
    this.#servers = servers;
    this.#members = new Set(servers);
    this.#generation++;
    this.#wlc.update(servers);
  }

  pick(ctx: PickContext): S | null {
    const set = this.#table?.get(ctx.destination);
    if (set === undefined) {
      const chosen = this.#wlc.pick(ctx);
      if (chosen !== null) {
        (this.#table ??= new LRUCache<string, ServerSet<S>>({ max: this.#max })).set(ctx.destination, { servers: [chosen], lastModified: this.#now(), generation: this.#generation });
      }
      return chosen;
    }
    if (set.generation !== this.#generation) this.#forgetLeavers(set);
    const members = set.servers;
    // Shrink a set that has been stable for a while (ip_vs_lblcr_schedule: set size > 1 and
    // lastmod + expiration passed → erase ip_vs_dest_set_max). Done before choosing, so the
    // member just dropped is not the one returned.
    if (members.length > 1) {
      const now = this.#now();
      if (now - set.lastModified > this.#expirationMs) {
        const most = mostLoaded(members);
        members.splice(members.indexOf(most), 1);
        set.lastModified = now;
      }
    }
    const least = leastLoadedWithCapacity(members);
    if (least !== null && !isOverloaded(least, this.#servers)) return least;
    const chosen = this.#wlc.pick(ctx);
    if (chosen !== null && !members.includes(chosen)) {
      members.push(chosen);
      set.lastModified = this.#now();
    }
    return chosen;
  }

  /** Drops members no longer in the current set; once per set per update(). */
  #forgetLeavers(set: ServerSet<S>): void {
    const members = set.servers;
    let kept = 0;
    for (let i = 0; i < members.length; i++) {
      const s = members[i]!;
      if (this.#members.has(s)) members[kept++] = s;
    }
    members.length = kept;
    set.generation = this.#generation;
  }
}

/** ip_vs_dest_set_min: the member with the least active/weight among those with capacity; first of equals. */
function leastLoadedWithCapacity<S extends Schedulable>(members: readonly S[]): S | null {
  let best: S | null = null;
  for (let i = 0; i < members.length; i++) {
    const s = members[i]!;
    if ((best === null || lessLoaded(s, best)) && s.hasCapacity()) best = s;
  }
  return best;
}

/** ip_vs_dest_set_max: the member with the most active/weight; first of equals. `members` is non-empty. */
function mostLoaded<S extends Schedulable>(members: readonly S[]): S {
  let most = members[0]!;
  for (let i = 1; i < members.length; i++) {
    const s = members[i]!;
    if (lessLoaded(most, s)) most = s;
  }
  return most;
}
