// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, §3.4): a lookup table of a prime number of slots, rebuilt on update(),
// maps hash(client address) to a server. Balancers with the same servers build the same table
// without talking to each other, and when a server leaves mostly its own slots change hands.
//
// Each server has a permutation of the slots, from two hashes of its address:
//   offset = h1(address) mod M,  skip = h2(address) mod (M − 1) + 1,  slot j = (offset + j·skip) mod M
// (M prime, so every skip visits every slot). Servers take turns claiming the next still-free slot
// of their own permutation until the table is full:
//
//   M = 7   A: 3 0 4 1 5 2 6    B: 0 2 4 6 1 3 5    C: 3 4 5 6 0 1 2
//   turns A B C A B C A  →  A takes 3, B 0, C 4 (3 taken), A 1 (0, 4 taken), B 2, C 5, A 6
//   table  0:B 1:A 2:B 3:A 4:C 5:C 6:A
//
// Weights: turns are handed out in proportion to weight by fillWeighted(), so a server's slot
// count is proportional to its weight (equal weights give the paper's plain round of turns). Turns go in
// order of address, not configured order, so balancers that list the same servers differently
// still agree. A key whose server is at maxConnections goes to another fixed server, chosen by
// weighted rendezvous hashing (HashTable.lookup in hash.ts), and returns when it has capacity.
import { fillWeighted, HashTable, murmur3 } from './hash.ts';
import type { PickContext, Schedulable, Scheduler } from './scheduler.ts';

/**
 * Slots: prime, as the permutations need, and much larger than the number of servers so that
 * shares come out even (the paper asks for M ≫ N and evaluates M = 65537); ≥ 100 slots per server
 * for pools up to 655 servers. 65537 slots of 4 bytes = 256 KiB per pool scheduler.
 */
export const MAGLEV_TABLE_SIZE = 65537;
/** Seeds of the two permutation hashes; independent of the key hash (seed 0). */
const OFFSET_SEED = 0x6d61676c; // "magl"
const SKIP_SEED = 0x65763136; // "ev16"
const EMPTY = 0xffffffff;

/** The Maglev table for `servers`: slot → position in `servers`. Exported for tests. */
export function maglevTable(servers: readonly Schedulable[], size: number = MAGLEV_TABLE_SIZE): Uint32Array {
  const n = servers.length;
  if (n === 0) return new Uint32Array(0);
  // Turn order: by address (then configured index), so that config order does not matter.
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    const x = servers[a]!;
    const y = servers[b]!;
    return x.address < y.address ? -1 : x.address > y.address ? 1 : x.index - y.index;
  });
  const weights = new Float64Array(n);
  const next = new Uint32Array(n); // per position: its permutation's next candidate slot
  const skip = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const p = order[k]!;
    const s = servers[p]!;
    weights[k] = s.weight;
    next[p] = murmur3(s.address, OFFSET_SEED) % size;
    skip[p] = (murmur3(s.address, SKIP_SEED) % (size - 1)) + 1;
  }
  const turns = new Uint32Array(size);
  fillWeighted(weights, turns);
  const table = new Uint32Array(size).fill(EMPTY);
  for (let t = 0; t < size; t++) {
    const p = order[turns[t]!]!;
    let c = next[p]!;
    const step = skip[p]!;
    while (table[c] !== EMPTY) {
      c += step;
      if (c >= size) c -= size;
    }
    table[c] = p;
    c += step;
    if (c >= size) c -= size;
    next[p] = c;
  }
  return table;
}

export class MaglevScheduler<S extends Schedulable> implements Scheduler<S> {
  #table = new HashTable<S>();

  update(servers: readonly S[]): void {
    this.#table.build(servers, maglevTable(servers));
  }

  pick(ctx: PickContext): S | null {
    return this.#table.lookup(murmur3(ctx.clientAddress));
  }
}
