// Weighted round robin, smooth like nginx's: on every pick each server's current weight grows by
// its weight, the largest wins and gives the total back (ngx_http_upstream_get_peer in
// src/http/ngx_http_upstream_round_robin.c, nginx 1.3.1 "smooth weighted round-robin").
// Servers at maxConnections sit the pick out, as nginx's down/failed peers do: they neither
// earn nor count in the total, so the others keep their ratio.
//
//   weights a=3 b=1   current before   pick          current after (total 4 taken from the winner)
//                     a=3  b=1         a             a=-1 b=1
//                     a=2  b=2         a (first tie) a=-2 b=2
//                     a=1  b=3         b             a=1  b=-1
//                     a=4  b=0         a             a=0  b=0     → a a b a, then again
//
// Why not a sequence precomputed on update() (DESIGN §2.4): its length is Σweight / gcd, and with
// weights up to 1 000 000 (config/schema.ts) and fractional ones during slow start it has no useful
// bound. The running state is one Float64Array and a pick is one pass over it, nginx's own cost;
// nothing is allocated per pick.
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

export class WeightedRoundRobinScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  #weights = new Float64Array(0);
  #current = new Float64Array(0);

  update(servers: readonly S[]): void {
    // Servers that stay keep their current weight: update() runs on every health flap and
    // slow-start step, and restarting everyone from zero each time would hand the first picks
    // after it to the heaviest server again and again. Newcomers start from zero, as all do in
    // nginx when the upstream is built (ngx_http_upstream_init_round_robin).
    const previous = new Map<S, number>();
    for (let i = 0; i < this.#servers.length; i++) previous.set(this.#servers[i]!, this.#current[i]!);
    const weights = new Float64Array(servers.length);
    const current = new Float64Array(servers.length);
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      weights[i] = s.weight > 0 && Number.isFinite(s.weight) ? s.weight : 0;
      current[i] = previous.get(s) ?? 0;
    }
    this.#servers = servers;
    this.#weights = weights;
    this.#current = current;
  }

  pick(_ctx: PickContext): S | null {
    const servers = this.#servers;
    const weights = this.#weights;
    const current = this.#current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      const w = weights[i]!;
      if (w === 0 || !servers[i]!.hasCapacity()) continue;
      const c = current[i]! + w;
      current[i] = c;
      total += w;
      if (best === -1 || c > current[best]!) best = i;
    }
    if (best === -1) return null;
    current[best]! -= total;
    return servers[best]!;
  }
}
