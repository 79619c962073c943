// Weighted least connections: the server with the smallest active/weight (IPVS wlc,
// net/netfilter/ipvs/ip_vs_wlc.c). Compared as active_a × weight_b < active_b × weight_a, IPVS's
// way, so there is no division and no rounding; ties rotate round-robin as in lc.ts.
import type { Schedulable } from './scheduler.ts';
import { RotatingLeastScheduler } from './lc.ts';

/** True when `a` carries less load per unit of weight than `b` (weights > 0). */
export function lessLoaded(a: Schedulable, b: Schedulable): boolean {
  return a.active * b.weight < b.active * a.weight;
}

export class WeightedLeastConnectionScheduler<S extends Schedulable> extends RotatingLeastScheduler<S> {
  constructor() {
    super(lessLoaded);
  }
}
