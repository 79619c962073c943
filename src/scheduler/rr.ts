// Round robin: each pick takes the next server in configured order, skipping those at
// maxConnections (IPVS rr, net/netfilter/ipvs/ip_vs_rr.c). Weights are ignored; use wrr for them.
//
// Slow start (pool/slow-start.ts) still reaches rr: a server ramping up with share f of its
// weight takes its turn only when its credit, which grows by f at each turn it is offered, has
// reached 1 — so it gets f of an equal share, the others split the rest.
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

export class RoundRobinScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  /** Position the next pick starts from. */
  #next = 0;
  /** Per position: slow-start credit (only read for servers whose slowStartFraction < 1). */
  #credit = new Float64Array(0);

  update(servers: readonly S[]): void {
    // Credits carry over for servers that stay: a ramp step (one update a second) must not reset them.
    const previous = new Map<S, number>();
    for (let i = 0; i < this.#servers.length; i++) if (this.#credit[i]! > 0) previous.set(this.#servers[i]!, this.#credit[i]!);
    const credit = new Float64Array(servers.length);
    for (let i = 0; i < servers.length; i++) credit[i] = previous.get(servers[i]!) ?? 0;
    this.#credit = credit;
    this.#servers = servers;
    // Keep the rotation going across membership changes instead of restarting at the first
    // server, which would give it an extra share on every health flap.
    if (this.#next >= servers.length) this.#next = 0;
  }

  pick(_ctx: PickContext): S | null {
    const servers = this.#servers;
    const n = servers.length;
    let i = this.#next;
    /** The first server passed over for its slow-start credit: taken when no other one can serve. */
    let passed = -1;
    for (let k = 0; k < n; k++) {
      const at = i;
      const s = servers[at]!;
      if (++i === n) i = 0;
      if (!s.hasCapacity()) continue;
      const f = s.slowStartFraction;
      if (f < 1) {
        const c = this.#credit[at]! + f;
        if (c < 1) {
          this.#credit[at] = c;
          if (passed === -1) passed = at;
          continue;
        }
        this.#credit[at] = c - 1;
      }
      this.#next = i;
      return s;
    }
    if (passed === -1) return null;
    this.#next = passed + 1 === n ? 0 : passed + 1;
    return servers[passed]!;
  }
}
