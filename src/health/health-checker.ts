// Active health checks of one pool (issue 16). Every server is checked every `interval` (with a
// little jitter, so 1,000 servers do not all connect on the same tick) by the check type the config
// names (the registry below: tcp-check.ts, http-check.ts); `rise` passes in a row bring a down
// server up, `fall` failures in a row take an up server down.
//
// No timer per server: a checker is one handler on the shared clock tick (util/clock.ts). Each tick
// it starts the checks that are due and fails those past `timeout`, so both are honoured to one tick
// (250 ms): an interval below that is one check per tick.
//
// Checks connect through the pool's connector, exactly as traffic does: a source address lease, the
// connect timeout, and a PROXY header when the pool sends one (LOCAL: the connection is our own).
//
// Starts go through one process-wide queue drained STARTS_PER_TURN at a time, one event-loop turn
// apart (setImmediate): a tick that finds hundreds of checks due (1,000 servers at 1 s) would
// otherwise open them all in one go and hold the loop for tens of ms (measured: p99 loop delay
// 24–39 ms with 1,000 servers; the traffic's p99 pays for it).
//
// What a check found lives on the Server (lastCheck, the rise/fall runs, the check in flight), which a
// reload hands to the next generation; the checker belongs to its generation: started when that goes
// live (Generation.activate), stopped when the next one does. A check still in flight at the swap is
// finished by whichever checker owns the server then, so a kept server is never checked twice at once.
import type { Socket } from 'node:net';
import type { HealthCheckConfig } from '../config/schema.ts';
import type { FullproxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Connector } from '../pool/connector.ts';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import { clock } from '../util/clock.ts';
import { tcpCheck } from './tcp-check.ts';
import { httpCheck } from './http-check.ts';

/** Check connections opened per event-loop turn, at most. */
const STARTS_PER_TURN = 25;

/** Checks due and not yet started, oldest first, with the checker that found them due. */
const startQueue: Array<{ checker: HealthChecker; server: Server }> = [];
let startHead = 0;
let draining = false;

function drainStarts(): void {
  let n = 0;
  while (startHead < startQueue.length && n < STARTS_PER_TURN) {
    const { checker, server } = startQueue[startHead]!;
    startQueue[startHead++] = undefined as never;
    // Stopped meanwhile (a reload handed the server on), or already running: nothing to start.
    if (server.checker !== checker || server.checkRun !== null || !checker.running) continue;
    checker.startNow(server, Date.now());
    n++;
  }
  if (startHead < startQueue.length) {
    setImmediate(drainStarts);
    return;
  }
  startQueue.length = 0;
  startHead = 0;
  draining = false;
}

/** What one check found. */
export interface CheckResult {
  readonly result: 'pass' | 'fail';
  /** "connected", "status 200", "refused", "timeout", "status 503", ... */
  readonly reason: string;
  /** From the start of the connect to the verdict. */
  readonly latencyMs: number;
  /** When the verdict came (ms epoch). */
  readonly at: number;
}

/** One check type: given the connected socket, decides pass or fail (run.finish, once). */
export interface HealthCheck {
  probe(run: CheckRun, socket: Socket): void;
}

/** Check types by their config name; a new type is one file and one line here. */
const CHECKS: { readonly [T in HealthCheckConfig['type']]: (config: Extract<HealthCheckConfig, { type: T }>) => HealthCheck } = {
  tcp: tcpCheck,
  http: httpCheck,
};

function createCheck(config: HealthCheckConfig): HealthCheck {
  return config.type === 'tcp' ? CHECKS.tcp(config) : CHECKS.http(config);
}

function noop(): void {}

/**
 * One check of one server, from the connect to the verdict. It stays the server's `checkRun` until
 * both the verdict is in and the connector has called back: a timed-out check whose connect is
 * still pending must not let a second connection start beside it.
 */
export class CheckRun {
  readonly server: Server;
  /** Clock time at the start (ms epoch): the timeout is counted from it on the tick. */
  readonly started: number;
  readonly #t0 = performance.now();
  #socket: Socket | null = null;
  #verdict = false;
  #connecting = true;

  constructor(server: Server, started: number) {
    this.server = server;
    this.started = started;
    server.checkRun = this;
  }

  get settled(): boolean {
    return this.#verdict;
  }

  /** The connector called back with a socket. False when the check is over already (the socket is then closed). */
  attach(socket: Socket): boolean {
    this.#connecting = false;
    if (this.#verdict) {
      socket.on('error', noop);
      socket.destroy();
      this.#release();
      return false;
    }
    this.#socket = socket;
    // The connector took its own error listener off at connect: from here a reset or any other
    // socket error is the check's verdict.
    socket.on('error', (e: NodeJS.ErrnoException) => this.finish('fail', errnoReason(e.code)));
    return true;
  }

  /** The connector called back with an error: the verdict, unless our own source ports ran out (not the server's fault). */
  connectFailed(err: FullproxyError): void {
    this.#connecting = false;
    if (err.code === 'source-exhausted') {
      // Like traffic (pool/connect.ts): no verdict on the server; the next interval tries again.
      this.#verdict = true;
      this.#release();
      return;
    }
    this.finish('fail', connectReason(err));
  }

  /** The verdict (the first call wins); the connection is closed at once (closeCheck). */
  finish(result: 'pass' | 'fail', reason: string): void {
    if (this.#verdict) return;
    this.#verdict = true;
    const s = this.#socket;
    if (s !== null) closeCheck(s);
    const latencyMs = Math.round((performance.now() - this.#t0) * 10) / 10;
    this.server.checker?.record(this.server, { result, reason, latencyMs, at: Date.now() });
    this.#release();
  }

  /** A checker stopped with no successor for the server: close quietly, no verdict. */
  abort(): void {
    if (this.#verdict) return;
    this.#verdict = true;
    this.#socket?.destroy();
    this.#release();
  }

  #release(): void {
    if (!this.#connecting && this.server.checkRun === this) this.server.checkRun = null;
  }
}

/**
 * Closes a check connection at once. Nothing was written on it (a tcp check without a PROXY
 * header): RST, as HAProxy closes its checks — no FIN exchange, and no TIME_WAIT left behind by
 * every check (1,000 servers checked every second would keep ~60,000). Something was written (a
 * PROXY header, an http check's request, a TLS handshake): close(), which still delivers what the
 * kernel holds, then FIN (RST when part of the server's answer was not read: the kernel's rule);
 * bytes Node still queues (written before the connect completed): after them.
 */
function closeCheck(s: Socket): void {
  if (s.writableLength > 0) s.destroySoon();
  else if (s.bytesWritten === 0 && !(s as { encrypted?: boolean }).encrypted) s.resetAndDestroy();
  else s.destroy();
}

/** The checks of one pool of one generation. */
export class HealthChecker {
  readonly pool: Pool;
  readonly config: HealthCheckConfig;
  readonly #check: HealthCheck;
  readonly #connector: Connector;
  readonly #log: Logger;
  #stopTick: (() => void) | null = null;

  constructor(pool: Pool, config: HealthCheckConfig, connector: Connector, log: Logger) {
    this.pool = pool;
    this.config = config;
    this.#check = createCheck(config);
    this.#connector = connector;
    this.#log = log.child({ pool: pool.name });
  }

  get running(): boolean {
    return this.#stopTick !== null;
  }

  /** The pool's generation goes live: its servers are checked by this checker from now on. */
  start(): void {
    if (this.#stopTick !== null) return;
    for (const s of this.pool.servers) s.checker = this;
    this.#stopTick = clock.onTick((now) => this.tick(now));
  }

  /**
   * The next generation went live (or the proxy stops). Servers a successor checks are left to it
   * (with a check in flight, if any); the others are no longer checked: their check is dropped, and
   * one held down by checks is up again, under passive health alone (SPEC: up until passive failures
   * say otherwise). `final` (the proxy stops): no server is brought back, nothing is logged.
   */
  stop(final = false): void {
    if (this.#stopTick === null) return;
    this.#stopTick();
    this.#stopTick = null;
    for (const s of this.pool.servers) {
      if (s.checker !== this) continue;
      s.checker = null;
      s.checkRun?.abort();
      s.checkPasses = 0;
      s.checkFailures = 0;
      if (!final && s.health === 'down' && s.passiveDownUntil === 0 && !s.retired) this.pool.setHealth(s, 'up', 'active health check removed');
    }
  }

  /** Starts the checks that are due, fails those past the timeout. */
  tick(now: number): void {
    const { interval, timeout } = this.config;
    for (const s of this.pool.servers) {
      if (s.checker !== this) continue;
      const run = s.checkRun;
      if (run !== null) {
        if (!run.settled && now - run.started >= timeout) run.finish('fail', 'timeout');
        continue;
      }
      // First check of a server: spread over one interval, so a thousand servers do not start together.
      if (s.checkDue === 0) s.checkDue = now + Math.floor(Math.random() * interval);
      if (now < s.checkDue) continue;
      // ±5 % jitter keeps servers that happened to line up from staying lined up. Due again one
      // interval after this due time, not after this tick: counted from the tick, every interval
      // grew by the tick's lateness (a 500 ms interval ran every 750 ms). Fallen behind by a whole
      // interval (a check that ran long, a stalled loop): from now, no burst to catch up. Either
      // way it lies ahead, so the queue never holds a server twice.
      const next = s.checkDue + jittered(interval);
      s.checkDue = next > now ? next : now + jittered(interval);
      startQueue.push({ checker: this, server: s });
    }
    if (!draining && startHead < startQueue.length) {
      draining = true;
      setImmediate(drainStarts);
    }
  }

  /** Opens the check connection of `s` now (the start queue calls it). */
  startNow(s: Server, now: number): void {
    const run = new CheckRun(s, now);
    this.#connector.connect(s, null, (err, socket) => {
      if (err !== null || socket === null) return run.connectFailed(err!);
      if (run.attach(socket)) this.#check.probe(run, socket);
    });
  }

  /** A verdict on `s` (from a run this checker or its predecessor started): rise / fall. */
  record(s: Server, r: CheckResult): void {
    s.lastCheck = r;
    if (r.result === 'pass') {
      s.checksPassed++;
      s.checkFailures = 0;
      if (s.health === 'down' && ++s.checkPasses >= this.config.rise) {
        // Whatever took it down (checks or passive failures), the checks bring it back.
        s.passiveFailures = 0;
        s.passiveDownUntil = 0;
        this.pool.setHealth(s, 'up', `${plural(this.config.rise, 'check')} passed: ${r.reason}`);
      }
    } else {
      s.checksFailed++;
      s.checkPasses = 0;
      if (s.health === 'up' && ++s.checkFailures >= this.config.fall) {
        this.pool.setHealth(s, 'down', `${plural(this.config.fall, 'check')} failed, last: ${r.reason}`);
      } else if (s.health === 'up') {
        this.#log.debug({ server: s.address, reason: r.reason, failures: s.checkFailures }, 'health check failed');
      }
    }
  }
}

/** `interval` ±5 %. */
function jittered(interval: number): number {
  return Math.round(interval * (0.95 + Math.random() * 0.1));
}

function plural(n: number, word: string): string {
  return n === 1 ? `1 ${word}` : `${n} ${word}s in a row`;
}

/** A socket error as a short reason. */
export function errnoReason(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
      return 'reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    default:
      return code === undefined ? 'socket error' : `error ${code}`;
  }
}

function connectReason(err: FullproxyError): string {
  if (err.code === 'connect-timeout') return 'connect timeout';
  const cause = (err as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined;
  return cause?.code !== undefined ? errnoReason(cause.code) : err.message;
}
