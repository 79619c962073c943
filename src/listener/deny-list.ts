// Runtime denies with a TTL (NetScaler's simple ACL with TTL; SPEC `POST /api/v1/acl/deny`): a
// source CIDR refused for a while, on every listener or on one. They live in the runtime, so a
// reload keeps them and a restart forgets them.
//
// Checked on every accepted connection, so the entries are compiled into CIDR lists (one for all
// listeners, one per listener name) rebuilt when the set changes, never scanned per connection.
// Expiry needs no timer per entry: while the list is not empty it rides the shared clock tick
// (util/clock.ts), which drops what has expired and rebuilds the lists; allows() also compares
// with the clock so a deny never outlives its TTL by more than a tick.
import { isIP } from 'node:net';
import { CidrList } from '../net/cidr.ts';
import { isMapped, parseIPv4, parseIPv6, v4Text, v6Text } from '../net/ip-address.ts';
import { clock } from '../util/clock.ts';

/** Entries at most: a runaway script cannot grow the list (and each rebuild) without bound. */
export const MAX_DENIES = 10_000;

export interface DenyEntry {
  /** Canonical CIDR: the network address and the prefix length ("10.1.0.0/16", "2001:db8::/32"). */
  readonly source: string;
  /** Listener name, or null for every listener. */
  readonly listener: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The canonical form of an IP or CIDR ("10.1.2.3/16" → "10.1.0.0/16", "10.0.0.1" → "10.0.0.1/32"); null when it is neither. */
export function canonicalCidr(text: string): string | null {
  const parts = text.split('/');
  if (parts.length > 2) return null;
  const [addr = '', bitsText] = parts;
  const family = isIP(addr);
  if (family === 0) return null;
  const width = family === 4 ? 32 : 128;
  if (bitsText !== undefined && !/^[0-9]{1,3}$/.test(bitsText)) return null;
  const bits = bitsText === undefined ? width : Number(bitsText);
  if (bits > width) return null;
  // The 16 bytes of the address (an IPv4 one as ::ffff:a.b.c.d), the host bits cleared.
  const zone = addr.indexOf('%');
  if (family === 4) {
    BYTES.fill(0, 0, 10);
    BYTES[10] = BYTES[11] = 0xff;
    if (!parseIPv4(addr, 0, addr.length, BYTES, 12)) return null;
  } else if (!parseIPv6(zone === -1 ? addr : addr.slice(0, zone), BYTES, 0)) return null;
  const prefix = family === 4 ? bits + 96 : bits;
  for (let i = 0; i < 16; i++) BYTES[i] = BYTES[i]! & (0xff00 >> Math.min(8, Math.max(0, prefix - 8 * i)));
  // An IPv4-mapped range is the IPv4 range: clients are matched by their plain IPv4 form (normalizeAddress).
  return prefix >= 96 && isMapped(BYTES, 0) ? `${v4Text(BYTES, 12)}/${prefix - 96}` : `${v6Text(BYTES, 0, false)}/${prefix}`;
}

/** Scratch for canonicalCidr (filled and read in one call). */
const BYTES = new Uint8Array(16);

const EMPTY = new CidrList([]);

export class DenyList {
  /** By `${listener ?? '*'} ${source}`: one deny per source and scope; a new POST replaces its TTL. */
  readonly #entries = new Map<string, DenyEntry>();
  #all: CidrList = EMPTY;
  #byListener = new Map<string, CidrList>();
  /** The soonest expiry, so a tick with nothing due costs one comparison. */
  #nextExpiry = Infinity;
  #stopTick: (() => void) | null = null;

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Denies `source` (a canonical CIDR: canonicalCidr) for `ttlMs` from now, on `listener` or on all
   * (null). Replaces an entry for the same source and scope. False when the list is full.
   */
  add(source: string, ttlMs: number, listener: string | null, now = Date.now()): DenyEntry | null {
    const key = `${listener ?? '*'} ${source}`;
    if (!this.#entries.has(key) && this.#entries.size >= MAX_DENIES) return null;
    const entry: DenyEntry = { source, listener, createdAt: now, expiresAt: now + ttlMs };
    this.#entries.set(key, entry);
    // The clock may be stopped (no session, no tick): allows() compares with it, so bring it up to date.
    clock.now = now;
    this.#rebuild();
    return entry;
  }

  /** Lifts the denies of `source` (every scope, or only `listener` when given); how many were lifted. */
  remove(source: string, listener?: string | null): number {
    let n = 0;
    for (const [key, e] of this.#entries) {
      if (e.source !== source) continue;
      if (listener !== undefined && e.listener !== listener) continue;
      this.#entries.delete(key);
      n++;
    }
    if (n > 0) this.#rebuild();
    return n;
  }

  /** True unless a live deny covers `address` on `listener`. The hot path: one size check when empty. */
  allows(address: string, listener: string): boolean {
    if (this.#entries.size === 0) return true;
    if (clock.now >= this.#nextExpiry) this.#expire(clock.now);
    if (this.#all.has(address)) return false;
    const l = this.#byListener.get(listener);
    return l === undefined || !l.has(address);
  }

  /** The live entries, soonest expiry first, with the milliseconds they have left. */
  list(now = Date.now()): Array<DenyEntry & { remainingMs: number }> {
    this.#expire(now);
    return [...this.#entries.values()].sort((a, b) => a.expiresAt - b.expiresAt).map((e) => ({ ...e, remainingMs: Math.max(0, e.expiresAt - now) }));
  }

  #expire(now: number): void {
    if (now < this.#nextExpiry) return;
    let n = 0;
    for (const [key, e] of this.#entries) {
      if (e.expiresAt > now) continue;
      this.#entries.delete(key);
      n++;
    }
    if (n > 0) this.#rebuild();
  }

  #rebuild(): void {
    const all: string[] = [];
    const by = new Map<string, string[]>();
    let next = Infinity;
    for (const e of this.#entries.values()) {
      next = Math.min(next, e.expiresAt);
      if (e.listener === null) all.push(e.source);
      else {
        let l = by.get(e.listener);
        if (l === undefined) by.set(e.listener, (l = []));
        l.push(e.source);
      }
    }
    this.#all = all.length === 0 ? EMPTY : new CidrList(all);
    this.#byListener = new Map([...by].map(([name, list]) => [name, new CidrList(list)]));
    this.#nextExpiry = next;
    // The tick runs only while there is something to expire (the clock stops when nobody listens).
    if (this.#entries.size > 0 && this.#stopTick === null) this.#stopTick = clock.onTick((now) => this.#expire(now));
    else if (this.#entries.size === 0 && this.#stopTick !== null) {
      this.#stopTick();
      this.#stopTick = null;
    }
  }
}
