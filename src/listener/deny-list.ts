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
  const value = family === 4 ? v4ToBigInt(addr) : v6ToBigInt(addr);
  // An IPv4-mapped range is the IPv4 range: clients are matched by their plain IPv4 form (normalizeAddress).
  if (family === 6 && bits >= 96 && value >> 32n === 0xffffn) return canonicalCidr(`${bigIntToV4(value & 0xffffffffn)}/${bits - 96}`);
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  const net = value & mask;
  return `${family === 4 ? bigIntToV4(net) : bigIntToV6(net)}/${bits}`;
}

function v4ToBigInt(a: string): bigint {
  return a.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function bigIntToV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}

function v6ToBigInt(a: string): bigint {
  // An embedded IPv4 tail ("::ffff:10.0.0.1") becomes its two groups.
  let text = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const n = v4ToBigInt(v4[1]!);
    text = `${text.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigIntToV6(v: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

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
