// Destination hashing: sh's weighted table keyed by the destination instead of the client
// (IPVS dh, net/netfilter/ipvs/ip_vs_dh.c), so every session for one destination (the listener
// address in tcp mode, Host in http mode) reaches the same server, e.g. a cache for that site.
// When the hashed server is at maxConnections, another fixed one per destination serves, as in sh.ts.
import { HashTable, murmur3 } from './hash.ts';
import { weightedBuckets } from './sh.ts';
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

export class DestinationHashScheduler<S extends Schedulable> implements Scheduler<S> {
  #table = new HashTable<S>(true);

  update(servers: readonly S[]): void {
    this.#table.build(servers, weightedBuckets(servers));
  }

  pick(ctx: PickContext): S | null {
    return this.#table.lookup(murmur3(ctx.destination));
  }
}
