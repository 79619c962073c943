// Prometheus metrics: every metric is declared here and read from the live counters of
// listeners, servers and the session table on scrape (the data path only bumps plain numbers).
// Names: fullproxy_<scope>_<cx|rq|bytes|...>_<what>[_total] (DESIGN §2.10); docs/metrics.md
// lists them all and a test keeps the two in step.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdminView as Proxy } from './view.ts';
import type { Pool } from '../pool/pool.ts';
import type { ListenerView } from './view.ts';
import type { Server } from '../pool/server.ts';

type Reader = (proxy: Proxy, set: (labels: Record<string, string>, value: number) => void) => void;

interface MetricDef {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels: readonly string[];
  read: Reader;
}

const listenerLabels = ['listener'] as const;
const serverLabels = ['pool', 'server'] as const;

function perListener(pick: (p: Proxy, l: ListenerView) => number): Reader {
  return (p, set) => {
    for (const l of p.listenerViews()) set({ listener: l.name }, pick(p, l));
  };
}

function perServer(pick: (p: Proxy, s: Server, pool: Pool) => number): Reader {
  return (p, set) => {
    for (const pool of p.poolList()) for (const s of pool.servers) set({ pool: pool.name, server: s.address }, pick(p, s, pool));
  };
}


export const METRICS: readonly MetricDef[] = [
  { name: 'fullproxy_sessions_active', help: 'Sessions in the session table', type: 'gauge', labels: [], read: (p, set) => set({}, p.sessions.size) },
  { name: 'fullproxy_listener_cx_active', help: 'Client connections (sessions) open on the listener', type: 'gauge', labels: listenerLabels, read: perListener((p, l) => p.sessions.countFor(l.name)) },
  { name: 'fullproxy_listener_cx_total', help: 'Client connections accepted', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.sessionsTotal) },
  { name: 'fullproxy_listener_rq_total', help: 'HTTP requests answered', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.requestsTotal) },
  { name: 'fullproxy_listener_bytes_in_total', help: 'Bytes received from clients (ended sessions)', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.bytesIn) },
  { name: 'fullproxy_listener_bytes_out_total', help: 'Bytes sent to clients (ended sessions)', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.bytesOut) },
  { name: 'fullproxy_listener_idle_resets_total', help: 'Sessions reset by the idle timeout', type: 'counter', labels: listenerLabels, read: perListener((p, l) => p.sessions.idleResets.get(l.name) ?? 0) },
  { name: 'fullproxy_listener_proxy_header_errors_total', help: 'Inbound PROXY headers rejected', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.proxyHeaderErrors) },
  { name: 'fullproxy_listener_tls_handshake_errors_total', help: 'TLS handshakes failed', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.tlsHandshakeErrors) },
  {
    name: 'fullproxy_listener_tls_certificate_expiry_seconds',
    help: 'Unix time when the served certificate expires (alert on it minus time())',
    type: 'gauge',
    labels: ['listener', 'certificate', 'subject'],
    read: (p, set) => {
      for (const l of p.listenerViews()) for (const c of l.certificates) set({ listener: l.name, certificate: c.file, subject: c.subject }, Math.floor(c.notAfter / 1000));
    },
  },
  { name: 'fullproxy_listener_cx_rejected_acl_total', help: 'Connections closed by an ACL deny', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.rejectedAcl) },
  { name: 'fullproxy_listener_cx_rejected_limits_total', help: 'Connections closed over a limit', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.rejectedLimits) },
  { name: 'fullproxy_listener_accept_errors_total', help: 'Accept errors (EMFILE, ENFILE, ...)', type: 'counter', labels: listenerLabels, read: perListener((_p, l) => l.counters.acceptErrors) },
  { name: 'fullproxy_server_up', help: '1 when the server is up (health), 0 when down', type: 'gauge', labels: serverLabels, read: perServer((_p, s) => (s.health === 'up' ? 1 : 0)) },
  {
    name: 'fullproxy_server_health_checks_total',
    help: 'Active health checks of the server by verdict (result: pass | fail)',
    type: 'counter',
    labels: ['pool', 'server', 'result'],
    read: (p, set) => {
      for (const pool of p.poolList()) {
        if (pool.config.healthCheck === undefined) continue;
        for (const s of pool.servers) {
          set({ pool: pool.name, server: s.address, result: 'pass' }, s.checksPassed);
          set({ pool: pool.name, server: s.address, result: 'fail' }, s.checksFailed);
        }
      }
    },
  },
  { name: 'fullproxy_server_drain', help: '1 when the server is in admin drain', type: 'gauge', labels: serverLabels, read: perServer((_p, s) => (s.admin === 'drain' ? 1 : 0)) },
  { name: 'fullproxy_server_cx_active', help: 'Sessions (tcp) or in-flight requests (http) on the server', type: 'gauge', labels: serverLabels, read: perServer((_p, s) => s.active) },
  { name: 'fullproxy_server_cx_total', help: 'Sessions (tcp) and tunnels (http upgrade) established to the server', type: 'counter', labels: serverLabels, read: perServer((_p, s) => s.sessionsTotal) },
  { name: 'fullproxy_server_rq_total', help: 'HTTP requests answered by the server', type: 'counter', labels: serverLabels, read: perServer((_p, s) => s.requestsTotal) },
  { name: 'fullproxy_server_connect_errors_total', help: 'Failed connection attempts to the server', type: 'counter', labels: serverLabels, read: perServer((_p, s) => s.connectErrors) },
  { name: 'fullproxy_server_pool_cx_open', help: 'Open kept-alive server connections (http)', type: 'gauge', labels: serverLabels, read: perServer((p, s) => p.upstreamOf(s)?.openConnections ?? 0) },
  { name: 'fullproxy_server_pool_cx_idle', help: 'Idle kept-alive server connections (http)', type: 'gauge', labels: serverLabels, read: perServer((p, s) => p.upstreamOf(s)?.idleConnections ?? 0) },
  { name: 'fullproxy_server_pool_cx_opened_total', help: 'Server connections opened by the http pool', type: 'counter', labels: serverLabels, read: perServer((p, s) => p.upstreamOf(s)?.opened ?? 0) },
  { name: 'fullproxy_server_rq_queued', help: 'Requests waiting for a server connection', type: 'gauge', labels: serverLabels, read: perServer((p, s) => p.upstreamOf(s)?.queued ?? 0) },
  { name: 'fullproxy_server_source_ports_in_use', help: 'Source ports held toward the server', type: 'gauge', labels: serverLabels, read: perServer((p, s, pool) => p.sourcePortsOf(pool, s).inUse) },
  { name: 'fullproxy_server_source_ports_free', help: 'Source ports still free toward the server', type: 'gauge', labels: serverLabels, read: perServer((p, s, pool) => p.sourcePortsOf(pool, s).free) },
  { name: 'fullproxy_server_source_ports_exhausted_total', help: 'Server connections refused for lack of a source port', type: 'counter', labels: serverLabels, read: perServer((p, s, pool) => p.sourcePortsOf(pool, s).exhausted) },
  { name: 'fullproxy_config_generation', help: 'Config generation running (1 at start, +1 per applied reload)', type: 'gauge', labels: [], read: (p, set) => set({}, p.generation) },
  { name: 'fullproxy_config_reload_failures_total', help: 'Reloads refused (invalid file, unbindable address); the running config stayed', type: 'counter', labels: [], read: (p, set) => set({}, p.reloadFailures) },
  { name: 'fullproxy_config_last_reload_success', help: '1 when the last reload applied, 0 when it failed (1 before any reload)', type: 'gauge', labels: [], read: (p, set) => set({}, p.lastReload === null || p.lastReload.ok ? 1 : 0) },
  { name: 'fullproxy_event_loop_lag_seconds', help: 'Event loop delay (mean over the last interval)', type: 'gauge', labels: [], read: (p, set) => set({}, p.eventLoopLagMs() / 1000) },
];

export function createMetricsRegistry(proxy: Proxy): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fullproxy_process_' });
  for (const def of METRICS) {
    const labelNames = [...def.labels];
    if (def.type === 'gauge') {
      new Gauge({
        name: def.name,
        help: def.help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          def.read(proxy, (labels, v) => this.set(labels, v));
        },
      });
    } else {
      new Counter({
        name: def.name,
        help: def.help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          def.read(proxy, (labels, v) => this.inc(labels, v));
        },
      });
    }
  }
  return registry;
}
