// Power of two random choices: draw two distinct servers at random and take the one with less
// active/weight (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", IEEE TPDS
// 2001; Envoy's LEAST_REQUEST with choice_count 2). Two draws already cut the worst queue from
// O(log n / log log n) to O(log log n) over one draw, without lc's full scan or its herd effect
// when several balancers see the same counts.
import { lessLoaded } from './wlc.ts';
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

export class PowerOfTwoChoicesScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  /** Injectable for tests; a number in [0, 1). */
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  update(servers: readonly S[]): void {
    this.#servers = servers;
  }

  pick(_ctx: PickContext): S | null {
    const servers = this.#servers;
    const n = servers.length;
    if (n === 0) return null;
    if (n === 1) {
      const only = servers[0]!;
      return only.hasCapacity() ? only : null;
    }
    const i = Math.floor(this.#random() * n);
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++; // distinct: draw from the n-1 others
    const a = servers[i]!;
    const b = servers[j]!;
    const aOk = a.hasCapacity();
    const bOk = b.hasCapacity();
    if (aOk && bOk) return lessLoaded(b, a) ? b : a;
    if (aOk) return a;
    if (bOk) return b;
    // Both full: the least loaded of those with capacity, scanning from a random start so that
    // equals share the load. O(n), only when two random draws both hit full servers.
    let best: S | null = null;
    let at = i;
    for (let k = 0; k < n; k++) {
      const s = servers[at]!;
      if ((best === null || lessLoaded(s, best)) && s.hasCapacity()) best = s;
      if (++at === n) at = 0;
    }
    return best;
  }
}
