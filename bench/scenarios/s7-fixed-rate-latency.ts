// S7: latency at a fixed request rate — half of HAProxy http's S1 throughput — i.e. what the
// proxy adds to p99 when it is not saturated.
//
// Method: Debian's wrk has no -R (wrk2), so the rate comes from think time: bench/conf/
// wrk-think-time.lua makes every connection wait a uniform 5..15 ms after each response, and the
// number of connections C is calibrated once on the direct path so that C / (10 ms + latency)
// equals the target rate. Every target then gets the same C and script. This is closed-loop: a
// proxy that cannot keep up gets a lower rate (reported, and failed against the target) and a
// higher latency, instead of an unbounded queue. p50/p99 are wrk's (from write to last byte).
//
// Window: wrk opens all C connections (~450) in its first milliseconds, and counts the requests
// that wait behind that burst of accepts and server connects. That is not "a fixed rate", and in
// a 5 s window those requests are about 1% of all, i.e. they were the p99 (measured by hand:
// fullproxy tcp p99 2.3–10.5 ms over 5 s vs 1.8–2.1 ms over 20 s; HAProxy's unchanged). So S7
// runs DURATION_FACTOR × the bench's duration, where the burst weighs well under 1%.
import { fileURLToPath } from 'node:url';
import { PLAIN_TARGET_NAMES, startTarget, StartError, type TargetName } from '../lib/targets.ts';
import { wrkSample, wrkWarmup, type WrkLoad } from '../lib/measure.ts';
import { col, errorsCol, fmt, fmtAuto, naReason, okMedian } from '../lib/report.ts';
import type { Check, Column, ScenarioContext, ScenarioResults, Scenario } from './scenario.ts';
import { S1_LOAD } from './s1-keepalive.ts';

const SCRIPT = fileURLToPath(new URL('../conf/wrk-think-time.lua', import.meta.url));
/** mean think time of the script */
const THINK_S = 0.01;
/** S7's window, in units of the bench's --duration (5 s → 20 s): see the header. */
const DURATION_FACTOR = 4;
/** below this share of the target rate a target "did not sustain the rate" */
const SUSTAINED = 0.9;

let rate = 0;
let load: WrkLoad = { path: '/', connections: 1, headers: [], script: SCRIPT };

/** Half of HAProxy http's S1 requests/s (from this run's S1, else measured now); then C. */
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
  rate = Math.round(rps / 2);
  // Calibrate C on the direct path: first guess from the think time alone, then scale once.
  const direct = await startTarget(ctx.env, 'direct');
  const c0 = Math.max(10, Math.ceil(rate * (THINK_S + 0.0005)));
  const got = (await wrkSample(ctx, direct, { ...load, connections: c0 }, Math.max(2, ctx.settings.durationS))).rps ?? 0;
  if (got <= 0) return 'calibration on the direct path failed';
  const connections = Math.min(4000, Math.max(10, Math.round((c0 * rate) / got)));
  load = { ...load, connections };
  ctx.env.log(`[S7] target rate ${rate} req/s (half of HAProxy http S1: ${Math.round(rps)} req/s): wrk -c${connections} with 5..15 ms think time (${c0} connections gave ${Math.round(got)} req/s direct)`);
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

const rateCol: Column = {
  header: 'of target rate',
  cell: (m) => (m.rps === undefined || m.rateTarget === undefined ? '—' : `${fmt((100 * m.rps) / m.rateTarget, 0)}%`),
};

/**
 * The share of its one core the proxy kept busy (CPU per request × rate): the tail of a single
 * event loop's iterations grows with it, so it explains most of a p99 added over direct.
 */
const busyCol: Column = {
  header: 'proxy cpu busy',
  cell: (m) => (m.cpuUsPerReq === undefined || m.rps === undefined ? '—' : `${fmt((m.cpuUsPerReq * m.rps) / 1e4, 0)}%`),
};

function addedCheck(r: ScenarioResults, target: TargetName, goal: string): Check {
  const m = okMedian(r, target);
  const d = okMedian(r, 'direct')?.p99Ms;
  if (m?.p99Ms === undefined || d === undefined) {
    const missing = m?.p99Ms === undefined ? target : 'direct';
    return { goal, status: 'n/a', measured: `${missing}: ${naReason(r[missing])}` };
  }
  const added = m.p99Ms - d;
  const share = m.rps !== undefined && m.rateTarget !== undefined ? m.rps / m.rateTarget : 1;
  const measured = `${fmtAuto(added)} ms (${fmtAuto(m.p99Ms)} vs ${fmtAuto(d)} ms direct) at ${fmt(m.rps, 0)} req/s`;
  if (share < SUSTAINED) return { goal, status: 'fail', measured: `did not sustain the rate (${fmt(100 * share, 0)}% of ${fmt(m.rateTarget, 0)} req/s); ${measured}` };
  return { goal, status: added < 1 ? 'pass' : 'fail', measured };
}

export const s7: Scenario = {
  id: 'S7',
  title: 'latency at a fixed rate (half of HAProxy http S1 throughput)',
  method:
    `wrk -t1 --latency with a Lua think time (bench/conf/wrk-think-time.lua: uniform 5..15 ms after each response per connection; Debian wrk has no -R); the connection count is calibrated once on the direct path to offer half of HAProxy http's S1 req/s, then used for every target. Each repetition runs ${DURATION_FACTOR}× the bench's duration, so that the burst of wrk opening all its connections at once weighs well under 1% of the requests (steady state). Closed loop: a proxy that cannot keep up shows a lower rate and a higher latency.`,
  unavailable: null,
  targets: PLAIN_TARGET_NAMES,
  windowFactor: DURATION_FACTOR,
  restartPerRepetition: false,
  prepare,
  warmup: (ctx, t) => wrkWarmup(ctx, t, load),
  measure: async (ctx, t) => ({ ...(await wrkSample(ctx, t, load, DURATION_FACTOR * ctx.settings.durationS)), rateTarget: rate }),
  columns: [
    col('req/s', 'rps', 0),
    rateCol,
    col('p50 ms', 'p50Ms', 3),
    col('p99 ms', 'p99Ms', 3),
    addedCol,
    col('CPU µs/req', 'cpuUsPerReq', 1),
    busyCol,
    errorsCol,
  ],
  checks: (r) => [
    addedCheck(r, 'fullproxy-tcp', 'S7 tcp: p99 added over direct < 1 ms'),
    addedCheck(r, 'fullproxy-http', 'S7 http: p99 added over direct < 1 ms'),
  ],
};
