// Per-client limits of one listener (`limits.perClient`): open connections per client address and
// a token bucket of new connections per second. The state belongs to the bound listener, so it
// outlives a reload (the limits themselves are read from the settings of each new connection).
//
// Memory stays bounded whatever the number of distinct addresses:
// - open counts live in a Map holding only addresses with a connection open now, so it never has
//   more entries than the listener has open connections (limits.maxConnections, the fd budget).
//   An LRU is wrong there: evicting a count would let that client past its limit;
// - token buckets live in an lru-cache of BUCKETS entries. Forgetting a bucket only refills it, so
//   a flood of distinct addresses costs at most a fresh burst to the addresses it pushed out.
import { LRUCache } from 'lru-cache';

/** Token buckets kept per listener (about 100 bytes each: a few MB at most). */
export const BUCKETS = 65_536;

export interface PerClientLimits {
  readonly maxConnections?: number | undefined;
  readonly newPerSecond?: number | undefined;
}

/** Why admit() refused: the counter a refusal is told under (all count as `rejected.limits`). */
export type ClientRefusal = 'per-client-connections' | 'per-client-rate';

class Bucket {
  tokens: number;
  at: number;
  constructor(tokens: number, at: number) {
    this.tokens = tokens;
    this.at = at;
  }
}

export class ClientLimits {
  readonly #open = new Map<string, number>();
  /** Made at the first rate check: lru-cache preallocates its index arrays for `max` (~1.4 MB here), which every listener without `newPerSecond` would carry for nothing. */
  #buckets: LRUCache<string, Bucket> | null = null;

  /**
   * Checks `address` against `limits` at `now` (ms) and, when it passes, counts the new connection:
   * release() must follow when it closes. Refused attempts spend no token (the bucket refills at
   * `newPerSecond`, so a client is accepted again a second after its burst), and take no count.
   */
  admit(address: string, limits: PerClientLimits, now: number): ClientRefusal | null {
    const max = limits.maxConnections;
    const open = this.#open.get(address) ?? 0;
    if (max !== undefined && open >= max) return 'per-client-connections';
    const rate = limits.newPerSecond;
    if (rate !== undefined) {
      // Capacity: one second's worth (at least one connection), so a steady client at the rate never waits.
      const capacity = Math.max(1, rate);
      const buckets = (this.#buckets ??= new LRUCache<string, Bucket>({ max: BUCKETS }));
      let b = buckets.get(address);
      if (b === undefined) {
        b = new Bucket(capacity, now);
        buckets.set(address, b);
      } else {
        b.tokens = Math.min(capacity, b.tokens + ((now - b.at) * rate) / 1000);
        b.at = now;
      }
      if (b.tokens < 1) return 'per-client-rate';
      b.tokens -= 1;
    }
    this.#open.set(address, open + 1);
    return null;
  }

  /** A connection admit() counted has closed. */
  release(address: string): void {
    const open = this.#open.get(address);
    if (open === undefined) return;
    if (open <= 1) this.#open.delete(address);
    else this.#open.set(address, open - 1);
  }

  /** Connections open from `address` (tests, admin). */
  openFrom(address: string): number {
    return this.#open.get(address) ?? 0;
  }

  /** Addresses with an open connection and buckets held (tests: the bounds). */
  get sizes(): { open: number; buckets: number } {
    return { open: this.#open.size, buckets: this.#buckets?.size ?? 0 };
  }
}
