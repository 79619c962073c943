// Persistence (`pools[].persistence`, issue 16 §4): a client keeps its server across sessions and
// requests. The pool asks before it schedules (pool.ts pick): the sticky server is used while it is
// up, enabled, in the set the pool serves from (primaries, or backups while no primary is up) and
// not already tried by this session; otherwise the scheduler picks and the client is stuck to that
// server instead (a retry after a failed connect re-sticks too).
//
//   source-ip  client address (the PROXY header's when a trusted one came), masked to `netmask`
//              (IPv4) or `netmask6` (IPv6) → server, in an LRU bounded at TABLE_SIZE with a TTL
//              of `timeout` refreshed at every session or request (HAProxy stick-table `expire`;
//              IPVS persistence granularity for the masks). The table outlives a reload: the pool
//              of the next generation takes it over when the masks are the same (pool.ts).
//   cookie     http only: the request's cookie `name` holds an opaque id of the server (HMAC of
//              pool name and server address under a per-process secret: stable across reloads,
//              never the address itself); the response of a request not stuck to the server that
//              served it gets a Set-Cookie for that server. Our cookie never reaches the server.
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { PoolConfig } from '../config/schema.ts';
import { DEFAULTS } from '../config/defaults.ts';
import type { Server } from './server.ts';
import { ipv4Number, parseIPv6 } from '../net/ip-address.ts';

export type PersistenceConfig = NonNullable<PoolConfig['persistence']>;

/** What a client is stuck by: its (masked) address, or the id in its cookie. */
export type StickyKey = string | number;

/** Entries a source-ip table holds at most: the least recently used client is forgotten first. */
export const TABLE_SIZE = DEFAULTS.pool.persistence.tableSize;

export interface Persistence {
  readonly type: PersistenceConfig['type'];
  /** The key this client sticks by; null: none (no cookie, an address that is not IP). */
  keyOf(clientAddress: string, cookie: string | null): StickyKey | null;
  /** The server `key` is stuck to, usable or not (the pool decides). */
  serverOf(key: StickyKey): Server | undefined;
  /** The client of `key` was sent to `server`: remember it (source-ip) or leave it to the response (cookie). */
  remember(key: StickyKey, server: Server): void;
  /** What the admin API shows of it (GET /api/v1/pools). */
  view(): Record<string, unknown>;
}

/** The persistence of a pool; `previous`: its predecessor's (reload), whose source-ip table is kept when it still fits. */
export function createPersistence(cfg: PersistenceConfig, poolName: string, servers: readonly Server[], previous: Persistence | null): Persistence {
  switch (cfg.type) {
    case 'source-ip': {
      const kept = previous instanceof SourceIpPersistence && previous.netmask === cfg.netmask && previous.netmask6 === cfg.netmask6 ? previous.table : null;
      return new SourceIpPersistence(cfg.netmask, cfg.netmask6, cfg.timeout, kept ?? new StickTable(TABLE_SIZE));
    }
    case 'cookie':
      return new CookiePersistence(cfg.name, poolName, servers);
    default: {
      const never: never = cfg;
      throw new Error(`unknown persistence ${String(never)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// source-ip

/** A clock for the TTLs; tests pass their own (lru-cache's `perf` option). */
export interface StickClock {
  now(): number;
}

/**
 * The key → server table: an LRU bounded at `max` entries, each living `ttl` ms after it was last
 * used. Made at the first entry: an LRU preallocates its bound, and a reload builds every pool anew.
 */
export class StickTable {
  readonly max: number;
  readonly #clock: StickClock | undefined;
  #cache: LRUCache<StickyKey, Server> | null = null;

  constructor(max: number, clock?: StickClock) {
    this.max = max;
    this.#clock = clock;
  }

  get size(): number {
    return this.#cache?.size ?? 0;
  }

  get(key: StickyKey): Server | undefined {
    return this.#cache?.get(key);
  }

  /** Sets (or refreshes) the entry; `opts.ttl`: the pool's timeout, per entry so a reload may change it. */
  set(key: StickyKey, server: Server, opts: { readonly ttl: number }): void {
    // ttlResolution 0: lru-cache would otherwise arm a timer per millisecond of use to cache now().
    // No autopurge (a timer per entry): a stale entry is dropped when read or pushed out by the bound.
    (this.#cache ??= new LRUCache<StickyKey, Server>({ max: this.max, ttl: opts.ttl, ttlResolution: 0, ...(this.#clock !== undefined ? { perf: this.#clock } : {}) })).set(key, server, opts);
  }
}

export class SourceIpPersistence implements Persistence {
  readonly type = 'source-ip';
  readonly netmask: number;
  readonly netmask6: number;
  readonly table: StickTable;
  /** lru-cache set() options: one object per pool, not one per pick. */
  readonly #setOptions: { readonly ttl: number };

  constructor(netmask: number, netmask6: number, timeout: number, table: StickTable) {
    this.netmask = netmask;
    this.netmask6 = netmask6;
    this.table = table;
    this.#setOptions = { ttl: timeout };
  }

  keyOf(clientAddress: string, _cookie: string | null): StickyKey | null {
    return addressKey(clientAddress, this.netmask, this.netmask6);
  }

  serverOf(key: StickyKey): Server | undefined {
    return this.table.get(key);
  }

  /** Every pick refreshes its entry (and gives it the pool's current timeout). */
  remember(key: StickyKey, server: Server): void {
    this.table.set(key, server, this.#setOptions);
  }

  view(): Record<string, unknown> {
    return { type: this.type, timeoutMs: this.#setOptions.ttl, netmask: this.netmask, netmask6: this.netmask6, entries: this.table.size, maxEntries: this.table.max };
  }
}

/**
 * The table key of a client address: the address itself when unmasked (no allocation: it is the
 * string the session already has), the masked IPv4 address as a 32-bit integer, the masked IPv6
 * address as its 8 groups in hex. Null for anything that is not an IP address (no stickiness).
 * Addresses arrive normalized (net/address.ts: no ::ffff: prefix on IPv4 peers).
 */
/** Scratch for one IPv6 address (addressKey fills and reads it in one call). */
const V6 = new Uint8Array(16);

export function addressKey(address: string, netmask: number, netmask6: number): StickyKey | null {
  if (address.indexOf(':') === -1) {
    const v4 = ipv4Number(address);
    if (v4 < 0) return null;
    if (netmask === 32) return address;
    // | 0: a signed 32-bit value is a small integer for V8, never a heap number.
    return netmask === 0 ? 0 : (v4 & (-1 << (32 - netmask))) | 0;
  }
  // From a socket or the PROXY parser, so an IPv6 address: used as it is when unmasked (no parse per pick).
  if (netmask6 === 128) return address;
  const zone = address.indexOf('%');
  if (!parseIPv6(zone === -1 ? address : address.slice(0, zone), V6, 0)) return null;
  let key = '';
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, Math.max(0, netmask6 - i * 16));
    const word = (V6[2 * i]! << 8) | V6[2 * i + 1]!;
    const g = bits === 0 ? 0 : word & ((0xffff << (16 - bits)) & 0xffff);
    key += i === 0 ? g.toString(16) : `:${g.toString(16)}`;
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// cookie

/** Per process: ids stay the same across reloads, and mean nothing outside this process (a restart re-sticks clients). */
const SECRET = randomBytes(32);
/** base64url characters of an id: 96 bits of the HMAC. */
const ID_LENGTH = 16;

/** The opaque id of a server in a pool (HMAC-SHA256 of pool name and address): never the address. */
export function cookieId(poolName: string, address: string): string {
  return createHmac('sha256', SECRET).update(poolName).update('\0').update(address).digest('base64url').slice(0, ID_LENGTH);
}

export class CookiePersistence implements Persistence {
  readonly type = 'cookie';
  readonly name: string;
  readonly #byId = new Map<string, Server>();
  /** Per server its Set-Cookie field lines, plain and Secure (TLS listeners): made once, not per response. */
  readonly #lines = new Map<Server, readonly [string, string]>();
  readonly #ids = new Map<Server, string>();

  constructor(name: string, poolName: string, servers: readonly Server[]) {
    this.name = name;
    for (const s of servers) {
      const id = cookieId(poolName, s.address);
      this.#byId.set(id, s);
      this.#ids.set(s, id);
      // Session cookie (no Max-Age), as HAProxy's `cookie ... insert` and nginx's `sticky cookie`.
      const line = `set-cookie: ${name}=${id}; Path=/; HttpOnly; SameSite=Lax`;
      this.#lines.set(s, [`${line}\r\n`, `${line}; Secure\r\n`]);
    }
  }

  keyOf(_clientAddress: string, cookie: string | null): StickyKey | null {
    return cookie;
  }

  serverOf(key: StickyKey): Server | undefined {
    return typeof key === 'string' && key.length === ID_LENGTH ? this.#byId.get(key) : undefined;
  }

  remember(_key: StickyKey, _server: Server): void {
    // The response carries it (setCookieLine).
  }

  view(): Record<string, unknown> {
    return { type: this.type, name: this.name };
  }

  idOf(server: Server): string | undefined {
    return this.#ids.get(server);
  }

  /**
   * The Set-Cookie line (with its CRLF) for a response from `server` to a request whose cookie was
   * `cookie`; '' when the client already holds that server's id.
   */
  setCookieLine(server: Server, cookie: string | null, secure: boolean): string {
    const lines = this.#lines.get(server);
    if (lines === undefined || (cookie !== null && this.#byId.get(cookie) === server)) return '';
    return secure ? lines[1] : lines[0];
  }
}

/**
 * Takes our cookie out of the request's Cookie fields (flat [name, value, ...], changed in place):
 * every `name=value` pair with exactly that name is removed from every Cookie field (a field left
 * empty is removed), other cookies stay as they were, in order. Returns the first value found
 * (DQUOTEs around it dropped, RFC 6265 §4.1.1), or null when no pair had the name (nothing changed).
 * Cookie names are case-sensitive; `XFPSRV=` or `FPSRV_x=` are other cookies.
 */
export function takeCookie(fields: string[], name: string): string | null {
  let found: string | null = null;
  for (let i = 0; i < fields.length; i += 2) {
    const n = fields[i]!;
    if (n.length !== 6 || n.toLowerCase() !== 'cookie') continue;
    const value = fields[i + 1]!;
    // The common case on a pool with cookie persistence but a request without it: one indexOf.
    if (value.indexOf(name) === -1) continue;
    let kept = '';
    let removed = false;
    let pos = 0;
    while (pos <= value.length) {
      let end = value.indexOf(';', pos);
      if (end === -1) end = value.length;
      let s = pos;
      let e = end;
      while (s < e && (value.charCodeAt(s) === 32 || value.charCodeAt(s) === 9)) s++;
      while (e > s && (value.charCodeAt(e - 1) === 32 || value.charCodeAt(e - 1) === 9)) e--;
      if (s < e) {
        const eq = value.indexOf('=', s);
        let nameEnd = eq === -1 || eq >= e ? -1 : eq;
        // Whitespace between name and '=' is tolerated by browsers' parsers; trim it for the compare.
        while (nameEnd > s && (value.charCodeAt(nameEnd - 1) === 32 || value.charCodeAt(nameEnd - 1) === 9)) nameEnd--;
        if (nameEnd - s === name.length && value.startsWith(name, s)) {
          removed = true;
          if (found === null) {
            let vs = eq + 1;
            let ve = e;
            while (vs < ve && (value.charCodeAt(vs) === 32 || value.charCodeAt(vs) === 9)) vs++;
            if (ve - vs >= 2 && value.charCodeAt(vs) === 34 && value.charCodeAt(ve - 1) === 34) {
              vs++;
              ve--;
            }
            found = value.slice(vs, ve);
          }
        } else kept = kept === '' ? value.slice(s, e) : `${kept}; ${value.slice(s, e)}`;
      }
      pos = end + 1;
    }
    if (!removed) continue;
    if (kept === '') {
      fields.splice(i, 2);
      i -= 2;
    } else fields[i + 1] = kept;
  }
  return found;
}
