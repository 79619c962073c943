// Weighted least connections: the server with the smallest (active + 1)/weight (IPVS wlc,
// net/netfilter/ipvs/ip_vs_wlc.c, with HAProxy leastconn's + 1: fwlc_queue_srv keys servers by
// (cur_sess + 1) × SRV_EWGHT_MAX / eweight). Compared as (active_a + 1) × weight_b <
// (active_b + 1) × weight_a, IPVS's way, so there is no division and no rounding; ties rotate
// round-robin as in lc.ts.
//
// Why + 1: without it every idle server scores 0 whatever its weight, so while sessions are short
// (active mostly 0) weights do nothing — and a server ramping up after slow start
// (pool/slow-start.ts) would get a full share at once. With it, the next session is placed where
// it makes the smallest load per weight (Envoy's least-request does the same: weight / (active + 1)).
import type { Schedulable } from './scheduler.ts';
import { RotatingLeastScheduler } from './lc.ts';

/** True when one more session on `a` makes less load per unit of weight than one more on `b` (weights > 0). */
export function lessLoaded(a: Schedulable, b: Schedulable): boolean {
  return (a.active + 1) * b.weight < (b.active + 1) * a.weight;
}

export class WeightedLeastConnectionScheduler<S extends Schedulable> extends RotatingLeastScheduler<S> {
  constructor() {
    super(lessLoaded);
  }
}
