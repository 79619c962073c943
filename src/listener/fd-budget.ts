// The file-descriptor budget of the process: how many client connections all listeners together
// may hold, so the proxy never runs out of descriptors (issue 17 §2).
//
// Why our own budget: at EMFILE/ENFILE libuv sheds load by itself — it keeps a spare descriptor,
// and when accept() fails it closes that spare, accepts and closes every pending connection, and
// opens it again. JavaScript never sees the error (no 'error' event, nothing to count or log), and
// by then the descriptors are gone for everything else too: server connections fail to open
// (502s), the admin API cannot accept, a reload cannot read its file. So fullproxy stops short of
// the limit, the way HAProxy derives maxconn from ulimit-n:
//
//   budget (client connections) = floor((RLIMIT_NOFILE soft limit − reserve) / 2)
//   reserve = 64 + one per server with an active health check
//
// 2 per client connection: a tcp session holds the client socket and its server socket; an http
// client connection holds at most one server connection at a time. The reserve covers Node's own
// descriptors (≈ 25: epoll, eventfds, pipes, stdio), the listening sockets, the admin API and its
// clients, health checks in flight, certificate and config reads on a reload, DNS. Idle
// kept-alive server connections of http pools (connectionPool.maxIdlePerServer × servers) are
// not in the formula: with many servers and a low limit, raise the limit.
//
// Node offers no way to stop accepting on a listening socket short of closing it (which would lose
// the queued connections and the port), so over the budget a connection is accepted and reset at
// once — what libuv does at EMFILE, but before the limit, counted (`acceptErrors`), and logged once
// per burst. The listener resumes by itself: the next connection after one has closed is admitted.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { DEFAULTS } from '../config/defaults.ts';

/** Descriptors kept back whatever the config (see above). */
export const BASE_RESERVE = 64;
/** Refusals less than this apart belong to one burst: one log line for the lot. */
export const BURST_GAP_MS = 1_000;

/** The soft RLIMIT_NOFILE of this process (Linux /proc); null when unknown or unlimited. */
export function readNofileLimit(path = '/proc/self/limits'): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Descriptors a config keeps back from client connections. */
export function reserveFor(config: Config): number {
  let checked = 0;
  for (const p of config.pools) if (p.healthCheck !== undefined) checked += p.servers.length;
  return BASE_RESERVE + checked;
}

export class FdBudget {
  /** The soft limit it was computed from; null: unknown (no budget). */
  readonly limit: number | null;
  /** Client connections all listeners may hold together (Infinity without a known limit). */
  max = Infinity;
  /** Client connections open now, every listener. */
  open = 0;
  /** Connections refused for the budget (all listeners; each listener counts its own too). */
  refused = 0;
  readonly #log: Logger;
  #lastRefusal = -Infinity;
  #warned = '';
  #burst = 0;

  constructor(log: Logger, limit: number | null = readNofileLimit()) {
    this.limit = limit;
    this.#log = log;
  }

  /** (Re)computes the budget for `config` (start and every reload); warns when it is below what the listeners allow. */
  configure(config: Config): void {
    if (this.limit === null) return;
    const reserve = reserveFor(config);
    // At least a few connections, so a tiny limit degrades instead of refusing everyone.
    this.max = Math.max(8, Math.floor((this.limit - reserve) / 2));
    let allowed = 0;
    for (const l of config.listeners) allowed += l.limits.maxConnections;
    // Said at start, and again only when a reload changes the figures.
    const figures = `${this.max} ${allowed}`;
    if (allowed > this.max && figures !== this.#warned) {
      this.#warned = figures;
      // A warning when a listener's limit was chosen (it cannot be honoured); with the defaults
      // (10,000 per listener) it is the ordinary case on a machine with a small ulimit, and the
      // budget is simply the limit, as HAProxy derives its maxconn from ulimit -n: said at info.
      const chosen = config.listeners.some((l) => l.limits.maxConnections !== DEFAULTS.listener.limits.maxConnections);
      (chosen ? this.#log.warn : this.#log.info).call(
        this.#log,
        { nofile: this.limit, reserve, clientConnections: this.max, listenersMaxConnections: allowed },
        'the file descriptor limit (ulimit -n) allows fewer client connections than the listeners\' limits.maxConnections; connections beyond it are refused and counted as accept errors',
      );
    }
  }

  /** Room for one more client connection? */
  get full(): boolean {
    return this.open >= this.max;
  }

  /** A connection was refused for the budget: logged only when it starts a burst. */
  refuse(listener: string, now: number): void {
    this.refused++;
    if (now - this.#lastRefusal >= BURST_GAP_MS) {
      this.#burst++;
      this.#log.warn(
        { listener, nofile: this.limit, clientConnections: this.max, open: this.open, burst: this.#burst },
        'out of file descriptors for client connections: new connections are reset until some close (logged once per burst)',
      );
    }
    this.#lastRefusal = now;
  }
}
