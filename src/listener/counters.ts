// Per-listener counters (plain numbers, read by the admin API on demand) and the access line
// written once per session end (issue 2 §6: never one line per chunk).
import type { Logger } from '../log.ts';
import type { Session } from '../session/session.ts';
import { RequestStats } from '../http/request-stats.ts';

export class ListenerCounters {
  sessionsTotal = 0;
  requestsTotal = 0;
  /** http: requests by status class and their latency histograms (http/request-stats.ts). */
  readonly requestStats = new RequestStats();
  /** Bytes of ended sessions; the metrics add the live sessions' (read from their sockets on scrape). */
  bytesIn = 0;
  bytesOut = 0;
  proxyHeaderErrors = 0;
  tlsHandshakeErrors = 0;
  rejectedAcl = 0;
  rejectedLimits = 0;
  acceptErrors = 0;
}

export function logSessionEnd(log: Logger, s: Session): void {
  log.info(
    {
      session: s.id,
      client: `${s.clientAddress}:${s.clientPort}`,
      pool: s.pool,
      server: s.serverAddress,
      source: s.source,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      requests: s.protocol === 'http' ? s.requests : undefined,
      durationMs: Date.now() - s.startedAt,
      reason: s.endReason ?? 'client-close',
    },
    'session end',
  );
}
