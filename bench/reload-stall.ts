// The event-loop stall while applying a reload (issue 14, last Proof item): a config of 1,000
// servers in 100 pools, 10,000 idle client sessions open, the proxy's event-loop delay measured
// with monitorEventLoopDelay around each reload. Goal: under 50 ms. A benchmark, not a test:
// `npm run bench:reload`, never part of `npm test`. bench/README.md "Reload stall" says how and why.
//
//   node bench/reload-stall.ts [--reloads 10] [--sessions 10000] [--schedulers mixed|NAME] [--cpu-prof]
//
// Processes: this one (the 10 real servers of pool p0, the orchestration), the proxy
// (`node --import bench/lib/loop-probe.ts src/main.ts --config <tmp>`) and the idle client
// (bench/lib/idle-client.ts --mode http). Every one is killed at the end, on error, on Ctrl-C and
// after a global deadline.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { createServer, get as httpGet, type Server as HttpServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessRegistry, cpuTicks, fdCount, rssKiB, type Child } from './lib/procs.ts';
import { SCHEDULER_NAMES } from '../src/config/schema.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PROBE = join(ROOT, 'bench/lib/loop-probe.ts');
const IDLE_CLIENT = join(ROOT, 'bench/lib/idle-client.ts');
const GOAL_MS = 50;
const POOLS = 100;
const SERVERS_PER_POOL = 10;
/** Pools that get an 11th server on an "add servers" reload (and lose it on "remove servers"). */
const GROWING_POOLS = 20;
/** The whole run, whatever happens (the idle client also exits by itself after 10 minutes). */
const DEADLINE_MS = 9 * 60_000;
/**
 * Pause between a reset of the histogram and the POST. reset() also forgets the time of the last
 * tick, so the first 1 ms tick after it records nothing: a stall that starts before that tick is
 * lost (seen: a 444 ms reload recorded as 25 ms). A few ms seed it; 20 ms is ample.
 */
const SEED_MS = 20;
/** Quiet window before each reload: the baseline. */
const BASELINE_MS = 1000;
/** After the reload's 200: the old generation's garbage and anything deferred land in the window. */
const AFTER_MS = 200;
/** Clock ticks per second of /proc/PID/stat (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const { values: opts } = parseArgs({
  options: {
    reloads: { type: 'string', default: '10' },
    sessions: { type: 'string', default: '10000' },
    schedulers: { type: 'string', default: 'mixed' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
type SchedulerName = (typeof SCHEDULER_NAMES)[number];
const isScheduler = (s: string): s is SchedulerName => (SCHEDULER_NAMES as readonly string[]).includes(s);
/** "mixed": every scheduler over the pools; or one name for every pool but p0. */
const SCHEDULERS = opts.schedulers;
const RELOADS = Number(opts.reloads);
const SESSIONS = Number(opts.sessions);
if (!(RELOADS >= 1) || !(SESSIONS >= 1) || SESSIONS > 15_000 || !(SCHEDULERS === 'mixed' || isScheduler(SCHEDULERS))) {
  process.stderr.write(`usage: node bench/reload-stall.ts [--reloads N] [--sessions N (≤ 15000: fd limit)] [--schedulers mixed|${SCHEDULER_NAMES.join('|')}] [--cpu-prof]\n`);
  process.exit(2);
}

function log(line: string): void {
  process.stderr.write(`reload-stall: ${line}\n`);
}

// ---- the config ----

type Kind = 'initial' | 'weights' | 'add servers' | 'schedulers' | 'remove servers';
const KINDS: readonly Kind[] = ['weights', 'add servers', 'schedulers', 'remove servers'];

interface Variant {
  weightShift: number;
  schedulerShift: number;
  extraServers: boolean;
}

/** Reload k (1-based) changes one thing of the previous variant, in turn; the config stays valid. */
function kindOf(k: number): Kind {
  return k === 0 ? 'initial' : KINDS[(k - 1) % KINDS.length]!;
}

function nextVariant(v: Variant, kind: Kind): Variant {
  switch (kind) {
    case 'initial':
      return v;
    case 'weights':
      return { ...v, weightShift: v.weightShift + 1 };
    case 'add servers':
      return { ...v, extraServers: true };
    case 'schedulers':
      return { ...v, schedulerShift: v.schedulerShift + 1 };
    case 'remove servers':
      return { ...v, extraServers: false };
  }
}

/** Pool i's scheduler: mixed rotates every pool to the next name; one name flips to rr (or wrr) and back. */
function schedulerOf(pool: number, shift: number): SchedulerName {
  if (SCHEDULERS === 'mixed') return SCHEDULER_NAMES[(pool + shift) % SCHEDULER_NAMES.length]!;
  const one = SCHEDULERS as SchedulerName;
  return shift % 2 === 0 ? one : one === 'rr' ? 'wrr' : 'rr';
}

/**
 * 100 pools × 10 servers. p0: the real loopback servers (every request goes there); p1…p99:
 * 127.1.<pool>.<n>:8080, loopback addresses nobody listens on and nothing ever connects to.
 * Schedulers (--schedulers): mixed over the pools by default, every one of SCHEDULER_NAMES ~9
 * times, as a config with many pools would have; p0 stays rr.
 */
function buildConfig(v: Variant, backendPorts: readonly number[]): Record<string, unknown> {
  const pools: Record<string, unknown>[] = [];
  for (let i = 0; i < POOLS; i++) {
    const n = SERVERS_PER_POOL + (v.extraServers && i >= 1 && i <= GROWING_POOLS ? 1 : 0);
    const servers = [];
    for (let j = 0; j < n; j++) {
      const address = i === 0 ? `127.0.0.1:${backendPorts[j]!}` : `127.1.${i}.${j + 1}:8080`;
      servers.push({ address, weight: 1 + ((i + j + v.weightShift) % 4) });
    }
    const scheduler = i === 0 ? 'rr' : schedulerOf(i, v.schedulerShift);
    pools.push({ name: `p${i}`, scheduler, servers, ...(i === 0 ? { connectionPool: { idleTimeout: '10m' } } : {}) });
  }
  const routes = [];
  for (let i = 1; i < POOLS; i++) routes.push({ pathPrefix: `/p${i}/`, pool: `p${i}` });
  return {
    admin: { listen: '127.0.0.1:0' },
    logging: { level: 'info', access: false },
    listeners: [
      {
        name: 'web',
        listen: '127.0.0.1:0',
        protocol: 'http',
        pool: 'p0',
        routes,
        timeouts: { clientIdle: '10m', httpKeepAlive: '10m' },
        limits: { maxConnections: 19_000 },
      },
      { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p1' },
    ],
    pools,
  };
}

// ---- the proxy's output ----

type Json = Record<string, unknown>;

/** Delivers JSON lines of a stream to whoever waits for one matching a predicate. */
class LineWaiter {
  readonly lines: Json[] = [];
  #waiters: { match: (l: Json) => boolean; resolve: (l: Json) => void }[] = [];

  constructor(input: NodeJS.ReadableStream) {
    createInterface({ input }).on('line', (text) => {
      if (!text.startsWith('{')) return;
      let obj: Json;
      try {
        obj = JSON.parse(text) as Json;
      } catch {
        return;
      }
      this.lines.push(obj);
      const i = this.#waiters.findIndex((w) => w.match(obj));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(obj);
    });
  }

  /** The next line (from now on) that matches; rejects after `ms`. */
  next(match: (l: Json) => boolean, ms: number, what: string): Promise<Json> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        rej(new Error(`no ${what} within ${ms} ms`));
      }, ms);
      const done = (l: Json): void => {
        clearTimeout(timer);
        res(l);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }
}

interface ProbeWindow {
  maxMs: number;
  p99Ms: number;
  p50Ms: number;
  windowMs: number;
}

async function probe(proxy: Child, err: LineWaiter): Promise<ProbeWindow> {
  const line = err.next((l) => l['loopProbe'] === 1, 5000, 'loop-probe line');
  process.kill(proxy.pid, 'SIGUSR2');
  return (await line) as unknown as ProbeWindow;
}

// ---- helpers ----

function startBackend(): Promise<HttpServer> {
  const body = Buffer.from('ok\n');
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  // Keep the proxy's pooled connections: nothing closes during the run, the proxy stays quiet.
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res(server));
  });
}

async function httpJson(method: string, url: string, timeoutMs: number): Promise<{ status: number; body: Json }> {
  const r = await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: (await r.json()) as Json };
}

function hostPort(address: unknown): { host: string; port: number } {
  const [host = '', port = '0'] = String(address).split(/:(?=[0-9]+$)/);
  return { host, port: Number(port) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (x: number): string => (Math.round(x * 10) / 10).toFixed(1);
const mib = (kib: number): string => (kib / 1024).toFixed(0);

function localDate(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** `<date>-reload-stall.md`, then `-2`, `-3`, …: nothing is overwritten (as bench/run.ts does). */
function freeResultPath(dir: string): string {
  for (let n = 1; ; n++) {
    const p = join(dir, `${localDate()}-reload-stall${n === 1 ? '' : `-${n}`}.md`);
    if (!existsSync(p)) return p;
  }
}

function loadLine(): string {
  const [a, b, c] = loadavg();
  return `${a!.toFixed(2)} ${b!.toFixed(2)} ${c!.toFixed(2)}`;
}

function gitRevision(): string {
  const r = spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown revision';
}

// ---- the run ----

interface ReloadRow {
  k: number;
  kind: Kind;
  baselineMaxMs: number;
  maxMs: number;
  p99Ms: number;
  applyMs: number;
  postMs: number;
  cpuMs: number;
  load1: number;
}

const reg = new ProcessRegistry();
const backends: HttpServer[] = [];
let tmp: string | null = null;

async function cleanup(): Promise<void> {
  await reg.killAll();
  for (const b of backends) b.closeAllConnections();
  await Promise.all(backends.map((b) => new Promise((r) => b.close(r))));
  if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  tmp = null;
}

async function main(): Promise<number> {
  const started = Date.now();
  const loadStart = loadLine();
  tmp = mkdtempSync(join(tmpdir(), 'fullproxy-reload-stall-'));
  // Outside the tmp dir (removed at the end) and outside the repo: profiles are not results.
  const profDir = join(tmpdir(), `fullproxy-reload-stall-prof-${process.pid}`);

  for (let i = 0; i < SERVERS_PER_POOL; i++) backends.push(await startBackend());
  const ports = backends.map((b) => (b.address() as AddressInfo).port);

  let variant: Variant = { weightShift: 0, schedulerShift: 0, extraServers: false };
  const file = join(tmp, 'config.json');
  writeFileSync(file, JSON.stringify(buildConfig(variant, ports), null, 2));
  const configBytes = readFileSync(file).length;

  const nodeArgs = ['--import', PROBE, ...(opts['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), join(ROOT, 'src/main.ts'), '--config', file];
  const proxy = reg.spawn('fullproxy', process.execPath, nodeArgs, { cwd: ROOT });
  const out = new LineWaiter(proxy.proc.stdout!);
  const err = new LineWaiter(proxy.proc.stderr!);
  const listening = new Map<string, { host: string; port: number }>();
  const up = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the proxy did not start in 30 s: ${proxy.lastWords()}`)), 30_000);
    proxy.proc.once('exit', () => {
      clearTimeout(timer);
      rej(new Error(`the proxy exited: ${proxy.lastWords()}`));
    });
    const check = (l: Json): boolean => {
      if (l['msg'] === 'admin listening') listening.set('#admin', hostPort(l['address']));
      if (l['msg'] === 'listening') listening.set(String(l['listener']), hostPort(l['address']));
      if (listening.size === 3) {
        clearTimeout(timer);
        res();
      }
      return false;
    };
    void out.next(check, 30_000, '').catch(() => {});
  });
  await up;
  const web = listening.get('web')!;
  const admin = listening.get('#admin')!;
  const adminUrl = `http://${admin.host}:${admin.port}`;
  log(`proxy pid ${proxy.pid}: web ${web.host}:${web.port}, admin ${adminUrl}; config ${POOLS} pools × ${SERVERS_PER_POOL} servers, ${(configBytes / 1024).toFixed(0)} KiB`);

  // One request through the proxy, on a connection of its own that closes (it is not a session to count).
  const status = await new Promise<number>((res, rej) => {
    const req = httpGet({ host: web.host, port: web.port, path: '/', agent: false, timeout: 5000 }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('GET / through the proxy timed out')));
    req.on('error', rej);
  });
  if (status !== 200) throw new Error(`GET / through the proxy answered ${status}`);

  // ---- the idle sessions ----
  const client = reg.spawn('idle-client', process.execPath, [IDLE_CLIENT, '--host', web.host, '--port', String(web.port), '--count', String(SESSIONS), '--mode', 'http'], { cwd: ROOT });
  const clientOut = new LineWaiter(client.proc.stdout!);
  const ready = await clientOut.next((l) => 'ready' in l, 120_000, 'idle client report');
  log(`idle client: ${JSON.stringify(ready)}`);
  if (ready['ready'] !== SESSIONS) throw new Error(`the idle client opened ${String(ready['ready'])} of ${SESSIONS} sessions (${String(ready['failed'])} failed)`);
  let active = 0;
  for (let t = 0; t < 100; t++) {
    const stats = await httpJson('GET', `${adminUrl}/api/v1/stats`, 5000);
    active = Number((stats.body['process'] as Json)['sessionsActive']);
    if (active >= SESSIONS) break;
    await sleep(200);
  }
  if (active < SESSIONS) throw new Error(`the proxy holds ${active} sessions, expected ${SESSIONS}`);
  await sleep(2000); // the burst of opening settles (GC, JIT)
  const rssBefore = rssKiB([proxy.pid]);
  const fdBefore = fdCount([proxy.pid]);
  log(`${active} sessions open; proxy RSS ${mib(rssBefore)} MiB, ${fdBefore} fds; load ${loadLine()}`);

  // ---- the reloads ----
  const rows: ReloadRow[] = [];
  for (let k = 1; k <= RELOADS; k++) {
    await probe(proxy, err); // reset
    await sleep(BASELINE_MS);
    const base = await probe(proxy, err);
    const kind = kindOf(k);
    variant = nextVariant(variant, kind);
    writeFileSync(file, JSON.stringify(buildConfig(variant, ports), null, 2));
    const reloaded = out.next((l) => l['msg'] === 'config reloaded', 30_000, "'config reloaded' log line");
    reloaded.catch(() => {});
    const ticks0 = cpuTicks([proxy.pid]);
    await probe(proxy, err); // reset
    await sleep(SEED_MS); // see SEED_MS
    const t0 = performance.now();
    const res = await httpJson('POST', `${adminUrl}/api/v1/reload`, 30_000);
    const postMs = performance.now() - t0;
    if (res.status !== 200 || res.body['ok'] !== true) throw new Error(`reload ${k} (${kind}) answered ${res.status} ${JSON.stringify(res.body)}`);
    const line = await reloaded;
    await sleep(AFTER_MS);
    const win = await probe(proxy, err);
    const cpuMs = ((cpuTicks([proxy.pid]) - ticks0) * 1000) / CLK_TCK;
    const row: ReloadRow = { k, kind, baselineMaxMs: base.maxMs, maxMs: win.maxMs, p99Ms: win.p99Ms, applyMs: Number(line['applyMs']), postMs, cpuMs, load1: loadavg()[0]! };
    rows.push(row);
    log(`reload ${k} (${kind}): generation ${String(res.body['generation'])}, loop max ${r1(win.maxMs)} ms (baseline ${r1(base.maxMs)}), applyMs ${r1(row.applyMs)}, POST ${r1(postMs)} ms, cpu ${cpuMs} ms`);
  }

  await sleep(1000);
  const rssAfter = rssKiB([proxy.pid]);
  const fdAfter = fdCount([proxy.pid]);
  const stats = await httpJson('GET', `${adminUrl}/api/v1/stats`, 5000);
  const activeAfter = Number((stats.body['process'] as Json)['sessionsActive']);
  const generation = Number((stats.body['config'] as Json)['generation']);
  const loadEnd = loadLine();

  // The client prints {"closedLater":k} on SIGTERM: sessions the proxy closed during the run.
  const closed = clientOut.next((l) => 'closedLater' in l, 5000, 'closedLater report');
  await client.stop(5000);
  const closedLater = Number((await closed.catch(() => ({ closedLater: NaN })))['closedLater']);

  let profile = '';
  if (opts['cpu-prof']) {
    // The profile is written at a clean exit: SIGTERM drains (no sessions left now), exit 0.
    await proxy.stop(10_000);
    for (const f of existsSync(profDir) ? readdirSync(profDir) : []) profile = join(profDir, f);
    log(profile === '' ? 'no CPU profile was written' : `CPU profile: ${profile}`);
  }

  // ---- the report ----
  const maxes = rows.map((r) => r.maxMs);
  const applies = rows.map((r) => r.applyMs);
  const posts = rows.map((r) => r.postMs);
  const cpuList = rows.map((r) => r.cpuMs);
  const bases = rows.map((r) => r.baselineMaxMs);
  const worst = Math.max(...maxes);
  const verdict = median(maxes) < GOAL_MS ? (worst < GOAL_MS ? 'met' : 'met at the median, not by the worst reload') : 'missed';
  const elapsedS = Math.round((Date.now() - started) / 1000);
  const md = [
    `# Reload stall — ${localDate()}`,
    '',
    `\`npm run bench:reload${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/reload-stall.ts), ${gitRevision()}, node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), ${elapsedS} s.`,
    `Config: ${POOLS} pools × ${SERVERS_PER_POOL} servers (${POOLS * SERVERS_PER_POOL}; ${GROWING_POOLS} pools get an 11th on "add servers"), schedulers: ${SCHEDULERS === 'mixed' ? 'mixed (each of the 11 on ~9 pools)' : `${SCHEDULERS} on every pool but p0 (rr)`}, 1 http listener with ${POOLS - 1} routes + 1 tcp listener, ${(configBytes / 1024).toFixed(0)} KiB of JSON.`,
    `${SESSIONS} idle http keep-alive client sessions open during every reload. Load average (1/5/15 min) at start ${loadStart}, at end ${loadEnd}.`,
    '',
    `**Goal: the event-loop stall of a reload < ${GOAL_MS} ms — ${verdict}** (median ${r1(median(maxes))} ms, worst ${r1(worst)} ms over ${rows.length} reloads).`,
    '',
    '| figure | median | max |',
    '| --- | --- | --- |',
    `| event-loop delay max in the reload window (POST → 200 + ${AFTER_MS} ms) | ${r1(median(maxes))} ms | ${r1(worst)} ms |`,
    `| event-loop delay max in the quiet ${BASELINE_MS} ms before it (baseline) | ${r1(median(bases))} ms | ${r1(Math.max(...bases))} ms |`,
    `| \`applyMs\` (log 'config reloaded': build the generation + swap) | ${r1(median(applies))} ms | ${r1(Math.max(...applies))} ms |`,
    `| POST /api/v1/reload round trip (read + validate + apply + answer) | ${r1(median(posts))} ms | ${r1(Math.max(...posts))} ms |`,
    `| proxy CPU time in the reload window (/proc, ${1000 / CLK_TCK} ms ticks) | ${r1(median(cpuList))} ms | ${r1(Math.max(...cpuList))} ms |`,
    '',
    '| | before the reloads | after |',
    '| --- | --- | --- |',
    `| proxy RSS | ${mib(rssBefore)} MiB | ${mib(rssAfter)} MiB |`,
    `| proxy fds | ${fdBefore} | ${fdAfter} |`,
    `| sessions alive (stats \`sessionsActive\`) | ${active} | ${activeAfter}; the idle client saw ${Number.isNaN(closedLater) ? '?' : closedLater} closed |`,
    `| config generation | 1 | ${generation} |`,
    '',
    'Per reload:',
    '',
    '| # | change | loop max | p99 | baseline max | applyMs | POST | cpu | load 1 min |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.k} | ${r.kind} | ${r1(r.maxMs)} | ${r1(r.p99Ms)} | ${r1(r.baselineMaxMs)} | ${r1(r.applyMs)} | ${r1(r.postMs)} | ${r.cpuMs} | ${r.load1.toFixed(2)} |`),
    '',
    ...(profile === '' ? [] : [`CPU profile of the proxy: \`${profile}\` (not committed).`, '']),
  ].join('\n');
  process.stdout.write(`\n${md}`);
  const outDir = join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const path = freeResultPath(outDir);
  writeFileSync(path, md);
  log(`wrote ${path}`);
  return 0;
}

// Bounded, and nothing left behind: a global deadline, Ctrl-C, errors and exit all kill the children.
let finishing = false;
async function finish(code: number, why?: string): Promise<void> {
  if (finishing) return;
  finishing = true;
  if (why !== undefined) log(why);
  await cleanup().catch(() => {});
  process.exit(code);
}
process.on('exit', () => {
  reg.killAllSync();
  if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void finish(130, `${sig}: stopping`));
setTimeout(() => void finish(1, `deadline of ${DEADLINE_MS / 60_000} min reached`), DEADLINE_MS).unref();

main().then(
  (code) => finish(code),
  (e: unknown) => finish(1, `failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
);
