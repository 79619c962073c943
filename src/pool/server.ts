// One real server: address, weight, limits, operational (health) and admin state, live counters.
// Counters are plain numbers read by the admin/metrics layer on scrape (undici stats.js).
//
// A Server outlives a config: a reload that keeps the server (same pool name and address) hands
// the same object to the new generation's pool (generation.ts), so health, admin drain, passive
// failures and counters carry over by construction (HAProxy's server-state file, without a file).
// Only the configured values are replaced (`configure`); a server the new config drops is
// `retired`: it gets no new picks, and what runs on it finishes there.
import type { ServerConfig } from '../config/schema.ts';
import type { Schedulable } from '../scheduler/scheduler.ts';
import { parseHostPort, type Endpoint } from '../net/address.ts';
import type { CheckResult, CheckRun, HealthChecker } from '../health/health-checker.ts';
import { RequestStats } from '../http/request-stats.ts';

export type Health = 'up' | 'down';
export type AdminState = 'enabled' | 'drain';

export class Server implements Schedulable {
  /** Position in the configured list of the pool's current generation (hash tables use it). */
  index: number;
  readonly address: string;
  readonly endpoint: Endpoint;
  configuredWeight: number;
  maxConnections: number;
  backup: boolean;
  /** Effective weight: configuredWeight × slowStartFraction (what the schedulers see). */
  weight: number;
  /** Slow start (pool/slow-start.ts): share of the configured weight in force now, 1 = full. */
  slowStartFraction = 1;
  /** When the running slow start began and how long it lasts (ms); 0/0 = not warming. */
  slowStartSince = 0;
  slowStartMs = 0;
  /** Dropped by a reload: no new sessions or requests; established ones finish on it. */
  retired = false;
  /** The pool of the newest generation that holds this server: a health or admin change made
   *  through an older generation's pool (a request still running there) must reach its picks too. */
  home: { rebuild(): void } | null = null;
  /** That pool's queue of tcp sessions (pool/queue.ts): woken when this server frees a connection. */
  queue: { wake(): void } | null = null;
  health: Health = 'up';
  admin: AdminState = 'enabled';
  /** Why health is what it is (last check or passive failure), for the admin API. */
  healthReason = 'initial';
  /** Since when `health` holds (ms epoch). */
  healthSince = Date.now();
  /** The last active check (health/health-checker.ts); null before the first one. Kept across reloads. */
  lastCheck: CheckResult | null = null;
  /** Consecutive active-check passes while down (toward `rise`) and failures while up (toward `fall`). */
  checkPasses = 0;
  checkFailures = 0;
  checksPassed = 0;
  checksFailed = 0;
  /** The check running now, whichever generation's checker started it: a reload never starts a second one. */
  checkRun: CheckRun | null = null;
  /** The checker that checks this server now (the newest generation's), null without active checks. */
  checker: HealthChecker | null = null;
  /** When its next check is due (ms epoch); 0 = at the checker's first tick, spread over one interval. */
  checkDue = 0;
  /** Sessions (tcp) or in-flight requests (http) on this server now: what lc/wlc/p2c compare. */
  active = 0;
  /** Server connections owned by one session each (tcp sessions, http upgrade tunnels): what
   *  maxConnections bounds at pick time. Pooled http connections are bounded by http-upstream's
   *  queue instead, so a busy http server makes requests wait rather than be refused. */
  held = 0;
  sessionsTotal = 0;
  requestsTotal = 0;
  connectErrors = 0;
  /** Of connectErrors, those that timed out (the rest were refused, reset, unreachable or a failed TLS handshake). */
  connectTimeouts = 0;
  /** Attempts that failed on this server and were tried again (another server, or a fresh connection: SPEC "Retries"). */
  retries = 0;
  /** http requests that got 503 waiting for a connection to this server (queue timeout or queue full). */
  queueTimeouts = 0;
  /** http: requests by status class and their latency histograms (http/request-stats.ts). */
  readonly requestStats = new RequestStats();
  /** Consecutive failures seen on live traffic (health/passive.ts). */
  passiveFailures = 0;
  /** When a passive "down" ends and the server gets traffic again (ms epoch; 0 = not down passively). */
  passiveDownUntil = 0;
  /** Requests waiting for a connection slot (http, maxConnections reached). */
  queued = 0;
  /** Pooled idle server connections (http), filled in by http-upstream. */
  idleConnections = 0;
  /** Server-side sockets open now, every mode (connector.ts counts them): source ports held. */
  openSockets = 0;
  /** 'close' listener for those sockets: one function per server, not a closure per socket. */
  readonly socketClosed = (): void => {
    this.openSockets--;
  };

  constructor(index: number, cfg: ServerConfig) {
    this.address = cfg.address;
    const ep = parseHostPort(cfg.address);
    if (ep === null) throw new Error(`invalid server address ${cfg.address}`); // validated earlier
    this.endpoint = ep;
    this.index = index;
    this.configuredWeight = cfg.weight;
    this.weight = cfg.weight;
    this.maxConnections = cfg.maxConnections;
    this.backup = cfg.backup;
  }

  /** A reload kept this server: its configured values now come from the new config (new picks see them). */
  configure(index: number, cfg: ServerConfig): void {
    this.index = index;
    this.configuredWeight = cfg.weight;
    this.weight = cfg.weight * this.slowStartFraction; // a ramp under way goes on with the new weight
    this.maxConnections = cfg.maxConnections;
    this.backup = cfg.backup;
    this.retired = false;
  }

  hasCapacity(): boolean {
    return this.maxConnections === 0 || this.held < this.maxConnections;
  }

  /** A session takes one of the server's connections (counted from the pick, so lc/wlc and
   *  maxConnections see it while it is still connecting). */
  holdConnection(): void {
    this.active++;
    this.held++;
  }

  releaseConnection(): void {
    this.active--;
    this.held--;
    this.queue?.wake();
  }

  /** Eligible for new sessions: up, enabled, weight > 0 (capacity is checked per pick). */
  get eligible(): boolean {
    return this.health === 'up' && this.admin === 'enabled' && this.weight > 0 && !this.retired;
  }
}
