// S3: 1 MiB responses — throughput, and the proxy's CPU per GiB moved.
import { PLAIN_TARGET_NAMES } from '../lib/targets.ts';
import { wrkSample, wrkWarmup, type WrkLoad } from '../lib/measure.ts';
import { col, errorsCol, ratioCheck, ratioCol } from '../lib/report.ts';
import type { Scenario } from './scenario.ts';

const LOAD: WrkLoad = { path: '/1m', connections: 10, headers: [], script: null };

export const s3: Scenario = {
  id: 'S3',
  title: '1 MiB responses (throughput)',
  method: 'wrk -t1 -c10 --latency, GET /1m (1 MiB file, sendfile at the server), keep-alive on both sides.',
  unavailable: null,
  targets: PLAIN_TARGET_NAMES,
  restartPerRepetition: false,
  warmup: (ctx, t) => wrkWarmup(ctx, t, LOAD),
  measure: (ctx, t) => wrkSample(ctx, t, LOAD, ctx.settings.durationS),
  columns: [
    col('MiB/s', 'mibps', 0),
    col('req/s', 'rps', 0),
    col('p50 ms', 'p50Ms', 2),
    col('p99 ms', 'p99Ms', 2),
    col('CPU ms/GiB', 'cpuMsPerGiB', 0),
    ratioCol('MiB/s vs HAProxy', 'mibps'),
    ratioCol('CPU/GiB vs HAProxy', 'cpuMsPerGiB'),
    errorsCol,
  ],
  checks: (r) => [
    ratioCheck(r, { goal: 'S3 tcp: throughput ≥ 70% of HAProxy tcp', target: 'fullproxy-tcp', reference: 'haproxy-tcp', metric: 'mibps', unit: 'MiB/s', min: 0.7 }),
    ratioCheck(r, { goal: 'S3 http: throughput ≥ 50% of HAProxy http', target: 'fullproxy-http', reference: 'haproxy-http', metric: 'mibps', unit: 'MiB/s', min: 0.5 }),
  ],
};
