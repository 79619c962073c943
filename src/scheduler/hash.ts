// The hashing shared by sh, dh and maglev: murmur3 of a key, a weighted fill of slots, and a
// lookup table of servers that falls back to another server when the hashed one is at
// maxConnections.
//
// Why murmur3 (MurmurHash3_x86_32, Austin Appleby, smhasher/src/MurmurHash3.cpp) and not FNV-1a:
// FNV-1a is xor-then-multiply, and a product's low k bits depend only on the factors' low k bits,
// so `hash % 2^k` on a power-of-two table is a k-bit state machine over the key; murmur3 ends with
// fmix32, whose right shifts bring every input bit down into the low bits (SMHasher avalanche test).
// Why our own: it is short, needs no dependency, and reading the string's char codes directly
// allocates nothing per pick (no TextEncoder, no Buffer). The bytes hashed are the key's UTF-8
// bytes, so results equal the reference implementation's (vectors in test/unit/scheduler/hash.test.ts).
import type { Schedulable } from './scheduler.ts';

/** Seed for hashing pick keys (client address, destination). */
export const KEY_SEED = 0;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Mixes one 4-byte block (little-endian) into the running hash `h`; the murmur3 body step. */
function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's final avalanche (fmix32): a bijection on 32 bits in which every input bit flips about half the output bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3_x86_32 of `key`'s UTF-8 bytes with `seed`; an unsigned 32-bit integer.
 * Different seeds give independent hashes of the same key (maglev needs two).
 */
export function murmur3(key: string, seed: number = KEY_SEED): number {
  let h = seed | 0;
  let block = 0; // bytes not yet mixed, little-endian
  let filled = 0; // how many bytes `block` holds (0..3)
  let length = 0; // UTF-8 bytes hashed so far
  const n = key.length;
  for (let i = 0; i < n; i++) {
    // Encode one code point to UTF-8, packed little-endian into `bytes` (lone surrogates become
    // U+FFFD, as TextEncoder does).
    const c = key.charCodeAt(i);
    let bytes: number;
    let count: number;
    if (c < 0x80) {
      bytes = c;
      count = 1;
    } else if (c < 0x800) {
      bytes = (0xc0 | (c >> 6)) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else if (c >= 0xd800 && c < 0xe000) {
      const d = i + 1 < n ? key.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        bytes =
          (0xf0 | (cp >> 18)) |
          ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
          ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
          ((0x80 | (cp & 0x3f)) << 24);
        count = 4;
        i++;
      } else {
        bytes = 0xef | (0xbf << 8) | (0xbd << 16); // U+FFFD
        count = 3;
      }
    } else {
      bytes = (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
      count = 3;
    }
    for (let b = 0; b < count; b++) {
      block |= ((bytes >>> (b * 8)) & 0xff) << (filled * 8);
      if (++filled === 4) {
        h = mixBlock(h, block);
        block = 0;
        filled = 0;
      }
    }
    length += count;
  }
  if (filled > 0) {
    // Tail: the last 1–3 bytes are mixed into the key half only (no rotate-add of h).
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  return fmix32(h ^ length);
}

/**
 * Fills `out` with positions 0..weights.length-1 so that each position appears in proportion to
 * its weight (±1) and equal weights interleave (a b c a b c, not a a b b c c): round by round,
 * every server earns weight/maxWeight credit and takes one slot per whole credit.
 *
 *   weights 2 1 1, 8 slots:  round 1  a (credit 1)  b,c (0.5)    → a
 *                            round 2  a (1)  b,c (1)             → a b c
 *                            round 3  a      b,c (0.5)           → a
 *                            round 4  a b c                      → a a b c a a b c
 *
 * (IPVS sh fills a run of `weight` buckets per server instead, ip_vs_sh_reassign; the share is
 * the same, interleaving just makes neighbouring hashes land on different servers.)
 * Costs O(slots + servers × rounds); runs only on update(). Servers whose share is below
 * 1/out.length may get no slot. Non-positive weights count as 0; if all are, all count as 1.
 */
export function fillWeighted(weights: ArrayLike<number>, out: Uint32Array): void {
  const n = weights.length;
  if (n === 0 || out.length === 0) return;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w > max) max = w;
  }
  const share = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    share[i] = max > 0 && Number.isFinite(max) ? (w > 0 ? w / max : 0) : 1;
  }
  const credit = new Float64Array(n);
  let filled = 0;
  while (filled < out.length) {
    for (let i = 0; i < n && filled < out.length; i++) {
      credit[i]! += share[i]!;
      // 1 - 1e-9: shares like 1/3 summed three times give 0.9999999999999999, which is a whole credit.
      if (credit[i]! >= 1 - 1e-9) {
        credit[i]! -= 1;
        out[filled++] = i;
      }
    }
  }
}

/** Seed of the per-server hash used by the capacity fallback; independent of the key hash. */
const RENDEZVOUS_SEED = 0x72656e64; // "rend"
/** Mixed into a key's hash for its slow-start threshold; independent of the fallback's scores. */
const WARM_SEED = 0x7761726d; // "warm"

/**
 * A table of slots, each naming a server; a key's hash picks a slot. Built on update(), read on
 * pick(). Used by sh and dh (weighted buckets) and by maglev (its lookup table).
 */
export class HashTable<S extends Schedulable> {
  /**
   * sh and dh (tables from configured weights): a key whose server is ramping up after slow start
   * (slowStartFraction f < 1) stays with it only when the key's own threshold, uniform in [0, 1)
   * and fixed per key and server, is below f; the others take the fallback below. As f grows the
   * server's keys come back to it, each once and for good, and at f = 1 all are home. Maglev
   * builds its table from the ramped weights instead (consistent: a step moves only its slots).
   */
  readonly #thin: boolean;
  #servers: readonly S[] = [];
  /** Slot → position in #servers. */
  #slots: Uint32Array = new Uint32Array(0);
  /** Per server: hash of its address, for the fallback's scores. */
  #ids: Uint32Array = new Uint32Array(0);

  constructor(thin = false) {
    this.#thin = thin;
  }

  /** Takes ownership of `slots` (values are positions in `servers`). */
  build(servers: readonly S[], slots: Uint32Array): void {
    this.#servers = servers;
    this.#slots = slots;
    this.#ids = new Uint32Array(servers.length);
    for (let i = 0; i < servers.length; i++) this.#ids[i] = murmur3(servers[i]!.address, RENDEZVOUS_SEED);
  }

  get size(): number {
    return this.#slots.length;
  }

  /**
   * The server of slot `hash % size`, or, if it lacks capacity, the other server with capacity
   * that ranks first for this key by weighted rendezvous hashing (Thaler & Ravishankar, "Using
   * name-based mappings to increase hit rates", IEEE/ACM ToN 1998): each server scores
   * weight / −ln(u), u uniform in (0, 1) from hash(key, server); −ln(u)/weight is exponential with
   * rate `weight`, so the top score falls on a server with probability weight / Σweight.
   *
   * Why not IPVS sh's fallback (ip_vs_sh_get_fallback, net/netfilter/ipvs/ip_vs_sh.c), which
   * probes the following buckets: all clients of a full server then land on its neighbour in the
   * table. Here they spread over all the others by weight, each client still goes to one fixed
   * server, and they return home once it has capacity again. Costs one pass over the servers,
   * only when the hashed one is full.
   */
  lookup(hash: number): S | null {
    const slots = this.#slots;
    const size = slots.length;
    if (size === 0) return null;
    const servers = this.#servers;
    const ids = this.#ids;
    const at = slots[hash % size]!;
    const home = servers[at]!;
    const homeOk = home.hasCapacity();
    if (homeOk) {
      const f = home.slowStartFraction;
      if (f >= 1 || !this.#thin || (fmix32(hash ^ ids[at]! ^ WARM_SEED) + 0.5) / 4294967296 < f) return home;
    }
    let best: S | null = null;
    let bestScore = -1;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      const w = s.weight;
      if (s === home || !(w > 0)) continue;
      const u = (fmix32(hash ^ ids[i]!) + 0.5) / 4294967296; // in (0, 1): the log is finite and negative
      const score = w / -Math.log(u);
      if (score > bestScore && s.hasCapacity()) {
        best = s;
        bestScore = score;
      }
    }
    // A key thinned away from a ramping server that no other server can take stays home.
    if (best === null && homeOk) return home;
    return best;
  }
}
