// Source ports of one pool's server connections (issue 6, SPEC "Source-port exhaustion"): which
// (source address, port) each connection binds, how many are held per (source address, server),
// the 80 % warning, and queue-or-reject when none is free.
//
//   tryLease(server) ─▶ the source address with the fewest ports in use toward this server
//                       └▶ its next free port after a cursor (next-fit)
//   wait(server, cb) ─▶ reject: cb(null) · queue: FIFO per server until a lease of that server
//                       is released (cb(lease)) or queueTimeout passes (cb(null))
//   lease.release()  ─▶ exactly once, on the socket's 'close'; serves the oldest waiter
//   skip(lease)      ─▶ the kernel refused the port: it stays out of use for BLOCK_MS (blocked),
//                       then is freed like a release (serves the oldest waiter)
//
// Why we pick ports ourselves: a socket bound to an address without a port gets a port from
// bind(), which must be unique for that address whatever the destination (Envoy issue 44747);
// one source address then gives ~28k connections in total. Bound to an explicit port, the same
// port number is used again toward every other server (the 4-tuples differ; libuv sets
// SO_REUSEADDR on bound TCP sockets), so each (address, server) has the whole range.
// Next-fit, not lowest-free: a port freed just now is used again last, after the cursor has
// gone round the range, so it has had time to leave TIME_WAIT.
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import type { Server } from './server.ts';

/** A block of ports. DESIGN §5: one process owns the whole configured range today; N workers will each own a disjoint slice. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/** The slice of `range` that worker `worker` of `workers` may use (contiguous, sizes differ by at most one port). */
export function workerSlice(range: PortRange, worker: number, workers: number): PortRange {
  const size = range.high - range.low + 1;
  const start = range.low + Math.floor((size * worker) / workers);
  const end = range.low + Math.floor((size * (worker + 1)) / workers) - 1;
  return { low: start, high: end };
}

/** One (source address, port) held by one server connection. `port` 0: the kernel chooses (no `source` configured). */
export interface Lease {
  readonly address: string;
  readonly port: number;
  /** Gives the port back; only the first call counts (the connector calls it on the socket's 'close'). */
  release(): void;
}

/** `null`: no port (refused; counted and logged already). */
export type LeaseCallback = (lease: Lease | null) => void;

/** Why a connection got no source port. */
export type RefusalReason = 'reject' | 'queue-full' | 'queue-timeout' | 'ports-busy' | 'kernel';

/** Figures of one source address toward one server. */
export interface AddressPortStats {
  inUse: number;
  free: number;
  peak: number;
  /** Connections refused while this address had no free port. */
  exhausted: number;
  /** Ports the kernel refused (EADDRINUSE / EADDRNOTAVAIL, e.g. TIME_WAIT) and that were skipped. */
  skipped: number;
}

/** SPEC stats `sourcePorts` of one server: sums over the source addresses, plus extra keys. */
export interface SourcePortStats {
  inUse: number;
  free: number;
  /** Connections refused for lack of a source port. */
  exhausted: number;
  peak?: number;
  /** Connections waiting for a port now (onExhausted "queue"). */
  queued?: number;
  skipped?: number;
  /** Of inUse: ports the kernel refused lately, kept out of use for a while (no connection holds them). */
  blocked?: number;
  /** At the recent net growth of ports in use; null while use is not growing. */
  secondsToExhaustion?: number | null;
  addresses?: Record<string, AddressPortStats>;
}

/** Source ports of one pool. Small on purpose (DESIGN §5): a per-worker implementation can replace it. */
export interface SourcePorts {
  /** A lease now, or null when every (address, port) toward `server` is held. Never waits. */
  tryLease(server: Server): Lease | null;
  /**
   * After tryLease gave null: queue or reject per `onExhausted`; calls back exactly once, never
   * synchronously. `since`: when this connection first waited — one the kernel refused a port
   * comes back with it, keeps its place by that time and its deadline (since + queueTimeout), and
   * in reject mode is refused as `ports-busy`.
   */
  wait(server: Server, cb: LeaseCallback, since?: number): void;
  /**
   * The kernel refused `lease` (bind/connect error `code`); counted. A busy port (not a foreign
   * source address) stays held — blocked — for BLOCK_MS after this, not given back when its socket
   * closes: otherwise the next waiter would get it at once and be refused again (a spin).
   */
  skip(server: Server, lease: Lease, code: string, syscall: string): void;
  /** A connection fails for lack of a port: counted and logged (at most one line per second per server). */
  refuse(server: Server, reason: RefusalReason): void;
  /** True when tryLease would give a port now. */
  hasFree(server: Server): boolean;
  stats(server: Server): SourcePortStats;
  /** Fails every waiter (stop/reload). */
  close(): void;
}

/** Warn when use reaches 80 % of the ports toward a server; say so again when it falls below 70 % (hysteresis: no flapping). */
const WARN_PERCENT = 80;
const RECOVER_PERCENT = 70;
/** One refusal line per server per second: exhaustion comes in bursts, the counter has the exact figure. */
const REFUSAL_LOG_INTERVAL_MS = 1_000;
/** The growth rate is sampled at most once a second and smoothed (EWMA, half weight to the newest sample). */
const RATE_SAMPLE_MS = 1_000;
/**
 * How long a port the kernel refused (another socket holds it or its 4-tuple, a listener, TIME_WAIT)
 * stays out of our use before it is tried again: long enough that waiters are not handed it back
 * at once (one failed syscall per blocked port per period at most), short enough that a port the
 * other socket let go of is soon ours again.
 */
export const BLOCK_MS = 1_000;

/** Size of the kernel's ephemeral port range (net.ipv4.ip_local_port_range), read once. */
export const EPHEMERAL_PORTS = ((): number => {
  try {
    const [lo = 32768, hi = 60999] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return hi - lo + 1;
  } catch {
    return 28232;
  }
})();

// ---- no `source`: the kernel picks ports ----

const KERNEL_LEASE: Lease = Object.freeze({ address: '', port: 0, release(): void {} });

/**
 * Without `source` the kernel picks each port from its ephemeral range; we only count. Its
 * exhaustion shows up as EADDRNOTAVAIL from connect(), which the connector turns into the same
 * source-exhausted outcome and counter as a configured range.
 */
export class KernelSourcePorts implements SourcePorts {
  readonly #pool: string;
  readonly #log: Logger;
  readonly #exhausted = new Map<Server, number>();
  readonly #lastLog = new Map<Server, number>();

  constructor(pool: string, log: Logger) {
    this.#pool = pool;
    this.#log = log;
  }

  tryLease(): Lease {
    return KERNEL_LEASE;
  }

  wait(_server: Server, cb: LeaseCallback): void {
    process.nextTick(cb, KERNEL_LEASE);
  }

  skip(): void {}

  refuse(server: Server, reason: RefusalReason): void {
    const n = (this.#exhausted.get(server) ?? 0) + 1;
    this.#exhausted.set(server, n);
    const now = Date.now();
    if (now - (this.#lastLog.get(server) ?? 0) < REFUSAL_LOG_INTERVAL_MS) return;
    this.#lastLog.set(server, now);
    this.#log.warn(
      { pool: this.#pool, server: server.address, reason, inUse: server.openSockets, ephemeralPorts: EPHEMERAL_PORTS, exhausted: n },
      'source ports exhausted',
    );
  }

  hasFree(): boolean {
    return true;
  }

  /** Per server the kernel can use its whole ephemeral range (ports are shared across destinations); TIME_WAIT is not seen. */
  stats(server: Server): SourcePortStats {
    const inUse = server.openSockets;
    return { inUse, free: Math.max(0, EPHEMERAL_PORTS - inUse), exhausted: this.#exhausted.get(server) ?? 0 };
  }

  close(): void {}
}

// ---- `source` configured: we pick ports ----

export interface SourceSettings {
  readonly addresses: readonly string[];
  readonly portRange: PortRange;
  readonly onExhausted: 'queue' | 'reject';
  readonly queueTimeout: number;
  readonly queueLength: number;
}

/** Ports of one source address toward one server: a bitset over the range and a next-fit cursor. */
class AddressPorts {
  readonly address: string;
  readonly low: number;
  readonly size: number;
  readonly #bits: Uint32Array;
  #cursor = 0;
  inUse = 0;
  peak = 0;
  exhausted = 0;
  skipped = 0;

  constructor(address: string, range: PortRange) {
    this.address = address;
    this.low = range.low;
    this.size = range.high - range.low + 1;
    this.#bits = new Uint32Array(Math.ceil(this.size / 32));
  }

  /** The next free port at or after the cursor, or 0. Bounded: at most one pass over the range, 32 held ports per step where a word is full. */
  take(): number {
    if (this.inUse >= this.size) return 0;
    const size = this.size;
    const bits = this.#bits;
    let off = this.#cursor;
    for (let scanned = 0; scanned < size; ) {
      const w = off >>> 5;
      const b = off & 31;
      const word = bits[w]!;
      if (b === 0 && word === 0xffffffff && off + 32 <= size) {
        off += 32;
        scanned += 32;
      } else if ((word & (1 << b)) === 0) {
        bits[w] = word | (1 << b);
        this.#cursor = off + 1 === size ? 0 : off + 1;
        if (++this.inUse > this.peak) this.peak = this.inUse;
        return this.low + off;
      } else {
        off++;
        scanned++;
      }
      if (off >= size) off = 0;
    }
    return 0; // unreachable while inUse counts the set bits
  }

  /** False when the port was not held (a second release): nothing changes. */
  give(port: number): boolean {
    const off = port - this.low;
    const w = off >>> 5;
    const mask = 1 << (off & 31);
    const word = this.#bits[w]!;
    if ((word & mask) === 0) return false;
    this.#bits[w] = word & ~mask;
    this.inUse--;
    return true;
  }
}

class PortLease implements Lease {
  readonly address: string;
  readonly port: number;
  readonly #owner: ServerPorts;
  readonly #block: AddressPorts;
  #released = false;

  constructor(owner: ServerPorts, block: AddressPorts, port: number) {
    this.address = block.address;
    this.port = port;
    this.#owner = owner;
    this.#block = block;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.give(this.#block, this.port);
  }

  /** The kernel refused the port: the owner keeps it (blocked) past this lease; release() does nothing from now on. */
  block(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.block(this.#block, this.port);
  }
}

interface Waiter {
  readonly cb: LeaseCallback;
  readonly deadline: number;
}

/** A port held out of use after a kernel refusal, until `until`. */
interface Blocked {
  readonly block: AddressPorts;
  readonly port: number;
  readonly until: number;
}

/** What the servers of one pool share: settings, logger, the pool-wide count of waiters (queueLength bounds it). */
interface Shared {
  readonly pool: string;
  readonly settings: SourceSettings;
  readonly log: Logger;
  readonly now: () => number;
  queued: number;
}

/** All source addresses toward one server: leases, waiters, figures, warnings. */
class ServerPorts {
  readonly server: Server;
  readonly blocks: AddressPorts[];
  readonly capacity: number;
  readonly #shared: Shared;
  readonly #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** In order of `until` (one fixed BLOCK_MS): the head expires first. */
  readonly #blocked: Blocked[] = [];
  #blockTimer: NodeJS.Timeout | null = null;
  /** Ports held: by connections, and blocked after a kernel refusal (`blocked` of them). */
  inUse = 0;
  blocked = 0;
  peak = 0;
  exhausted = 0;
  skipped = 0;
  #warned = false;
  #lastRefusalLog = 0;
  #refusedSinceLog = 0;
  // net growth of inUse per second (EWMA), for secondsToExhaustion
  #rateAt: number;
  #rateInUse = 0;
  #slope = 0;
  #sampled = false;

  constructor(server: Server, shared: Shared) {
    this.server = server;
    this.#shared = shared;
    const family = isIP(server.endpoint.host);
    const range = shared.settings.portRange;
    // Only addresses of the server's family can reach it; a hostname server may be either.
    this.blocks = shared.settings.addresses.filter((a) => family === 0 || isIP(a) === family).map((a) => new AddressPorts(a, range));
    this.capacity = this.blocks.reduce((n, b) => n + b.size, 0);
    this.#rateAt = shared.now();
    if (this.blocks.length === 0) {
      shared.log.error({ pool: shared.pool, server: server.address, addresses: shared.settings.addresses }, 'no source address of the server\'s address family: every connection to it is refused');
    }
  }

  take(): Lease | null {
    let best: AddressPorts | null = null;
    for (const b of this.blocks) if (b.inUse < b.size && (best === null || b.inUse < best.inUse)) best = b;
    if (best === null) return null;
    const port = best.take();
    if (port === 0) return null;
    this.#sample(); // closes a rate window before this lease counts in the next one
    if (++this.inUse > this.peak) this.peak = this.inUse;
    if (!this.#warned && this.inUse * 100 >= this.capacity * WARN_PERCENT) {
      this.#warned = true;
      this.#shared.log.warn(this.#figures(), `source ports above ${WARN_PERCENT}% toward server`);
    }
    return new PortLease(this, best, port);
  }

  give(block: AddressPorts, port: number): void {
    if (!block.give(port)) return;
    this.inUse--;
    if (this.#warned && this.inUse * 100 < this.capacity * RECOVER_PERCENT) {
      this.#warned = false;
      this.#shared.log.info(this.#figures(), `source ports back below ${RECOVER_PERCENT}% toward server`);
    }
    if (this.#waiters.length > 0) {
      const lease = this.take();
      if (lease === null) return; // cannot happen: a port was just freed
      const w = this.#waiters.shift()!;
      this.#shared.queued--;
      this.#arm();
      w.cb(lease);
    }
  }

  wait(cb: LeaseCallback, since: number | undefined): void {
    const { settings } = this.#shared;
    const lease = this.take();
    if (lease !== null) return process.nextTick(cb, lease);
    const now = this.#shared.now();
    const deadline = (since ?? now) + settings.queueTimeout;
    let reason: RefusalReason | null = null;
    if (settings.onExhausted === 'reject' || settings.queueTimeout <= 0) reason = since === undefined ? 'reject' : 'ports-busy';
    else if (this.#shared.queued >= settings.queueLength) reason = 'queue-full';
    else if (deadline <= now) reason = 'queue-timeout';
    if (reason !== null) {
      this.refuse(reason);
      return process.nextTick(cb, null);
    }
    // FIFO by deadline: a connection back from a kernel refusal goes before those that came after it
    // (the timer serves the head's deadline, so the order must hold).
    let i = this.#waiters.length;
    while (i > 0 && this.#waiters[i - 1]!.deadline > deadline) i--;
    this.#waiters.splice(i, 0, { cb, deadline });
    this.#shared.queued++;
    if (i === 0) this.#arm();
  }

  /** `port` (held) stays out of use for BLOCK_MS, then is given back like a release. */
  block(block: AddressPorts, port: number): void {
    this.blocked++;
    this.#blocked.push({ block, port, until: this.#shared.now() + BLOCK_MS });
    if (this.#blocked.length === 1) this.#armBlocked();
  }

  #armBlocked(): void {
    if (this.#blockTimer !== null) clearTimeout(this.#blockTimer);
    this.#blockTimer = null;
    const head = this.#blocked[0];
    if (head === undefined) return;
    this.#blockTimer = setTimeout(() => this.#unblock(), Math.max(0, head.until - this.#shared.now()));
    this.#blockTimer.unref();
  }

  #unblock(): void {
    this.#blockTimer = null;
    const now = this.#shared.now();
    let n = 0;
    while (n < this.#blocked.length && this.#blocked[n]!.until <= now) n++;
    for (const b of this.#blocked.splice(0, n)) {
      this.blocked--;
      this.give(b.block, b.port); // serves the oldest waiter, which tries the port again
    }
    this.#armBlocked();
  }

  /** One timer per server with waiters, set for the oldest one's deadline (FIFO with one timeout: deadlines are in order). */
  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const head = this.#waiters[0];
    if (head === undefined) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, head.deadline - this.#shared.now()));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = null;
    const now = this.#shared.now();
    const expired: Waiter[] = [];
    while (this.#waiters.length > 0 && this.#waiters[0]!.deadline <= now) {
      expired.push(this.#waiters.shift()!);
      this.#shared.queued--;
    }
    this.#arm();
    for (const w of expired) {
      this.refuse('queue-timeout');
      w.cb(null);
    }
  }

  close(): void {
    const all = this.#waiters.splice(0);
    this.#shared.queued -= all.length;
    this.#arm();
    // Shutting down, not exhaustion: not counted.
    for (const w of all) w.cb(null);
  }

  skip(lease: Lease, code: string, syscall: string): void {
    this.skipped++;
    for (const b of this.blocks) if (b.address === lease.address) b.skipped++;
    const { log, pool } = this.#shared;
    if (syscall === 'bind' && code === 'EADDRNOTAVAIL') {
      // Not a busy port: the address is not one of this host's (a configuration problem).
      log.error({ pool, server: this.server.address, sourceAddress: lease.address }, 'source address is not an address of this host');
    } else {
      if (lease instanceof PortLease) lease.block();
      log.debug({ pool, server: this.server.address, sourceAddress: lease.address, sourcePort: lease.port, code }, 'source port busy in the kernel, trying another');
    }
  }

  refuse(reason: RefusalReason): void {
    this.exhausted++;
    for (const b of this.blocks) if (b.inUse >= b.size) b.exhausted++;
    this.#refusedSinceLog++;
    const now = this.#shared.now();
    if (now - this.#lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) return;
    this.#lastRefusalLog = now;
    const refused = this.#refusedSinceLog;
    this.#refusedSinceLog = 0;
    this.#shared.log.warn({ ...this.#figures(), reason, onExhausted: this.#shared.settings.onExhausted, refused }, 'source ports exhausted');
  }

  get queued(): number {
    return this.#waiters.length;
  }

  #sample(): void {
    const now = this.#shared.now();
    const dt = now - this.#rateAt;
    if (dt < RATE_SAMPLE_MS) return;
    const perSecond = ((this.inUse - this.#rateInUse) * 1000) / dt;
    this.#slope = this.#sampled ? this.#slope * 0.5 + perSecond * 0.5 : perSecond;
    this.#sampled = true;
    this.#rateAt = now;
    this.#rateInUse = this.inUse;
  }

  secondsToExhaustion(): number | null {
    this.#sample();
    if (this.#slope <= 0) return null;
    return Math.round((this.capacity - this.inUse) / this.#slope);
  }

  /** The figures every log line of this server carries. */
  #figures(): Record<string, unknown> {
    const addresses: Record<string, number> = {};
    for (const b of this.blocks) addresses[b.address] = b.inUse;
    return {
      pool: this.#shared.pool,
      server: this.server.address,
      inUse: this.inUse,
      blocked: this.blocked,
      free: this.capacity - this.inUse,
      capacity: this.capacity,
      percent: this.capacity === 0 ? 100 : Math.round((this.inUse * 100) / this.capacity),
      peak: this.peak,
      exhausted: this.exhausted,
      queued: this.#waiters.length,
      secondsToExhaustion: this.secondsToExhaustion(),
      addresses,
    };
  }
}

/** `pools[].source` configured: (address, port) leases per server from `portRange`. */
export class SourcePortPool implements SourcePorts {
  readonly #shared: Shared;
  readonly #servers = new Map<Server, ServerPorts>();

  constructor(pool: string, settings: SourceSettings, log: Logger, now: () => number = Date.now) {
    this.#shared = { pool, settings, log, now, queued: 0 };
  }

  #of(server: Server): ServerPorts {
    let sp = this.#servers.get(server);
    if (sp === undefined) this.#servers.set(server, (sp = new ServerPorts(server, this.#shared)));
    return sp;
  }

  tryLease(server: Server): Lease | null {
    return this.#of(server).take();
  }

  wait(server: Server, cb: LeaseCallback, since?: number): void {
    this.#of(server).wait(cb, since);
  }

  skip(server: Server, lease: Lease, code: string, syscall: string): void {
    this.#of(server).skip(lease, code, syscall);
  }

  refuse(server: Server, reason: RefusalReason): void {
    this.#of(server).refuse(reason);
  }

  hasFree(server: Server): boolean {
    const sp = this.#of(server);
    return sp.inUse < sp.capacity;
  }

  stats(server: Server): SourcePortStats {
    const sp = this.#of(server);
    const addresses: Record<string, AddressPortStats> = {};
    // inUse counts the blocked ports (held, not free: inUse + free is the capacity, which alerts rely on); `blocked` says how many.
    for (const b of sp.blocks) addresses[b.address] = { inUse: b.inUse, free: b.size - b.inUse, peak: b.peak, exhausted: b.exhausted, skipped: b.skipped };
    return {
      inUse: sp.inUse,
      free: sp.capacity - sp.inUse,
      exhausted: sp.exhausted,
      peak: sp.peak,
      queued: sp.queued,
      skipped: sp.skipped,
      blocked: sp.blocked,
      secondsToExhaustion: sp.secondsToExhaustion(),
      addresses,
    };
  }

  close(): void {
    for (const sp of this.#servers.values()) sp.close();
  }
}
