// Source hashing: the client address picks a bucket of a weighted table built on update(), so a
// client keeps landing on the same server while membership stays the same (IPVS sh,
// net/netfilter/ipvs/ip_vs_sh.c). When that server is at maxConnections another one takes the
// session, always the same one for that client (as IPVS's "sh-fallback" flag does; how it is
// chosen: HashTable.lookup in hash.ts). A membership change rebuilds the table and moves many
// clients, as in IPVS; use maglev when few should move.
import { fillWeighted, HashTable, murmur3 } from './hash.ts';
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/** IPVS's table size (IP_VS_SH_TAB_BITS = 8); tables grow with the pool so weights keep resolution. */
const MIN_BUCKETS = 256;
/** 32 buckets per server: a server's share is right to ~3% of an equal share. */
const BUCKETS_PER_SERVER = 32;
const MAX_BUCKETS = 65536;

/** The weighted bucket table shared by sh and dh: bucket → position in `servers`. */
export function weightedBuckets(servers: readonly Schedulable[]): Uint32Array {
  if (servers.length === 0) return new Uint32Array(0);
  let size = MIN_BUCKETS;
  while (size < servers.length * BUCKETS_PER_SERVER && size < MAX_BUCKETS) size *= 2;
  const weights = new Float64Array(servers.length);
  // The configured weight, not the slow-start one: a ramp step must not re-hash the clients of
  // every server. A returning server is thinned at lookup instead (HashTable, `thin`).
  for (let i = 0; i < servers.length; i++) weights[i] = servers[i]!.weight / servers[i]!.slowStartFraction;
  const buckets = new Uint32Array(size);
  fillWeighted(weights, buckets);
  return buckets;
}

export class SourceHashScheduler<S extends Schedulable> implements Scheduler<S> {
  #table = new HashTable<S>(true);

  update(servers: readonly S[]): void {
    this.#table.build(servers, weightedBuckets(servers));
  }

  pick(ctx: PickContext): S | null {
    return this.#table.lookup(murmur3(ctx.clientAddress));
  }
}
