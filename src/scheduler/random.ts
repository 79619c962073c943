// Weighted random: each pick lands on a server with probability weight / Σweight (Zevenet's
// weighted random, DOMAIN.md "Schedulers"). update() stores cumulative weights; pick() draws a
// point in [0, Σweight) and binary-searches the first cumulative weight above it: O(log n), no
// allocation.
//
//   weights 3 1 2   cumulative 3 4 6   draw 3.7 → first cumulative > 3.7 is 4 → second server
//
// A server at maxConnections is redrawn a few times (rejection keeps the others' ratio exact);
// if those draws all miss, the first server with capacity after it in configured order is taken.
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/** Draws before falling back to a scan; with half the weight full, 4 misses happen 1 time in 16. */
const DRAWS = 4;

export class RandomScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  #cumulative = new Float64Array(0);
  #total = 0;
  /** Injectable for tests; a number in [0, 1). */
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  update(servers: readonly S[]): void {
    this.#servers = servers;
    const cumulative = new Float64Array(servers.length);
    let positive = false;
    for (const s of servers) if (s.weight > 0 && Number.isFinite(s.weight)) positive = true;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      const w = servers[i]!.weight;
      // Without any usable weight (not expected: update() gets weight > 0), fall back to uniform.
      total += positive ? (w > 0 && Number.isFinite(w) ? w : 0) : 1;
      cumulative[i] = total;
    }
    this.#cumulative = cumulative;
    this.#total = total;
  }

  pick(_ctx: PickContext): S | null {
    const servers = this.#servers;
    const n = servers.length;
    if (n === 0) return null;
    let at = 0;
    for (let d = 0; d < DRAWS; d++) {
      at = this.#find(this.#random() * this.#total);
      const s = servers[at]!;
      if (s.hasCapacity()) return s;
    }
    for (let k = 1; k < n; k++) {
      if (++at === n) at = 0;
      const s = servers[at]!;
      if (s.hasCapacity() && this.#cumulative[at]! > (at === 0 ? 0 : this.#cumulative[at - 1]!)) return s;
    }
    return null;
  }

  /** Position of the first cumulative weight above `point`. */
  #find(point: number): number {
    const cumulative = this.#cumulative;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > point) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
