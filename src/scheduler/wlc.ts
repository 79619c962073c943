// Weighted least connections: the server with the smallest active/weight (IPVS wlc,
// net/netfilter/ipvs/ip_vs_wlc.c). Compared as active_a × weight_b < active_b × weight_a, IPVS's
// way, so there is no division and no rounding; ties rotate round-robin as in lc.ts.
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/** True when `a` carries less load per unit of weight than `b` (weights > 0). */
export function lessLoaded(a: Schedulable, b: Schedulable): boolean {
  return a.active * b.weight < b.active * a.weight;
}

export class WeightedLeastConnectionScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  /** Where the next scan starts: one after the last pick. */
  #next = 0;

  update(servers: readonly S[]): void {
    this.#servers = servers;
    if (this.#next >= servers.length) this.#next = 0;
  }

  pick(_ctx: PickContext): S | null {
    const servers = this.#servers;
    const n = servers.length;
    let best: S | null = null;
    let bestAt = 0;
    let i = this.#next;
    for (let k = 0; k < n; k++) {
      const s = servers[i]!;
      if ((best === null || lessLoaded(s, best)) && s.hasCapacity()) {
        best = s;
        bestAt = i;
      }
      if (++i === n) i = 0;
    }
    if (best !== null) this.#next = bestAt + 1 === n ? 0 : bestAt + 1;
    return best;
  }
}
