// S1: small responses over keep-alive — the per-request cost of the proxy's data path.
import { PLAIN_TARGET_NAMES } from '../lib/targets.ts';
import { wrkSample, wrkWarmup, type WrkLoad } from '../lib/measure.ts';
import { col, errorsCol, ratioCheck, ratioCol } from '../lib/report.ts';
import type { Scenario } from './scenario.ts';

export const S1_LOAD: WrkLoad = { path: '/', connections: 50, headers: [], script: null };

export const s1: Scenario = {
  id: 'S1',
  title: 'small responses over keep-alive',
  method: 'wrk -t1 -c50 --latency, GET / (100-byte body), client connections kept alive; the proxy keeps server connections alive too.',
  unavailable: null,
  targets: PLAIN_TARGET_NAMES,
  restartPerRepetition: false,
  warmup: (ctx, t) => wrkWarmup(ctx, t, S1_LOAD),
  measure: (ctx, t) => wrkSample(ctx, t, S1_LOAD, ctx.settings.durationS),
  columns: [
    col('req/s', 'rps', 0),
    col('MiB/s', 'mibps', 1),
    col('p50 ms', 'p50Ms', 2),
    col('p99 ms', 'p99Ms', 2),
    col('CPU µs/req', 'cpuUsPerReq', 1),
    ratioCol('CPU/req vs HAProxy', 'cpuUsPerReq'),
    ratioCol('req/s vs HAProxy', 'rps'),
    errorsCol,
  ],
  checks: (r) => [
    ratioCheck(r, { goal: 'S1 http: CPU µs/request ≤ 2× HAProxy http', target: 'fullproxy-http', reference: 'haproxy-http', metric: 'cpuUsPerReq', unit: 'µs/req', max: 2 }),
    ratioCheck(r, { goal: 'S1 http (stretch): CPU µs/request ≤ 1.5× HAProxy http', target: 'fullproxy-http', reference: 'haproxy-http', metric: 'cpuUsPerReq', unit: 'µs/req', max: 1.5 }),
    ratioCheck(r, { goal: 'S1 http: requests/s ≥ 3× node-http-proxy', target: 'fullproxy-http', reference: 'node-http-proxy', metric: 'rps', unit: 'req/s', min: 3 }),
    ratioCheck(r, { goal: 'S1 tcp: CPU µs/request ≤ 1.6× HAProxy tcp', target: 'fullproxy-tcp', reference: 'haproxy-tcp', metric: 'cpuUsPerReq', unit: 'µs/req', max: 1.6 }),
  ],
};
