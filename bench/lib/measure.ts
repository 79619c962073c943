// One repetition of each kind of load, with the proxy's CPU time read from /proc/PID/stat
// (utime + stime of its process tree, in clock ticks) right before and right after the load.
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOAD_CPU } from './env.ts';
import { cpuTicks, fdCount, rssKiB } from './procs.ts';
import { TARGETS, type RunningTarget } from './targets.ts';
import { runWrk } from './wrk.ts';
import type { Sample, ScenarioContext } from '../scenarios/scenario.ts';

const IDLE_CLIENT = fileURLToPath(new URL('./idle-client.ts', import.meta.url));

export interface WrkLoad {
  path: string;
  connections: number;
  headers: readonly string[];
  /** wrk Lua script, or null */
  script: string | null;
}

/** CPU seconds of the target's process tree, or null for the direct path. */
function cpuSeconds(ctx: ScenarioContext, t: RunningTarget): number | null {
  if (t.child === null) return null;
  return cpuTicks(t.pids()) / ctx.env.clkTck;
}

export async function wrkSample(ctx: ScenarioContext, t: RunningTarget, load: WrkLoad, durationS: number): Promise<Sample> {
  const cpu0 = cpuSeconds(ctx, t);
  const r = await runWrk(ctx.env.reg, ctx.env.tools.wrk, {
    url: `${TARGETS[t.name].mode === 'https' ? 'https' : 'http'}://${t.host}:${t.port}${load.path}`,
    connections: load.connections,
    durationS,
    headers: load.headers,
    script: load.script,
    cpu: LOAD_CPU,
  });
  const cpu1 = cpuSeconds(ctx, t);
  const s: Sample = { requests: r.requests, seconds: r.seconds, rps: r.rps, mibps: r.mibps, errors: r.errors };
  if (r.p50Ms !== null) s.p50Ms = r.p50Ms;
  if (r.p99Ms !== null) s.p99Ms = r.p99Ms;
  if (cpu0 !== null && cpu1 !== null && r.requests > 0) {
    s.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / r.requests;
    if (r.bytes > 0) s.cpuMsPerGiB = ((cpu1 - cpu0) * 1e3) / (r.bytes / 1024 ** 3);
  }
  return s;
}

export async function wrkWarmup(ctx: ScenarioContext, t: RunningTarget, load: WrkLoad): Promise<void> {
  if (ctx.settings.warmupS > 0) await wrkSample(ctx, t, load, ctx.settings.warmupS);
}

/**
 * S6: RSS of the proxy's process tree before and after N idle client connections, opened by the
 * Node idle client on the load cpu. Waits until the proxy holds the sockets (its fd count), lets
 * it settle, then reads VmRSS.
 */
export async function idleMemorySample(ctx: ScenarioContext, t: RunningTarget, mode: 'tcp' | 'http', count: number): Promise<Sample> {
  // The warm-up's connections close asynchronously: wait until the fd count stands still.
  let fds0 = fdCount(t.pids());
  for (let still = 0, i = 0; still < 3 && i < 50; i++) {
    await sleep(100);
    const n = fdCount(t.pids());
    still = n === fds0 ? still + 1 : 0;
    fds0 = n;
  }
  const rss0 = rssKiB(t.pids());
  const child = ctx.env.reg.spawn('idle-client', ctx.env.tools.taskset, [
    '-c',
    String(LOAD_CPU),
    ctx.env.node,
    IDLE_CLIENT,
    '--host',
    t.host,
    '--port',
    String(t.port),
    '--count',
    String(count),
    '--mode',
    mode,
  ]);
  try {
    const deadline = Date.now() + 90_000;
    let report: { ready: number; failed: number; ms: number } | null = null;
    while (report === null && Date.now() < deadline && !child.exited) {
      await sleep(100);
      const line = child.stdout.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line !== undefined) report = JSON.parse(line) as { ready: number; failed: number; ms: number };
    }
    if (report === null) throw new Error(`idle client: ${child.lastWords()}`);
    // tcp: a client and a server socket per session; http: the client socket (server sockets pooled).
    const want = fds0 + Math.floor(report.ready * (mode === 'tcp' ? 2 : 1) * 0.99);
    const fdDeadline = Date.now() + 15_000;
    let fds = fdCount(t.pids());
    while (fds < want && Date.now() < fdDeadline) {
      await sleep(100);
      fds = fdCount(t.pids());
    }
    if (fds < want) ctx.env.log(`  ${t.name}: holds ${fds - fds0} more sockets for ${report.ready} idle connections after 15 s; measuring anyway`);
    await sleep(ctx.settings.quick ? 500 : 1000);
    const rss1 = rssKiB(t.pids());
    const s: Sample = { requests: count, errors: report.failed, connections: report.ready, fdDelta: fds - fds0, rssBeforeKiB: rss0, rssAfterKiB: rss1 };
    if (t.rssAtStartKiB !== null) s.rssStartKiB = t.rssAtStartKiB;
    if (report.ready > 0) s.kibPerConn = (rss1 - rss0) / report.ready;
    return s;
  } finally {
    await child.stop(2000);
  }
}

const TLS_CLIENT = fileURLToPath(new URL('./tls-client.ts', import.meta.url));

export interface TlsLoad {
  /** concurrent connection loops */
  concurrency: number;
  /** offer the previous connection's session ticket (TLS 1.3 resumption) */
  resume: boolean;
}

export interface TlsClientResult {
  requests: number;
  errors: number;
  seconds: number;
  resumed: number;
  protocol: string;
  cipher: string;
  /** the key-exchange group of the first connection (getEphemeralKeyInfo) */
  group: string;
  /** the client's own CPU seconds (process.cpuUsage) */
  clientCpuS: number;
}

/**
 * S5: the proxy's CPU time around one run of the Node TLS client (lib/tls-client.ts, pinned to the
 * load cpu like wrk): a new TLS 1.3 connection per request, full handshakes or resumed ones.
 */
export async function tlsClientSample(ctx: ScenarioContext, t: RunningTarget, load: TlsLoad, durationS: number): Promise<{ sample: Sample; result: TlsClientResult }> {
  const cpu0 = cpuSeconds(ctx, t);
  const args = ['-c', String(LOAD_CPU), ctx.env.node, TLS_CLIENT, '--host', t.host, '--port', String(t.port), '--concurrency', String(load.concurrency), '--duration', String(durationS)];
  if (load.resume) args.push('--resume');
  const child = ctx.env.reg.spawn('tls-client', ctx.env.tools.taskset, args);
  await child.waitExit((durationS + 20) * 1000);
  if (!child.exited) {
    await child.stop(500);
    throw new Error(`the TLS client did not finish in ${durationS + 20}s`);
  }
  const cpu1 = cpuSeconds(ctx, t);
  const line = child.stdout.split('\n').find((l) => l.startsWith('{"requests"'));
  if (line === undefined) throw new Error(`TLS client: ${child.lastWords()}`);
  const r = JSON.parse(line) as TlsClientResult;
  const s: Sample = { requests: r.requests, seconds: r.seconds, rps: r.seconds > 0 ? r.requests / r.seconds : 0, errors: r.errors };
  if (cpu0 !== null && cpu1 !== null && r.requests > 0) s.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / r.requests;
  if (r.requests > 0) s.clientCpuUsPerReq = (r.clientCpuS * 1e6) / r.requests;
  return { sample: s, result: r };
}
