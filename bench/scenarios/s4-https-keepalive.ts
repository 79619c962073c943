// S4: HTTPS keep-alive — the per-request cost of the data path with TLS on the client side (TLS
// offload: the servers stay plain HTTP), 1 KiB responses.
import { wrkSample, wrkWarmup, type WrkLoad } from '../lib/measure.ts';
import { col, errorsCol, fmt, ratioCheck, ratioCol } from '../lib/report.ts';
import type { TargetName } from '../lib/targets.ts';
import type { Column, Scenario } from './scenario.ts';

/** wrk keeps its 50 connections (one handshake each at the start, before the warm-up ends). */
const LOAD: WrkLoad = { path: '/1k', connections: 50, headers: [], script: null };

/** The https proxies, then the same proxies in plain http on the same 1 KiB load: what TLS adds. */
const TARGETS: readonly TargetName[] = ['fullproxy-https', 'haproxy-https', 'nginx-https', 'fullproxy-http', 'haproxy-http', 'nginx-http'];

const busyCol: Column = { header: 'proxy cpu busy', cell: (m) => (m.cpuUsPerReq === undefined || m.rps === undefined ? '—' : `${fmt((m.cpuUsPerReq * m.rps) / 1e4, 0)}%`) };

export const s4: Scenario = {
  id: 'S4',
  title: 'HTTPS keep-alive, 1 KiB responses',
  method:
    'wrk -t1 -c50 --latency https://…/1k (Debian wrk, OpenSSL; TLS 1.3, TLS_AES_256_GCM_SHA384, ECDSA P-256 certificate), GET /1k (1,024-byte body), client connections kept alive (50 handshakes before the warm-up ends); the proxies talk plain HTTP to the servers, kept alive. The http rows are the same proxies on the same load without TLS: the difference is what TLS costs per request.',
  unavailable: null,
  targets: TARGETS,
  restartPerRepetition: false,
  warmup: (ctx, t) => wrkWarmup(ctx, t, LOAD),
  measure: (ctx, t) => wrkSample(ctx, t, LOAD, ctx.settings.durationS),
  columns: [
    col('req/s', 'rps', 0),
    col('MiB/s', 'mibps', 1),
    col('p50 ms', 'p50Ms', 2),
    col('p99 ms', 'p99Ms', 2),
    col('CPU µs/req', 'cpuUsPerReq', 1),
    ratioCol('CPU/req vs HAProxy', 'cpuUsPerReq'),
    ratioCol('req/s vs HAProxy', 'rps'),
    busyCol,
    errorsCol,
  ],
  checks: (r) => [
    ratioCheck(r, { goal: 'S4 https keep-alive, 1 KiB: CPU µs/request ≤ 1.5× HAProxy https', target: 'fullproxy-https', reference: 'haproxy-https', metric: 'cpuUsPerReq', unit: 'µs/req', max: 1.5 }),
  ],
};
