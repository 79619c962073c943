// What active health checks cost (issue 16, last Proof item: 1,000 servers checked every 1 s under
// 2 % of one core). A benchmark, not a test: `npm run bench:health`, never part of `npm test`.
// bench/README.md "Health-check cost" says how and why.
//
//   node bench/health-checks.ts [--servers 1000] [--pools 100] [--interval 1s] [--type tcp|http]
//                               [--seconds 20] [--warmup 5] [--runs 3] [--cpu-prof]
//
// Processes: this one (orchestration), the servers (one cheap listener per server address, in a
// child process of their own so their CPU is not counted) and, one after the other, what is
// measured:
//   - `idle`:   the proxy with the same pools and no healthCheck (its clock, nothing else);
//   - `checks`: the proxy with healthCheck on every pool;
//   - `floor`:  a bare Node script making the same connections at the same pace (a connect and a
//               close per check, one shared 250 ms timer, nothing else): what a check cannot cost
//               less than in Node on this machine.
// CPU is the measured process's only, all its threads: the sum of /proc/PID/task/*/schedstat
// (nanoseconds on the CPU), over `--seconds` after `--warmup`. Checks per second are counted by
// the servers (connections accepted), for the proxy and the floor alike.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { ProcessRegistry, type Child } from './lib/procs.ts';
import { parseDuration } from '../src/config/duration.ts';

const ROOT = resolve(import.meta.dirname, '..');

const { values: opts } = parseArgs({
  options: {
    servers: { type: 'string', default: '1000' },
    pools: { type: 'string', default: '100' },
    interval: { type: 'string', default: '1s' },
    type: { type: 'string', default: 'tcp' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const SERVERS = Number(opts.servers);
const POOLS = Number(opts.pools);
const INTERVAL = parseDuration(opts.interval);
const TYPE = opts.type;
const SECONDS = Number(opts.seconds);
const WARMUP = Number(opts.warmup);
const RUNS = Number(opts.runs);
if (!(SERVERS > 0 && POOLS > 0 && SERVERS % POOLS === 0 && INTERVAL !== null && INTERVAL > 0 && (TYPE === 'tcp' || TYPE === 'http') && SECONDS > 0 && WARMUP >= 0 && RUNS > 0)) {
  process.stderr.write('usage: node bench/health-checks.ts [--servers N (a multiple of --pools)] [--pools N] [--interval 1s] [--type tcp|http] [--seconds 20] [--warmup 5] [--runs 3] [--cpu-prof]\n');
  process.exit(2);
}

const reg = new ProcessRegistry();

// One listener per server address. A connection is counted when accepted; an http check gets a
// 200 on its first bytes. Reads commands on stdin: "count" prints the connections accepted so far.
const SERVERS_JS = `
const net = require('node:net');
const N = ${SERVERS};
const http = ${TYPE === 'http'};
const ports = [];
let accepted = 0;
const ok = Buffer.from('HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\nconnection: close\\r\\n\\r\\n');
function onConn(c) {
  accepted++;
  c.on('error', () => {});
  if (http) c.once('data', () => c.end(ok)); else c.resume();
}
let n = 0;
for (let i = 0; i < N; i++) {
  const s = net.createServer(onConn);
  s.listen(0, '127.0.0.1', 4096, () => { ports[i] = s.address().port; if (++n === N) console.log(JSON.stringify(ports)); });
}
require('node:readline').createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify({ accepted })));
`;

// The floor: the same connections at the same pace, with nothing a proxy adds. One 250 ms timer
// (the proxy's clock), first checks spread over one interval; a check is a connect and, once
// connected, a close (the cheapest of end(), destroy() and resetAndDestroy() measured here; for
// http one request written first, the status line awaited).
const FLOOR_JS = `
const net = require('node:net');
const ports = JSON.parse(process.argv[1]);
const interval = ${INTERVAL};
const http = ${TYPE === 'http'};
const req = Buffer.from('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');
const due = ports.map(() => Date.now() + Math.floor(Math.random() * interval));
function noop() {}
function onConnect() { if (http) this.write(req); else this.destroy(); }
function onData() { this.destroy(); }
setInterval(() => {
  const now = Date.now();
  for (let i = 0; i < ports.length; i++) {
    if (now < due[i]) continue;
    due[i] += interval;
    const s = net.connect(ports[i], '127.0.0.1');
    s.on('error', noop);
    s.once('connect', onConnect);
    if (http) s.once('data', onData);
  }
}, 250);
`;

interface Measure {
  /** % of one core over the window. */
  cpu: number;
  /** The part of it in user mode, and in the kernel (/proc/PID/stat ticks, 10 ms each: coarser). */
  user: number;
  sys: number;
  /** Connections the servers accepted per second over the window. */
  perSecond: number;
}

/** ns on the CPU, all threads of `pid` (threads that exited meanwhile are not counted: node's are long-lived). */
function cpuNs(pid: number): number {
  let sum = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return sum;
}

/** Clock ticks per second of /proc/PID/stat (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime and stime of `pid` (all threads), in ms. */
function userSys(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(rest[11]) * 1000) / CLK_TCK, sys: (Number(rest[12]) * 1000) / CLK_TCK };
}

class Lines {
  readonly #waiting: Array<(l: string) => void> = [];
  readonly #queued: string[] = [];
  constructor(child: Child) {
    createInterface({ input: child.proc.stdout! }).on('line', (l) => {
      const w = this.#waiting.shift();
      if (w === undefined) this.#queued.push(l);
      else w(l);
    });
  }
  next(timeoutMs: number, what: string): Promise<string> {
    const q = this.#queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no ${what} in ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push((l) => {
        clearTimeout(t);
        res(l);
      });
    });
  }
}

async function accepted(servers: Child, lines: Lines): Promise<number> {
  servers.proc.stdin!.write('count\n');
  return (JSON.parse(await lines.next(5000, 'count from the servers')) as { accepted: number }).accepted;
}

async function measure(pid: number, servers: Child, lines: Lines): Promise<Measure> {
  await sleep(WARMUP * 1000);
  const a0 = await accepted(servers, lines);
  const c0 = cpuNs(pid);
  const s0 = userSys(pid);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const c1 = cpuNs(pid);
  const s1 = userSys(pid);
  const t1 = performance.now();
  const a1 = await accepted(servers, lines);
  const ms = t1 - t0;
  return { cpu: ((c1 - c0) / 1e6 / ms) * 100, user: ((s1.user - s0.user) / ms) * 100, sys: ((s1.sys - s0.sys) / ms) * 100, perSecond: ((a1 - a0) / ms) * 1000 };
}

function config(ports: readonly number[], checks: boolean): Record<string, unknown> {
  const per = SERVERS / POOLS;
  return {
    logging: { level: 'info', access: false },
    listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p0' }],
    pools: Array.from({ length: POOLS }, (_, i) => ({
      name: `p${i}`,
      servers: ports.slice(i * per, (i + 1) * per).map((port) => ({ address: `127.0.0.1:${port}` })),
      ...(checks ? { healthCheck: { type: TYPE, interval: INTERVAL, timeout: '1s', rise: 2, fall: 3, ...(TYPE === 'http' ? { path: '/' } : {}) } } : {}),
    })),
  };
}

async function runProxy(dir: string, ports: readonly number[], checks: boolean, servers: Child, lines: Lines, profDir: string | null): Promise<Measure> {
  const file = join(dir, `config-${checks ? 'checks' : 'idle'}.json`);
  writeFileSync(file, JSON.stringify(config(ports, checks)));
  const args = [...(profDir !== null ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), join(ROOT, 'src/main.ts'), '--config', file];
  const proxy = reg.spawn('fullproxy', process.execPath, args, { cwd: ROOT });
  const out = new Lines(proxy);
  for (;;) {
    const l = await out.next(30_000, "the proxy's 'listening' line");
    if (l.includes('"msg":"listening"')) break;
  }
  try {
    return await measure(proxy.pid, servers, lines);
  } finally {
    await proxy.stop(10_000); // SIGTERM: a clean exit, which writes the profile
  }
}

async function runFloor(ports: readonly number[], servers: Child, lines: Lines): Promise<Measure> {
  const floor = reg.spawn('floor', process.execPath, ['-e', FLOOR_JS, JSON.stringify(ports)]);
  try {
    return await measure(floor.pid, servers, lines);
  } finally {
    await floor.stop();
  }
}

/** Self time by function in a .cpuprofile, the top `n` (ms and % of the samples). */
function topSelf(file: string, n: number): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!)!;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(`file://${ROOT}/`, '').replace(/^node:/, 'node:')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-health-bench-'));
  const profDir = opts['cpu-prof'] ? join(tmpdir(), `fullproxy-health-prof-${process.pid}`) : null;
  try {
    const servers = reg.spawn('servers', process.execPath, ['-e', SERVERS_JS], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = new Lines(servers);
    const ports = JSON.parse(await lines.next(30_000, 'ports from the servers')) as number[];
    log(`health-check cost: ${SERVERS} servers in ${POOLS} pools, ${TYPE} checks every ${INTERVAL} ms; ${RUNS} runs of ${SECONDS} s after ${WARMUP} s warm-up; node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const rows: Record<'idle' | 'checks' | 'floor', Measure[]> = { idle: [], checks: [], floor: [] };
    for (let r = 1; r <= RUNS; r++) {
      // The profile, when asked for, is of the last checks run only.
      const m = { idle: await runProxy(dir, ports, false, servers, lines, null), checks: await runProxy(dir, ports, true, servers, lines, r === RUNS ? profDir : null), floor: await runFloor(ports, servers, lines) };
      for (const k of ['idle', 'checks', 'floor'] as const) rows[k].push(m[k]);
      const us = (x: Measure): string => `user ${x.user.toFixed(1)} + sys ${x.sys.toFixed(1)}`;
      log(`run ${r}: proxy without checks ${m.idle.cpu.toFixed(2)} %; proxy with checks ${m.checks.cpu.toFixed(2)} % (${us(m.checks)}; ${m.checks.perSecond.toFixed(0)} checks/s); floor ${m.floor.cpu.toFixed(2)} % (${us(m.floor)}; ${m.floor.perSecond.toFixed(0)} connections/s); load ${loadavg()[0]!.toFixed(2)}`);
    }
    const idle = median(rows.idle.map((x) => x.cpu));
    const checks = median(rows.checks.map((x) => x.cpu));
    const floor = median(rows.floor.map((x) => x.cpu));
    const perCheck = (cpu: number, rate: number): string => `${((cpu / 100) * 1e6 / rate).toFixed(1)} µs`;
    const rate = median(rows.checks.map((x) => x.perSecond));
    const floorRate = median(rows.floor.map((x) => x.perSecond));
    log('');
    log(`medians of ${RUNS} runs, % of one core (CPU of the measured process only):`);
    log(`  proxy, ${SERVERS} servers, no checks:      ${idle.toFixed(2)} %`);
    const split = (k: 'checks' | 'floor'): string => `user ${median(rows[k].map((x) => x.user)).toFixed(1)} %, sys ${median(rows[k].map((x) => x.sys)).toFixed(1)} %`;
    log(`  proxy, ${SERVERS} servers, ${TYPE} checks:    ${checks.toFixed(2)} %  (${split('checks')}; ${rate.toFixed(0)} checks/s, ${perCheck(checks, rate)} per check; ${perCheck(checks - idle, rate)} above the idle proxy)`);
    log(`  floor (bare connect + close, same pace): ${floor.toFixed(2)} %  (${split('floor')}; ${floorRate.toFixed(0)}/s, ${perCheck(floor, floorRate)} per connection)`);
    log(`  checks above the floor:                  ${(checks - idle - floor).toFixed(2)} %  (${perCheck(checks - idle - floor, rate)} per check)`);
    log(`  goal: under 2 % of one core: ${checks < 2 ? 'met' : 'missed'}`);
    if (profDir !== null) {
      const f = existsSync(profDir) ? readdirSync(profDir).find((x) => x.endsWith('.cpuprofile')) : undefined;
      if (f === undefined) log('no CPU profile was written');
      else {
        log(`\nCPU profile of the last checks run: ${join(profDir, f)}\ntop self time:`);
        for (const l of topSelf(join(profDir, f), 30)) log(l);
      }
    }
  } finally {
    await reg.killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.once('SIGINT', () => {
  reg.killAllSync();
  process.exit(130);
});
process.once('exit', () => reg.killAllSync());
main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
