// S2: a new TCP connection per request — the proxy's accept/connect/close cost.
import { PLAIN_TARGET_NAMES } from '../lib/targets.ts';
import { wrkSample, wrkWarmup, type WrkLoad } from '../lib/measure.ts';
import { col, errorsCol, ratioCheck, ratioCol } from '../lib/report.ts';
import type { Scenario } from './scenario.ts';

// wrk reconnects after every response that says "Connection: close".
const LOAD: WrkLoad = { path: '/', connections: 50, headers: ['Connection: close'], script: null };

export const s2: Scenario = {
  id: 'S2',
  title: 'a new TCP connection per request',
  method:
    'wrk -t1 -c50 --latency -H "Connection: close", GET / (100-byte body): every request opens a client connection. http proxies keep their server connections alive; tcp proxies open a server connection per request too.',
  unavailable: null,
  targets: PLAIN_TARGET_NAMES,
  restartPerRepetition: false,
  warmup: (ctx, t) => wrkWarmup(ctx, t, LOAD),
  measure: (ctx, t) => wrkSample(ctx, t, LOAD, ctx.settings.durationS),
  columns: [
    col('conn/s', 'rps', 0),
    col('p50 ms', 'p50Ms', 2),
    col('p99 ms', 'p99Ms', 2),
    col('CPU µs/req', 'cpuUsPerReq', 1),
    ratioCol('CPU/req vs HAProxy', 'cpuUsPerReq'),
    ratioCol('conn/s vs HAProxy', 'rps'),
    errorsCol,
  ],
  checks: (r) => [
    ratioCheck(r, { goal: 'S2 http: CPU per request ≤ 2.5× HAProxy http', target: 'fullproxy-http', reference: 'haproxy-http', metric: 'cpuUsPerReq', unit: 'µs/req', max: 2.5 }),
    ratioCheck(r, { goal: 'S2 tcp: CPU per request ≤ 2.0× HAProxy tcp', target: 'fullproxy-tcp', reference: 'haproxy-tcp', metric: 'cpuUsPerReq', unit: 'µs/req', max: 2 }),
  ],
};
