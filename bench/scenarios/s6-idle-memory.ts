// S6: memory per idle client connection — what 10,000 quiet clients cost in RSS.
import { TARGETS, type TargetName } from '../lib/targets.ts';
import { idleMemorySample, wrkWarmup } from '../lib/measure.ts';
import { col, fmt, naReason, okMedian, ratioCol } from '../lib/report.ts';
import type { Check, ScenarioContext, ScenarioResults, Scenario } from './scenario.ts';
import { S1_LOAD } from './s1-keepalive.ts';

const PROXIES: readonly TargetName[] = ['fullproxy-tcp', 'haproxy-tcp', 'nginx-stream', 'node-net-pipe', 'fullproxy-http', 'haproxy-http', 'nginx-http', 'node-http-proxy'];

/** tcp mode holds two sockets per session: stay inside the proxy's fd limit. */
export function idleCount(ctx: ScenarioContext, mode: 'tcp' | 'http'): number {
  const room = ctx.env.nofile - 500;
  return Math.max(1, Math.min(ctx.settings.idleConnections, mode === 'tcp' ? Math.floor(room / 2) : room));
}

function limitCheck(r: ScenarioResults, target: TargetName, maxKiB: number, goal: string): Check {
  const v = okMedian(r, target)?.kibPerConn;
  if (v === undefined) return { goal, status: 'n/a', measured: `${target}: ${naReason(r[target])}` };
  return { goal, status: v <= maxKiB ? 'pass' : 'fail', measured: `${fmt(v, 2)} KiB per connection` };
}

function startCheck(r: ScenarioResults, target: TargetName, maxKiB: number, goal: string): Check {
  const v = okMedian(r, target)?.rssStartKiB;
  if (v === undefined) return { goal, status: 'n/a', measured: `${target}: ${naReason(r[target])}` };
  return { goal, status: v < maxKiB ? 'pass' : 'fail', measured: `${fmt(v / 1024, 1)} MiB` };
}

export const s6: Scenario = {
  id: 'S6',
  title: 'memory per idle client connection',
  method:
    'a fresh proxy per repetition (fullproxy: the bundle the image runs); RSS at start is VmRSS 0.5 s after it listens, before any load; it is then warmed up with S1 load; then a Node client on the load cpu opens N idle client connections (tcp: connected, nothing sent; http: one GET answered, then kept alive). KiB/conn = (VmRSS after − VmRSS before) ÷ N, VmRSS from /proc/PID/status summed over the process tree, read once the proxy holds the sockets (fd count) and after a settle pause.',
  unavailable: null,
  targets: PROXIES,
  restartPerRepetition: true,
  warmup: (ctx, t) => wrkWarmup(ctx, t, S1_LOAD),
  measure: (ctx, t) => {
    const mode = TARGETS[t.name].mode === 'tcp' ? 'tcp' : 'http';
    return idleMemorySample(ctx, t, mode, idleCount(ctx, mode));
  },
  columns: [
    col('connections', 'connections', 0),
    { header: 'RSS at start MiB', cell: (m) => fmt(m.rssStartKiB === undefined ? undefined : m.rssStartKiB / 1024, 1) },
    ratioCol('RSS at start vs HAProxy', 'rssStartKiB'),
    { header: 'RSS before MiB', cell: (m) => fmt(m.rssBeforeKiB === undefined ? undefined : m.rssBeforeKiB / 1024, 1) },
    { header: 'RSS after MiB', cell: (m) => fmt(m.rssAfterKiB === undefined ? undefined : m.rssAfterKiB / 1024, 1) },
    col('KiB/conn', 'kibPerConn', 2),
    ratioCol('KiB/conn vs HAProxy', 'kibPerConn'),
    { header: 'failed', cell: (m) => fmt(m.errors, 0) },
  ],
  checks: (r) => [
    startCheck(r, 'fullproxy-http', 60 * 1024, 'S6: idle RSS just after start < 60 MiB (the shipped bundle, issue 18 §11)'),
    limitCheck(r, 'fullproxy-tcp', 10, 'S6 tcp: ≤ 10 KiB of RSS per idle client connection'),
    limitCheck(r, 'fullproxy-http', 16, 'S6 http (kept alive): ≤ 16 KiB of RSS per idle client connection'),
  ],
};
