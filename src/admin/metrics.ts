// Prometheus metrics: every metric is declared here and read from the live counters of
// listeners, servers and the session table on scrape (the data path only bumps plain numbers and
// LatencyHistogram buckets; DESIGN §2.5). The text format (0.0.4) is written here too: prom-client
// cost 15 MB of RSS at import for a serializer (measured: `import 'pino'` 50.7 MB, with
// 'prom-client' 65.2 MB; issue 18 §11), and its observe() hashes a label set per call.
// Names: fullproxy_<scope>_<cx|rq|bytes|...>_<what>[_total] (DESIGN §2.10); docs/metrics.md lists
// them all, test/repo-rules.test.ts and test/e2e/metrics/ keep the two in step, and
// `promtool check metrics` runs on a live scrape (test/e2e/metrics/metrics.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import type { AdminView as Proxy } from './view.ts';
import { VERSION } from '../version.ts';
import type { Pool } from '../pool/pool.ts';
import type { ListenerView } from './view.ts';
import type { Server } from '../pool/server.ts';
import type { RequestStats } from '../http/request-stats.ts';
import { STATUS_CLASSES } from '../http/request-stats.ts';
import { LATENCY_BUCKETS, type LatencyHistogram } from '../util/latency-histogram.ts';

/** Where a metric's reader puts its samples: label values in the order of MetricDef.labels. */
export interface Sink {
  value(labels: readonly string[], v: number): void;
  histogram(labels: readonly string[], h: LatencyHistogram): void;
}

/** What one scrape reads once and every metric shares: one pass over the session table. */
interface Scrape {
  readonly proxy: Proxy;
  /** Per listener name: open sessions and the bytes their client sockets moved so far. */
  readonly live: Map<string, { active: number; bytesIn: number; bytesOut: number }>;
  /** Per pool name: client connections whose session is on the pool (http: its last request's). */
  readonly poolClients: Map<string, number>;
}

type Reader = (s: Scrape, out: Sink) => void;

export interface MetricDef {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  read: Reader;
}

const L = ['listener'] as const;
const S = ['pool', 'server'] as const;

function perListener(pick: (s: Scrape, l: ListenerView) => number): Reader {
  return (s, out) => {
    for (const l of s.proxy.listenerViews()) out.value([l.name], pick(s, l));
  };
}

function perServer(pick: (s: Scrape, server: Server, pool: Pool) => number): Reader {
  return (s, out) => {
    for (const pool of s.proxy.poolList()) for (const server of pool.servers) out.value([pool.name, server.address], pick(s, server, pool));
  };
}

function perPool(pick: (s: Scrape, pool: Pool) => number): Reader {
  return (s, out) => {
    for (const pool of s.proxy.poolList()) out.value([pool.name], pick(s, pool));
  };
}

/** http listeners only: their RequestStats by status class, or one of their histograms. */
function listenerRequests(read: (st: RequestStats, labels: readonly string[], out: Sink) => void): Reader {
  return (s, out) => {
    for (const l of s.proxy.listenerViews()) if (l.protocol === 'http') read(l.counters.requestStats, [l.name], out);
  };
}

/** Servers of pools that http listeners use (they have a connection set); tcp-only pools have no requests. */
function serverRequests(read: (st: RequestStats, labels: readonly string[], out: Sink) => void): Reader {
  return (s, out) => {
    for (const pool of s.proxy.poolList()) for (const server of pool.servers) if (s.proxy.upstreamOf(server) !== undefined) read(server.requestStats, [pool.name, server.address], out);
  };
}

function byClass(st: RequestStats, labels: readonly string[], out: Sink): void {
  for (let i = 0; i < STATUS_CLASSES.length; i++) out.value([...labels, STATUS_CLASSES[i]!], st.byClass[i]!);
}

/** Server connections open toward the pool's servers, every mode (connector.ts counts the sockets). */
function serverConnections(pool: Pool): number {
  let n = 0;
  for (const server of pool.servers) n += server.openSockets;
  return n;
}

const PROCESS_START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());
const BUILD = [VERSION, process.version] as const;

/** Open file descriptors (Linux: /proc/self/fd, less the one readdir holds); null elsewhere. */
function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

/** The soft RLIMIT_NOFILE (Linux: /proc/self/limits); null elsewhere or when unlimited. */
function maxFds(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

export const METRICS: readonly MetricDef[] = [
  // ---- process ----
  { name: 'fullproxy_build_info', help: 'Always 1; the labels say which fullproxy and which Node run', type: 'gauge', labels: ['version', 'node'], read: (_s, out) => out.value(BUILD, 1) },
  { name: 'fullproxy_process_start_time_seconds', help: 'Unix time the process started', type: 'gauge', labels: [], read: (_s, out) => out.value([], PROCESS_START_SECONDS) },
  {
    name: 'fullproxy_process_cpu_seconds_total',
    help: 'CPU time used by the process (user + system)',
    type: 'counter',
    labels: [],
    read: (_s, out) => {
      const u = process.cpuUsage();
      out.value([], (u.user + u.system) / 1e6);
    },
  },
  { name: 'fullproxy_process_resident_memory_bytes', help: 'Resident set size', type: 'gauge', labels: [], read: (_s, out) => out.value([], process.memoryUsage.rss()) },
  { name: 'fullproxy_process_heap_used_bytes', help: 'V8 heap in use', type: 'gauge', labels: [], read: (_s, out) => out.value([], process.memoryUsage().heapUsed) },
  {
    name: 'fullproxy_process_open_fds',
    help: 'Open file descriptors (each session holds two sockets)',
    type: 'gauge',
    labels: [],
    read: (_s, out) => {
      const n = openFds();
      if (n !== null) out.value([], n);
    },
  },
  {
    name: 'fullproxy_process_max_fds',
    help: 'Soft limit on open file descriptors (ulimit -n)',
    type: 'gauge',
    labels: [],
    read: (_s, out) => {
      const n = maxFds();
      if (n !== null) out.value([], n);
    },
  },
  { name: 'fullproxy_event_loop_lag_seconds', help: 'Event loop delay (mean over the last interval)', type: 'gauge', labels: [], read: (s, out) => out.value([], s.proxy.eventLoopLagMs() / 1000) },
  { name: 'fullproxy_sessions_active', help: 'Sessions in the session table', type: 'gauge', labels: [], read: (s, out) => out.value([], s.proxy.sessions.size) },
  // ---- config ----
  { name: 'fullproxy_config_generation', help: 'Config generation running (1 at start, +1 per applied reload)', type: 'gauge', labels: [], read: (s, out) => out.value([], s.proxy.generation) },
  { name: 'fullproxy_config_reload_failures_total', help: 'Reloads refused (invalid file, unbindable address); the running config stayed', type: 'counter', labels: [], read: (s, out) => out.value([], s.proxy.reloadFailures) },
  {
    name: 'fullproxy_config_last_reload_success',
    help: '1 when the last reload applied, 0 when it failed (1 before any reload)',
    type: 'gauge',
    labels: [],
    read: (s, out) => out.value([], s.proxy.lastReload === null || s.proxy.lastReload.ok ? 1 : 0),
  },
  // ---- listeners ----
  { name: 'fullproxy_listener_cx_active', help: 'Client connections (sessions) open on the listener', type: 'gauge', labels: L, read: perListener((s, l) => s.live.get(l.name)?.active ?? 0) },
  { name: 'fullproxy_listener_cx_total', help: 'Client connections accepted', type: 'counter', labels: L, read: perListener((_s, l) => l.counters.sessionsTotal) },
  { name: 'fullproxy_listener_rq_total', help: 'HTTP requests finished, by status class sent to the client (code: 1xx..5xx, other: none sent)', type: 'counter', labels: ['listener', 'code'], read: listenerRequests(byClass) },
  {
    name: 'fullproxy_listener_rq_duration_seconds',
    help: 'HTTP request time: from the request head parsed to the response fully written',
    type: 'histogram',
    labels: L,
    read: listenerRequests((st, labels, out) => out.histogram(labels, st.total)),
  },
  {
    name: 'fullproxy_listener_rq_ttfb_seconds',
    help: 'Server time to first byte: from the request head sent to the server to its response head',
    type: 'histogram',
    labels: L,
    read: listenerRequests((st, labels, out) => out.histogram(labels, st.firstByte)),
  },
  { name: 'fullproxy_listener_bytes_in_total', help: 'Bytes received from clients (open sessions included)', type: 'counter', labels: L, read: perListener((s, l) => l.counters.bytesIn + (s.live.get(l.name)?.bytesIn ?? 0)) },
  { name: 'fullproxy_listener_bytes_out_total', help: 'Bytes sent to clients (open sessions included)', type: 'counter', labels: L, read: perListener((s, l) => l.counters.bytesOut + (s.live.get(l.name)?.bytesOut ?? 0)) },
  { name: 'fullproxy_listener_idle_resets_total', help: 'Sessions reset by the idle timeout', type: 'counter', labels: L, read: perListener((s, l) => s.proxy.sessions.idleResets.get(l.name) ?? 0) },
  { name: 'fullproxy_listener_proxy_header_errors_total', help: 'Inbound PROXY headers rejected', type: 'counter', labels: L, read: perListener((_s, l) => l.counters.proxyHeaderErrors) },
  { name: 'fullproxy_listener_tls_handshake_errors_total', help: 'TLS handshakes failed', type: 'counter', labels: L, read: perListener((_s, l) => l.counters.tlsHandshakeErrors) },
  {
    name: 'fullproxy_listener_tls_certificate_expiry_seconds',
    help: 'Unix time when the served certificate expires (alert on it minus time())',
    type: 'gauge',
    labels: ['listener', 'certificate', 'subject'],
    read: (s, out) => {
      for (const l of s.proxy.listenerViews()) for (const c of l.certificates) out.value([l.name, c.file, c.subject], Math.floor(c.notAfter / 1000));
    },
  },
  { name: 'fullproxy_listener_cx_rejected_acl_total', help: 'Connections closed by an ACL deny', type: 'counter', labels: L, read: perListener((_s, l) => l.counters.rejectedAcl) },
  { name: 'fullproxy_listener_cx_rejected_limits_total', help: 'Connections closed over a limit', type: 'counter', labels: L, read: perListener((_s, l) => l.counters.rejectedLimits) },
  { name: 'fullproxy_listener_accept_errors_total', help: 'Accept errors (EMFILE, ENFILE, ...)', type: 'counter', labels: L, read: perListener((_s, l) => l.counters.acceptErrors) },
  // ---- pools ----
  { name: 'fullproxy_pool_client_cx_active', help: 'Client connections whose session is on the pool (http: its last request went there)', type: 'gauge', labels: ['pool'], read: perPool((s, p) => s.poolClients.get(p.name) ?? 0) },
  { name: 'fullproxy_pool_server_cx_open', help: 'Server connections open toward the pool (sessions, pooled http connections, checks)', type: 'gauge', labels: ['pool'], read: perPool((_s, p) => serverConnections(p)) },
  { name: 'fullproxy_pool_queued', help: 'tcp sessions waiting in the pool queue for a server below maxConnections', type: 'gauge', labels: ['pool'], read: perPool((_s, p) => p.queue.length) },
  { name: 'fullproxy_pool_queue_timeouts_total', help: 'tcp sessions closed after waiting timeouts.queue in the pool queue', type: 'counter', labels: ['pool'], read: perPool((_s, p) => p.queue.timeouts) },
  {
    name: 'fullproxy_pool_client_server_cx_ratio',
    help: 'Client connections per server connection (http multiplexing; 0 without server connections)',
    type: 'gauge',
    labels: ['pool'],
    read: perPool((s, p) => {
      const servers = serverConnections(p);
      return servers === 0 ? 0 : (s.poolClients.get(p.name) ?? 0) / servers;
    }),
  },
  // ---- servers ----
  { name: 'fullproxy_server_up', help: '1 when the server is up (health), 0 when down', type: 'gauge', labels: S, read: perServer((_s, server) => (server.health === 'up' ? 1 : 0)) },
  {
    name: 'fullproxy_server_health_checks_total',
    help: 'Active health checks of the server by verdict (result: pass | fail)',
    type: 'counter',
    labels: ['pool', 'server', 'result'],
    read: (s, out) => {
      for (const pool of s.proxy.poolList()) {
        if (pool.config.healthCheck === undefined) continue;
        for (const server of pool.servers) {
          out.value([pool.name, server.address, 'pass'], server.checksPassed);
          out.value([pool.name, server.address, 'fail'], server.checksFailed);
        }
      }
    },
  },
  { name: 'fullproxy_server_drain', help: '1 when the server is in admin drain', type: 'gauge', labels: S, read: perServer((_s, server) => (server.admin === 'drain' ? 1 : 0)) },
  { name: 'fullproxy_server_weight', help: 'Effective weight of the server: its configured weight, lower while it ramps up after slow start', type: 'gauge', labels: S, read: perServer((_s, server) => server.weight) },
  { name: 'fullproxy_server_cx_active', help: 'Sessions (tcp) or in-flight requests (http) on the server', type: 'gauge', labels: S, read: perServer((_s, server) => server.active) },
  { name: 'fullproxy_server_cx_total', help: 'Sessions (tcp) and tunnels (http upgrade) established to the server', type: 'counter', labels: S, read: perServer((_s, server) => server.sessionsTotal) },
  { name: 'fullproxy_server_rq_total', help: 'HTTP requests finished on the server, by status class sent to the client (code: 1xx..5xx, other: none sent)', type: 'counter', labels: ['pool', 'server', 'code'], read: serverRequests(byClass) },
  {
    name: 'fullproxy_server_rq_duration_seconds',
    help: 'HTTP request time of requests sent to the server: from the request head parsed to the response fully written',
    type: 'histogram',
    labels: S,
    read: serverRequests((st, labels, out) => out.histogram(labels, st.total)),
  },
  {
    name: 'fullproxy_server_rq_ttfb_seconds',
    help: 'Server time to first byte: from the request head sent to the server to its response head',
    type: 'histogram',
    labels: S,
    read: serverRequests((st, labels, out) => out.histogram(labels, st.firstByte)),
  },
  {
    name: 'fullproxy_server_connect_errors_total',
    help: 'Failed connection attempts to the server, by reason (connect-failed | connect-timeout)',
    type: 'counter',
    labels: ['pool', 'server', 'reason'],
    read: (s, out) => {
      for (const pool of s.proxy.poolList()) {
        for (const server of pool.servers) {
          out.value([pool.name, server.address, 'connect-failed'], server.connectErrors - server.connectTimeouts);
          out.value([pool.name, server.address, 'connect-timeout'], server.connectTimeouts);
        }
      }
    },
  },
  { name: 'fullproxy_server_retries_total', help: 'Attempts that failed on the server and were tried again', type: 'counter', labels: S, read: perServer((_s, server) => server.retries) },
  { name: 'fullproxy_server_rq_queued', help: 'Requests waiting for a server connection', type: 'gauge', labels: S, read: perServer((s, server) => s.proxy.upstreamOf(server)?.queued ?? 0) },
  { name: 'fullproxy_server_rq_queue_timeouts_total', help: 'Requests answered 503 after waiting for a server connection (queue timeout or full)', type: 'counter', labels: S, read: perServer((_s, server) => server.queueTimeouts) },
  { name: 'fullproxy_server_pool_cx_open', help: 'Open kept-alive server connections (http)', type: 'gauge', labels: S, read: perServer((s, server) => s.proxy.upstreamOf(server)?.openConnections ?? 0) },
  { name: 'fullproxy_server_pool_cx_idle', help: 'Idle kept-alive server connections (http)', type: 'gauge', labels: S, read: perServer((s, server) => s.proxy.upstreamOf(server)?.idleConnections ?? 0) },
  { name: 'fullproxy_server_pool_cx_opened_total', help: 'Server connections opened by the http pool', type: 'counter', labels: S, read: perServer((s, server) => s.proxy.upstreamOf(server)?.opened ?? 0) },
  { name: 'fullproxy_server_source_ports_in_use', help: 'Source ports held toward the server', type: 'gauge', labels: S, read: perServer((s, server, pool) => s.proxy.sourcePortsOf(pool, server).inUse) },
  { name: 'fullproxy_server_source_ports_free', help: 'Source ports still free toward the server', type: 'gauge', labels: S, read: perServer((s, server, pool) => s.proxy.sourcePortsOf(pool, server).free) },
  { name: 'fullproxy_server_source_ports_exhausted_total', help: 'Server connections refused for lack of a source port', type: 'counter', labels: S, read: perServer((s, server, pool) => s.proxy.sourcePortsOf(pool, server).exhausted) },
];

/** One pass over the session table for what several metrics need (a scrape, not the data path). */
function scrapeOf(proxy: Proxy): Scrape {
  const live = new Map<string, { active: number; bytesIn: number; bytesOut: number }>();
  const poolClients = new Map<string, number>();
  // count() visits every session once; the predicate does the summing.
  proxy.sessions.count((session) => {
    let l = live.get(session.listener);
    if (l === undefined) live.set(session.listener, (l = { active: 0, bytesIn: 0, bytesOut: 0 }));
    l.active++;
    l.bytesIn += session.bytesIn;
    l.bytesOut += session.bytesOut;
    if (session.pool !== null) poolClients.set(session.pool, (poolClients.get(session.pool) ?? 0) + 1);
    return true;
  });
  return { proxy, live, poolClients };
}

/** A label value in the text format: backslash, double quote and line feed escaped. */
function labelValue(v: string): string {
  return NEEDS_ESCAPE.test(v) ? v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`)) : v;
}
const NEEDS_ESCAPE = /[\\"\n]/;

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const LE = [...LATENCY_BUCKETS.map(number), '+Inf'];

/** Writes one metric's samples as text lines. */
class TextSink implements Sink {
  readonly lines: string[];
  readonly #def: MetricDef;

  constructor(def: MetricDef, lines: string[]) {
    this.#def = def;
    this.lines = lines;
  }

  /** `a="x",b="y"`: the label pairs without braces. */
  #pairs(values: readonly string[]): string {
    const names = this.#def.labels;
    let s = '';
    for (let i = 0; i < names.length; i++) s += `${i === 0 ? '' : ','}${names[i]}="${labelValue(values[i] ?? '')}"`;
    return s;
  }

  value(labels: readonly string[], v: number): void {
    const pairs = this.#pairs(labels);
    this.lines.push(`${this.#def.name}${pairs === '' ? '' : `{${pairs}}`} ${number(v)}`);
  }

  /** The label pairs are rendered once for the series' 19 lines (1,000 servers: 38,000 lines a scrape). */
  histogram(labels: readonly string[], h: LatencyHistogram): void {
    const name = this.#def.name;
    const pairs = this.#pairs(labels);
    const bucket = `${name}_bucket{${pairs === '' ? '' : `${pairs},`}le="`;
    let cumulative = 0;
    for (let i = 0; i < h.counts.length; i++) {
      cumulative += h.counts[i]!;
      this.lines.push(`${bucket}${LE[i]}"} ${cumulative}`);
    }
    const l = pairs === '' ? '' : `{${pairs}}`;
    this.lines.push(`${name}_sum${l} ${number(h.sum)}`, `${name}_count${l} ${cumulative}`);
  }
}

const YIELD_LINES = 5_000;

/** GET /metrics: the text exposition of every metric, read from the running proxy at call time. */
export class MetricsRegistry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  readonly #proxy: Proxy;

  constructor(proxy: Proxy) {
    this.#proxy = proxy;
  }

  /**
   * Renders every metric. With many servers a scrape is large (1,000 servers: 60,000 lines, 5 MB,
   * 30–150 ms of rendering on the bench machine), so it yields to the event loop between metric
   * families every YIELD_LINES lines: the data path waits for one family at a time, not for the
   * whole scrape. Families rendered after a yield may read slightly newer counters (Prometheus
   * takes a scrape as one instant anyway).
   */
  async metrics(): Promise<string> {
    const scrape = scrapeOf(this.#proxy);
    // Each family is joined on its own (joining 60,000 short strings at once stalled ~10 ms).
    const families: string[] = [];
    let sinceYield = 0;
    for (const def of METRICS) {
      const lines = [`# HELP ${def.name} ${def.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${def.name} ${def.type}`];
      def.read(scrape, new TextSink(def, lines));
      families.push(lines.join('\n'));
      sinceYield += lines.length;
      if (sinceYield >= YIELD_LINES) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return families.join('\n') + '\n';
  }
}

export function createMetricsRegistry(proxy: Proxy): MetricsRegistry {
  return new MetricsRegistry(proxy);
}
