// What finished http requests add up to, per listener and per server: responses by status class
// and two latency histograms — the whole request, and the server's time to first byte. Plain
// numbers bumped once per request (http-listener.ts requestDone, headRefused) and read by the
// metrics layer on scrape (src/admin/metrics.ts); label sets are fixed, so nothing is allocated
// per request.
import { bucketOf, LatencyHistogram } from '../util/latency-histogram.ts';

/** The `code` label of each index of RequestStats.byClass: statusClass() maps a status to its index. */
export const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** 1..5 for 1xx..5xx; 0 ("other") when no status was sent (the client left first). */
export function statusClass(status: number): number {
  return status >= 100 && status < 600 ? (status / 100) | 0 : 0;
}

export class RequestStats {
  /** Requests by STATUS_CLASSES index. */
  readonly byClass = [0, 0, 0, 0, 0, 0];
  /** From the request head parsed to the response's last byte written (or the request's end). */
  readonly total = new LatencyHistogram();
  /** From the request head sent to the server to its response head received; requests that got one only. */
  readonly firstByte = new LatencyHistogram();
}

/**
 * One finished request: counted on its listener and (when a server was picked) on its server.
 * `firstByteMs` < 0: no response head came from a server (proxy-made status, client gone).
 */
export function recordRequest(listener: RequestStats, server: RequestStats | null, status: number, totalMs: number, firstByteMs: number): void {
  const cls = statusClass(status);
  const tb = bucketOf(totalMs);
  const fb = firstByteMs < 0 ? -1 : bucketOf(firstByteMs);
  listener.byClass[cls]!++;
  listener.total.add(tb, totalMs);
  if (fb >= 0) listener.firstByte.add(fb, firstByteMs);
  if (server === null) return;
  server.byClass[cls]!++;
  server.total.add(tb, totalMs);
  if (fb >= 0) server.firstByte.add(fb, firstByteMs);
}

/**
 * A request refused at its head (400, 408, 431: malformed, oversized or late, before any server):
 * counted by status class on the listener only, and not timed — it has no parsed head to time
 * from, and a flood of them must not drag the latency percentiles of served requests toward zero.
 */
export function recordRefused(listener: RequestStats, status: number): void {
  listener.byClass[statusClass(status)]!++;
}
