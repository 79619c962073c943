// Round robin: each pick takes the next server in configured order, skipping those at
// maxConnections (IPVS rr, net/netfilter/ipvs/ip_vs_rr.c). Weights are ignored; use wrr for them.
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

export class RoundRobinScheduler<S extends Schedulable> implements Scheduler<S> {
  #servers: readonly S[] = [];
  /** Position the next pick starts from. */
  #next = 0;

  update(servers: readonly S[]): void {
    this.#servers = servers;
    // Keep the rotation going across membership changes instead of restarting at the first
    // server, which would give it an extra share on every health flap.
    if (this.#next >= servers.length) this.#next = 0;
  }

  pick(_ctx: PickContext): S | null {
    const servers = this.#servers;
    const n = servers.length;
    let i = this.#next;
    for (let k = 0; k < n; k++) {
      const s = servers[i]!;
      if (++i === n) i = 0;
      if (s.hasCapacity()) {
        this.#next = i;
        return s;
      }
    }
    return null;
  }
}
