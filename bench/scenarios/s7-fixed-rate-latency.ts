// S7: latency at a fixed request rate (half of HAProxy http's S1 throughput) — what the proxy
// adds to p99 when it is not saturated. Debian's wrk has no -R, so a Node open-loop client
// (bench/lib/fixed-rate-client.ts) paces the requests and times them with hrtime.
import { TARGET_NAMES, type TargetName } from '../lib/targets.ts';
import { startTarget, StartError } from '../lib/targets.ts';
import { fixedRateSample, wrkSample, wrkWarmup } from '../lib/measure.ts';
import { col, errorsCol, fmt, naReason, okMedian } from '../lib/report.ts';
import type { Check, Column, ScenarioContext, ScenarioResults, Scenario } from './scenario.ts';
import { S1_LOAD } from './s1-keepalive.ts';

const CONNECTIONS = 50;
let rate = 0;

/** Half of HAProxy http's S1 requests/s: from this run's S1 if it ran, else measured now. */
async function prepare(ctx: ScenarioContext): Promise<string | null> {
  let rps = okMedian(ctx.results.S1 ?? {}, 'haproxy-http')?.rps;
  if (rps === undefined) {
    ctx.env.log('[S7] HAProxy http S1 throughput not measured in this run: measuring it now');
    let t;
    try {
      t = await startTarget(ctx.env, 'haproxy-http');
    } catch (err) {
      return `HAProxy http did not start: ${err instanceof StartError ? err.message : String(err)}`;
    }
    try {
      await wrkWarmup(ctx, t, S1_LOAD);
      rps = (await wrkSample(ctx, t, S1_LOAD, ctx.settings.durationS)).rps;
    } finally {
      await t.stop();
    }
  }
  if (rps === undefined || rps <= 0) return 'no HAProxy http S1 throughput to derive the rate from';
  rate = Math.max(100, Math.round(rps / 2));
  ctx.env.log(`[S7] fixed rate: ${rate} req/s (half of HAProxy http S1: ${Math.round(rps)} req/s)`);
  return null;
}

const addedCol: Column = {
  header: 'p99 added over direct ms',
  cell: (m, target, table) => {
    if (target === 'direct') return '—';
    const d = table.median('direct')?.p99Ms;
    return d === undefined || m.p99Ms === undefined ? '—' : fmt(m.p99Ms - d, 2);
  },
};

function addedCheck(r: ScenarioResults, target: TargetName, goal: string): Check {
  const p = okMedian(r, target)?.p99Ms;
  const d = okMedian(r, 'direct')?.p99Ms;
  if (p === undefined || d === undefined) {
    const missing = p === undefined ? target : 'direct';
    return { goal, status: 'n/a', measured: `${missing}: ${naReason(r[missing])}` };
  }
  return { goal, status: p - d < 1 ? 'pass' : 'fail', measured: `${fmt(p - d, 2)} ms (${fmt(p, 2)} vs ${fmt(d, 2)} ms direct)` };
}

export const s7: Scenario = {
  id: 'S7',
  title: 'latency at a fixed rate (half of HAProxy http S1 throughput)',
  method:
    'open-loop Node client (bench/lib/fixed-rate-client.ts) on the load cpu, 50 keep-alive connections, one request in flight per connection; request i is due at t0 + i/rate (1 ms timer), sent on the first idle connection. p50/p99 are from write to last response byte (hrtime); "p99 sched" counts from the due time (coordinated-omission-corrected, includes up to ~1 ms of client timer lag).',
  unavailable: null,
  targets: TARGET_NAMES,
  restartPerRepetition: false,
  prepare,
  measure: (ctx, t) => fixedRateSample(ctx, t, rate, CONNECTIONS),
  columns: [
    col('rate req/s', 'rateAchieved', 0),
    col('p50 ms', 'p50Ms', 3),
    col('p99 ms', 'p99Ms', 3),
    addedCol,
    col('p99.9 ms', 'p999Ms', 3),
    col('p99 sched ms', 'p99ScheduleMs', 3),
    col('CPU µs/req', 'cpuUsPerReq', 1),
    errorsCol,
  ],
  checks: (r) => [
    addedCheck(r, 'fullproxy-tcp', 'S7 tcp: p99 added over direct < 1 ms'),
    addedCheck(r, 'fullproxy-http', 'S7 http: p99 added over direct < 1 ms'),
  ],
};
