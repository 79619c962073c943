// Least connections: the server with the fewest active sessions or requests (IPVS lc,
// net/netfilter/ipvs/ip_vs_lc.c). IPVS takes the first of equals, which sends every new session
// to the first server while all are idle; here the scan starts after the last pick, so ties
// rotate round-robin (HAProxy leastconn does the same, doc/configuration.txt "balance leastconn").
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/**
 * The scan lc and wlc share: the least loaded server with capacity by `less`, starting one after
 * the last pick so that equals take turns. Strictly less: the first of equals in scan order wins.
 */
export class RotatingLeastScheduler<S extends Schedulable> implements Scheduler<S> {
  readonly #less: (a: S, b: S) => boolean;
  #servers: readonly S[] = [];
  /** Where the next scan starts: one after the last pick. */
  #next = 0;

  constructor(less: (a: S, b: S) => boolean) {
    this.#less = less;
  }

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
      if ((best === null || this.#less(s, best)) && s.hasCapacity()) {
        best = s;
        bestAt = i;
      }
      if (++i === n) i = 0;
    }
    if (best !== null) this.#next = bestAt + 1 === n ? 0 : bestAt + 1;
    return best;
  }
}

/**
 * Fewer active, compared as wlc compares (active + 1)/weight with the slow-start share as the
 * weight: all 1 (no server ramping) it is plain active_a < active_b; a server ramping up is
 * placed as if it could carry only its share (pool/slow-start.ts).
 */
const fewer = (a: Schedulable, b: Schedulable): boolean => (a.active + 1) * b.slowStartFraction < (b.active + 1) * a.slowStartFraction;

export class LeastConnectionScheduler<S extends Schedulable> extends RotatingLeastScheduler<S> {
  constructor() {
    super(fewer);
  }
}
