// Least connections: the server with the fewest active sessions or requests (IPVS lc,
// net/netfilter/ipvs/ip_vs_lc.c). IPVS takes the first of equals, which sends every new session
// to the first server while all are idle; here the scan starts after the last pick, so ties
// rotate round-robin (HAProxy leastconn does the same, doc/configuration.txt "balance leastconn").
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

export class LeastConnectionScheduler<S extends Schedulable> implements Scheduler<S> {
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
      // Strictly fewer: the first of equals in scan order wins, and the scan order rotates.
      if ((best === null || s.active < best.active) && s.hasCapacity()) {
        best = s;
        bestAt = i;
      }
      if (++i === n) i = 0;
    }
    if (best !== null) this.#next = bestAt + 1 === n ? 0 : bestAt + 1;
    return best;
  }
}
