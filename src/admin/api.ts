// /healthz and /api/v1/* handlers: read the running proxy through its AdminView (view.ts) and
// shape it as SPEC "Admin API" says (keys of /api/v1/stats are binding).
import type { AdminView as Proxy } from './view.ts';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { Session } from '../session/session.ts';
import type { AdminAnswer } from './acl-api.ts';
import { parseSessionQuery, SCAN_BUDGET } from './session-query.ts';

/** GET /api/v1/acl, POST /api/v1/acl/deny, DELETE /api/v1/acl/deny/:source (runtime denies). */
export { aclRoute } from './acl-api.ts';

export function stats(proxy: Proxy): Record<string, unknown> {
  const listeners: Record<string, unknown> = {};
  for (const l of proxy.listenerViews()) {
    const c = l.counters;
    listeners[l.name] = {
      protocol: l.protocol,
      sessionsActive: proxy.sessions.countFor(l.name),
      sessionsTotal: c.sessionsTotal,
      requestsTotal: c.requestsTotal,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      idleResets: proxy.sessions.idleResets.get(l.name) ?? 0,
      proxyHeaderErrors: c.proxyHeaderErrors,
      tlsHandshakeErrors: c.tlsHandshakeErrors,
      acceptErrors: c.acceptErrors,
      rejected: { acl: c.rejectedAcl, limits: c.rejectedLimits },
    };
  }
  const pools: Record<string, unknown> = {};
  for (const p of proxy.poolList()) pools[p.name] = { scheduler: p.config.scheduler, queue: queueOf(p), servers: serversOf(proxy, p) };
  let acceptErrors = 0;
  for (const l of proxy.listenerViews()) acceptErrors += l.counters.acceptErrors;
  return {
    config: { generation: proxy.generation, lastReload: proxy.lastReload, reloadFailures: proxy.reloadFailures },
    process: {
      uptimeSeconds: Math.round((Date.now() - proxy.startedAt) / 1000),
      sessionsActive: proxy.sessions.size,
      acceptErrors,
      eventLoopLagMs: proxy.eventLoopLagMs(),
      rssBytes: process.memoryUsage.rss(),
    },
    listeners,
    pools,
  };
}

/** The pool's queue of tcp sessions waiting for a server below maxConnections (http requests wait per server: `queued`). */
function queueOf(p: Pool): Record<string, number> {
  return { queued: p.queue.length, queuedTotal: p.queue.queuedTotal, timeouts: p.queue.timeouts, overflows: p.queue.overflows };
}

function serversOf(proxy: Proxy, pool: Pool): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of pool.servers) out[s.address] = serverRow(proxy, pool, s);
  return out;
}

function serverRow(proxy: Proxy, pool: Pool, s: Server): Record<string, unknown> {
  const up = proxy.upstreamOf(s);
  return {
    health: s.health,
    healthReason: s.healthReason,
    healthSince: new Date(s.healthSince).toISOString(),
    // Active checks (null without healthCheck, or before the first verdict).
    lastCheck: s.lastCheck === null ? null : { result: s.lastCheck.result, reason: s.lastCheck.reason, latencyMs: s.lastCheck.latencyMs, at: new Date(s.lastCheck.at).toISOString() },
    checks: { passed: s.checksPassed, failed: s.checksFailed },
    admin: s.admin,
    // Effective weight (slow start lowers it while a returning server ramps up) and the configured one.
    weight: s.weight,
    configuredWeight: s.configuredWeight,
    slowStart: s.slowStartMs === 0 ? null : { fraction: s.slowStartFraction, since: new Date(s.slowStartSince).toISOString(), until: new Date(s.slowStartSince + s.slowStartMs).toISOString() },
    backup: s.backup,
    sessionsActive: s.active,
    sessionsTotal: s.sessionsTotal,
    requestsTotal: s.requestsTotal,
    connectErrors: s.connectErrors,
    idleConnections: up?.idleConnections ?? 0,
    openConnections: up?.openConnections ?? 0,
    queued: up?.queued ?? 0,
    sourcePorts: proxy.sourcePortsOf(pool, s),
  };
}

export function pools(proxy: Proxy): Record<string, unknown>[] {
  return proxy.poolList().map((p) => ({
    name: p.name,
    scheduler: p.config.scheduler,
    persistence: p.persistence?.view() ?? null,
    queue: queueOf(p),
    servers: p.servers.map((s) => ({ address: s.address, ...serverRow(proxy, p, s) })),
  }));
}

/**
 * GET /api/v1/sessions?listener&pool&server&client&state&minIdle&limit&after: one page of the
 * session table (session-query.ts: the filters, the page, why a call examines a bounded slice).
 * `total` is the whole table; `next` the cursor of the next page, null at the end.
 */
export function sessions(proxy: Proxy, params: URLSearchParams): AdminAnswer {
  const now = Date.now();
  const parsed = parseSessionQuery(params, now);
  if (!parsed.ok) return { status: 400, body: { errors: parsed.errors } };
  const { limit, after, match } = parsed.query;
  const page = proxy.sessions.page(after, limit, SCAN_BUDGET, match);
  const rows = page.sessions.map((s) => s.toJSON(now));
  return { status: 200, body: { total: proxy.sessions.size, sessions: rows, next: page.next === 0 ? null : String(page.next) } };
}

/** GET /api/v1/sessions/:id: one session's row. */
export function session(proxy: Proxy, idText: string): AdminAnswer {
  const found = findSession(proxy, idText);
  return 'status' in found ? found : { status: 200, body: found.toJSON() };
}

/**
 * DELETE /api/v1/sessions/:id: ends the session now with RST to both ends (SPEC: the operator's
 * kill button), through its owner as the idle sweep does; its access line says `killed`. The
 * answer is the row as it was just before.
 */
export function killSession(proxy: Proxy, idText: string): AdminAnswer {
  const found = findSession(proxy, idText);
  if ('status' in found) return found;
  const row = found.toJSON();
  found.owner.terminate(found, 'killed', true);
  proxy.log.info({ session: found.id, listener: found.listener, client: row['client'], server: found.serverAddress }, 'session killed');
  return { status: 200, body: { killed: row } };
}

function findSession(proxy: Proxy, idText: string): Session | AdminAnswer {
  const id = /^[1-9][0-9]{0,14}$/.test(idText) ? Number(idText) : 0;
  if (id === 0) return { status: 400, body: { errors: [`id: expected a session id (a positive integer), got ${JSON.stringify(idText.slice(0, 60))}`] } };
  return proxy.sessions.get(id) ?? { status: 404, body: { error: `no session ${id} (it ended, or never was)` } };
}

/** POST /api/v1/pools/:pool/servers/:address/{drain|enable}; null when pool or server is unknown. */
export function setServerAdmin(proxy: Proxy, poolName: string, address: string, action: 'drain' | 'enable'): Record<string, unknown> | null {
  const p = proxy.findPool(poolName);
  const s = p?.find(address);
  if (p === undefined || s === undefined) return null;
  p.setAdmin(s, action === 'drain' ? 'drain' : 'enabled');
  return { pool: p.name, server: s.address, admin: s.admin };
}
