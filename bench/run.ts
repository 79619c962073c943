// `npm run bench`: fullproxy against HAProxy, nginx and node-http-proxy on this machine, in one
// run, one pinned cpu per side; prints one table per scenario with ratios against HAProxy in the
// same mode and writes it to bench/results/<date>.md (+ .json with every repetition); a later
// run of the same day writes <date>-2, -3, … instead of replacing it.
// Installs nothing: says what is missing and exits 1. See bench/README.md.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LOAD_CPU, PROXY_CPU, clockTicksPerSecond, findTools, openFileLimit, type BenchEnv, type Tools } from './lib/env.ts';
import { ProcessRegistry } from './lib/procs.ts';
import { checksList, fmt, medianSample, scenarioTable } from './lib/report.ts';
import { startServers } from './lib/servers.ts';
import { StartError, TARGETS, TARGET_NAMES, isTargetName, startTarget, type RunningTarget, type TargetName } from './lib/targets.ts';
import { SCENARIOS, SCENARIO_IDS, isScenarioId, type Check, type Outcome, type RunResults, type Sample, type Scenario, type ScenarioContext, type ScenarioId, type Settings } from './scenarios/scenario.ts';

/** " (S7: 20 s)" for the scenarios whose repetitions run longer than --duration. */
function longerWindows(settings: Settings): string {
  const longer = SCENARIO_IDS.filter((id) => (SCENARIOS[id].windowFactor ?? 1) !== 1).map((id) => `${id}: ${(SCENARIOS[id].windowFactor ?? 1) * settings.durationS} s`);
  return longer.length === 0 ? '' : ` (${longer.join(', ')})`;
}

const USAGE = `usage: npm run bench -- [--quick] [--scenarios S1,S3] [--targets fullproxy-http,haproxy-http] [--duration 5s]
  --quick        1 repetition, 2 s runs, 2,000 idle connections in S6 (smoke check, < 3 min)
  --scenarios    subset of ${SCENARIO_IDS.join(',')}
  --targets      subset of ${TARGET_NAMES.join(',')}
  --duration     length of one measured run (default 5s; --quick 2s)
  --repetitions  repetitions per scenario and target, medians reported (default 3; --quick 1)`;

const BENCH_DIR = fileURLToPath(new URL('./', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** A repetition with more failed requests than this is not a measurement of a working proxy. */
const MAX_ERROR_RATIO = 0.01;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function parseDurationS(s: string): number | null {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(s.trim());
  if (m === null) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const seconds = unit === 'ms' ? n / 1000 : unit === 'm' ? n * 60 : n;
  // wrk takes whole seconds
  return seconds >= 1 && seconds <= 300 ? Math.round(seconds) : null;
}

interface Options {
  settings: Settings;
  scenarios: ScenarioId[];
  targets: TargetName[];
  partial: boolean;
}

function parseOptions(argv: string[]): Options | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        scenarios: { type: 'string' },
        targets: { type: 'string' },
        duration: { type: 'string' },
        repetitions: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return (err as Error).message;
  }
  const v = parsed.values;
  if (v.help) return '';
  const quick = v.quick;
  let durationS = quick ? 2 : 5;
  if (v.duration !== undefined) {
    const d = parseDurationS(v.duration);
    if (d === null) return `--duration: expected a duration like "5s" between 1s and 5m, got ${JSON.stringify(v.duration)}`;
    durationS = d;
  }
  let repetitions = quick ? 1 : 3;
  if (v.repetitions !== undefined) {
    repetitions = Number(v.repetitions);
    if (!Number.isInteger(repetitions) || repetitions < 1 || repetitions > 20) return `--repetitions: expected 1..20, got ${JSON.stringify(v.repetitions)}`;
  }
  const scenarios: ScenarioId[] = [];
  for (const s of (v.scenarios ?? SCENARIO_IDS.join(',')).split(',')) {
    const id = s.trim().toUpperCase();
    if (!isScenarioId(id)) return `--scenarios: unknown scenario ${JSON.stringify(s)} (known: ${SCENARIO_IDS.join(', ')})`;
    if (!scenarios.includes(id)) scenarios.push(id);
  }
  scenarios.sort((a, b) => SCENARIO_IDS.indexOf(a) - SCENARIO_IDS.indexOf(b));
  const targets: TargetName[] = [];
  for (const s of (v.targets ?? TARGET_NAMES.join(',')).split(',')) {
    const t = s.trim();
    if (!isTargetName(t)) return `--targets: unknown target ${JSON.stringify(s)} (known: ${TARGET_NAMES.join(', ')})`;
    if (!targets.includes(t)) targets.push(t);
  }
  targets.sort((a, b) => TARGET_NAMES.indexOf(a) - TARGET_NAMES.indexOf(b));
  return {
    settings: { quick, durationS, warmupS: 1, repetitions, idleConnections: quick ? 2000 : 10_000 },
    scenarios,
    targets,
    partial: v.scenarios !== undefined || v.targets !== undefined,
  };
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.split('\n')[0]?.trim() ?? '?';
}

function machineInfo(tools: Tools): Record<string, string> {
  let kernel = release();
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // keep os.release()
  }
  return {
    cpu: `${cpus()[0]?.model ?? '?'} × ${cpus().length}`,
    kernel,
    node: process.version,
    haproxy: firstLine(tools.haproxy, ['-v']).replace(/^HAProxy version ([^ ]+).*$/, 'HAProxy $1'),
    nginx: firstLine(tools.nginx, ['-v']).replace(/^nginx version: nginx\//, 'nginx '),
    wrk: firstLine(tools.wrk, ['-v']).replace(/ \[.*$/, ''),
  };
}

function gitRevision(): string {
  const r = spawnSync('git', ['-C', REPO_ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown revision';
}

function localDate(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function sampleProblem(s: Sample): string | null {
  if (s.requests === undefined) return null;
  if (s.requests === 0) return 'no request completed';
  const e = s.errors ?? 0;
  return e > s.requests * MAX_ERROR_RATIO ? `${fmt(e, 0)} errors in ${fmt(s.requests, 0)} requests` : null;
}

function brief(s: Sample): string {
  const parts: string[] = [];
  if (s.kibPerConn !== undefined) parts.push(`${fmt(s.connections, 0)} conns, ${fmt(s.kibPerConn, 2)} KiB/conn`);
  if (s.rps !== undefined) parts.push(`${fmt(s.rps, 0)} req/s`);
  if (s.mibps !== undefined && s.mibps > 50) parts.push(`${fmt(s.mibps, 0)} MiB/s`);
  if (s.p99Ms !== undefined) parts.push(`p99 ${fmt(s.p99Ms, 2)} ms`);
  if (s.cpuUsPerReq !== undefined) parts.push(`${fmt(s.cpuUsPerReq, 1)} µs CPU/req`);
  if (s.cpuBusy !== undefined) parts.push(`proxy busy ${fmt(s.cpuBusy * 100, 0)}%`);
  if (s.resumedRps !== undefined) parts.push(`resumed ${fmt(s.resumedRps, 0)} conn/s, ${fmt(s.resumedCpuUsPerReq, 1)} µs CPU/conn, ${fmt((s.resumedShare ?? 0) * 100, 0)}% resumed`);
  if (s.errors !== undefined && s.errors > 0) parts.push(`${fmt(s.errors, 0)} errors`);
  return parts.join(' · ');
}

/** A target's progress through a scenario's repetitions. */
interface TargetRun {
  running: RunningTarget | null;
  samples: Sample[];
  /** Set once the target is out of the scenario (failed, died): n/a with the reason. */
  failed: Outcome | null;
}

/**
 * One scenario over its targets. Repetitions go round the targets (repetition 1 of every target,
 * then repetition 2, …) with the targets kept running in between, idle: a slow spell of the shared
 * machine then costs one repetition of several targets, which the median absorbs, instead of every
 * repetition of one target (seen: one target's three repetitions all 2× slower, in a spell that
 * came and went within minutes). Each repetition is preceded by the scenario's warm-up, so a
 * target that sat idle is back in its steady state (pools, JIT) when measured.
 */
async function runScenario(scenario: Scenario, ctx: ScenarioContext, id: ScenarioId, targets: readonly TargetName[]): Promise<Partial<Record<TargetName, Outcome>>> {
  const runs = new Map<TargetName, TargetRun>(targets.map((t) => [t, { running: null, samples: [], failed: null }]));
  const reps = ctx.settings.repetitions;
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const [i, name] of targets.entries()) {
        const run = runs.get(name)!;
        if (run.failed === null) run.failed = await repetition(scenario, ctx, name, run, rep, `[${id} ${i + 1}/${targets.length}]`);
        if (run.failed !== null && run.running !== null) {
          await run.running.stop();
          run.running = null;
        }
      }
    }
  } finally {
    for (const run of runs.values()) if (run.running !== null) await run.running.stop();
  }
  const out: Partial<Record<TargetName, Outcome>> = {};
  for (const [name, run] of runs) out[name] = run.failed ?? { status: 'ok', samples: run.samples, median: medianSample(run.samples) };
  return out;
}

/** One measured repetition of one target (started on first use, or per repetition); an n/a outcome when it fails. */
async function repetition(scenario: Scenario, ctx: ScenarioContext, name: TargetName, run: TargetRun, rep: number, tag: string): Promise<Outcome | null> {
  const reps = ctx.settings.repetitions;
  try {
    run.running ??= await startTarget(ctx.env, name);
    if (scenario.warmup !== undefined) await scenario.warmup(ctx, run.running);
    const s = await scenario.measure(ctx, run.running);
    const died = run.running.failure();
    if (died !== null) return { status: 'n/a', reason: `died during the run: ${died}`, samples: run.samples };
    run.samples.push(s);
    log(`${tag} ${name} ${rep}/${reps}: ${brief(s)}`);
    const problem = sampleProblem(s);
    if (problem !== null) return { status: 'n/a', reason: problem, samples: run.samples };
    if (scenario.restartPerRepetition) {
      await run.running.stop();
      run.running = null;
    }
    return null;
  } catch (err) {
    const reason = err instanceof StartError ? `did not start: ${err.message}` : err instanceof Error ? err.message : String(err);
    log(`${tag} ${name}: n/a (${reason})`);
    return { status: 'n/a', reason, samples: run.samples };
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (typeof opts === 'string') {
    process.stderr.write(opts === '' ? `${USAGE}\n` : `${opts}\n${USAGE}\n`);
    return opts === '' ? 0 : 2;
  }
  const found = findTools();
  if (!found.ok) {
    process.stderr.write(`bench: missing on this machine (nothing is installed by the bench):\n${found.missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 1;
  }
  const { tools } = found;
  const started = Date.now();

  const reg = new ProcessRegistry();
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-bench-'));
  // nginx workers may run as an unprivileged user: they read the 1 MiB file from here.
  chmodSync(dir, 0o755);
  let cleaned = false;
  const cleanupSync = (): void => {
    if (cleaned) return;
    cleaned = true;
    reg.killAllSync();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanupSync);
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`\nbench: ${sig}: stopping everything`);
    void reg.killAll().finally(() => {
      cleanupSync();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    return await runBench(opts, tools, reg, dir, started);
  } finally {
    // Also on error: child pipes would otherwise keep this process alive.
    await reg.killAll();
    cleanupSync();
  }
}

/** Everything between setup and cleanup: servers, scenarios, report. */
async function runBench(opts: Options, tools: Tools, reg: ProcessRegistry, dir: string, started: number): Promise<number> {
  const { settings } = opts;
  // This process only orchestrates; keep it off the proxy's cpu.
  spawnSync(tools.taskset, ['-a', '-p', '-c', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });

  const nofile = openFileLimit();
  const servers = await startServers(reg, tools, dir, nofile);
  // fullproxy as shipped (Dockerfile): the bundle, built the same way, not the .ts sources.
  const built = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.ts'), join(dir, 'dist')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`npm run build failed: ${built.stderr}`);
  const fullproxy = join(dir, 'dist', 'fullproxy.mjs');
  const env: BenchEnv = { reg, tools, dir, repoRoot: REPO_ROOT, node: process.execPath, fullproxy, nofile, clkTck: clockTicksPerSecond(), servers: servers.addresses, log };

  const perTarget = (id: ScenarioId): number => settings.repetitions * (settings.warmupS + (SCENARIOS[id].windowFactor ?? 1) * settings.durationS + 0.5) + 1;
  const loadS = opts.scenarios.filter((s) => ['S1', 'S2', 'S3', 'S4', 'S5', 'S7'].includes(s)).reduce((sum, id) => sum + opts.targets.length * perTarget(id), 0);
  const estimateS = loadS + (opts.scenarios.includes('S6') ? opts.targets.length * settings.repetitions * (settings.quick ? 4 : 8) : 0);
  log(
    `bench: ${opts.scenarios.join(',')} × ${opts.targets.length} targets, ${settings.repetitions} repetition(s) of ${settings.durationS}s; about ${Math.ceil(estimateS / 60)} min. ` +
      `proxy on cpu ${PROXY_CPU}; wrk, clients and servers (nginx ${servers.addresses.join(', ')}) on cpu ${LOAD_CPU}; fd limit ${nofile}; temp ${dir}`,
  );

  const results: RunResults = {};
  const checks: Check[] = [];
  const sections: string[] = [];
  for (const id of opts.scenarios) {
    const scenario = SCENARIOS[id];
    const heading = `## ${id} — ${scenario.title}`;
    if (scenario.unavailable !== null) {
      sections.push(`${heading}\n\nn/a (${scenario.unavailable})`);
      log(`[${id}] n/a (${scenario.unavailable})`);
      continue;
    }
    const ctx: ScenarioContext = { env, settings, results };
    const targets = scenario.targets.filter((t) => opts.targets.includes(t));
    const sr: Partial<Record<TargetName, Outcome>> = {};
    results[id] = sr;
    const notReady = scenario.prepare === undefined ? null : await scenario.prepare(ctx);
    if (notReady !== null) for (const t of targets) sr[t] = { status: 'n/a', reason: notReady, samples: [] };
    else Object.assign(sr, await runScenario(scenario, ctx, id, targets));
    const sc = scenario.checks(sr);
    checks.push(...sc);
    sections.push(`${heading}\n\n${scenario.method}\n\n${scenarioTable(scenario, sr, targets)}${sc.length > 0 ? `\n\n${checksList(sc)}` : ''}`);
  }

  await servers.child.stop();
  const elapsedS = (Date.now() - started) / 1000;
  const date = localDate();
  const machine = machineInfo(tools);
  const s6n = settings.idleConnections;
  const tcpIdle = Math.min(s6n, Math.floor((nofile - 500) / 2));
  const header = [
    `# fullproxy benchmark ${date}${settings.quick ? ' (--quick)' : ''}`,
    '',
    `- machine: ${machine['cpu']}, Linux ${machine['kernel']}; Node ${machine['node']}, ${machine['haproxy']}, ${machine['nginx']}, ${machine['wrk']}; fullproxy at ${gitRevision()}`,
    `- each proxy: one worker/thread pinned to cpu ${PROXY_CPU}; wrk -t1, the bench clients and the nginx servers (one worker, two ports) on cpu ${LOAD_CPU}; loopback only`,
    `- ${settings.repetitions} repetition(s) of ${settings.durationS} s${longerWindows(settings)} after a ${settings.warmupS} s warm-up; medians. S6: ${fmt(s6n, 0)} idle connections${tcpIdle < s6n ? ` (tcp mode ${fmt(tcpIdle, 0)}: two sockets per session within the fd limit of ${fmt(nofile, 0)})` : ''}`,
    `- CPU µs/req = (utime + stime of the proxy's process tree after − before, /proc/PID/stat) ÷ requests completed; ratios are against HAProxy in the same mode (tcp, http, or https with the same certificate type)`,
    `- a 2-core shared machine is noisy: compare only within one run, and trust CPU per request over requests/s (the load cpu saturates first)`,
    `- run time ${fmt(elapsedS / 60, 1)} min`,
  ].join('\n');
  const targetsSection = `## Targets (issue 4; S4, S5: issue 15)\n\n${checks.length > 0 ? checksList(checks) : '(none measured in this run)'}`;
  const markdown = `${header}\n\n${targetsSection}\n\n${sections.join('\n\n')}\n`;

  process.stdout.write(`\n${markdown}`);
  const suffix = `${settings.quick ? '-quick' : ''}${opts.partial ? '-partial' : ''}`;
  const outDir = join(BENCH_DIR, 'results');
  mkdirSync(outDir, { recursive: true });
  const base = freeResultName(outDir, `${date}${suffix}`);
  const mdPath = join(outDir, `${base}.md`);
  const jsonPath = join(outDir, `${base}.json`);
  writeFileSync(mdPath, markdown);
  const labels = Object.fromEntries(TARGET_NAMES.map((t) => [t, TARGETS[t].label]));
  writeFileSync(jsonPath, `${JSON.stringify({ date, settings, machine, fdLimit: nofile, elapsedS, targets: labels, checks, scenarios: results }, null, 2)}\n`);
  log(`bench: wrote ${mdPath} and ${jsonPath}`);
  return 0;
}

/**
 * `<date>` for the first run of a day, `<date>-2`, `-3`, … after it: a second run never replaces
 * an earlier one (runs used to be renamed by hand before the next, or were lost).
 */
function freeResultName(dir: string, base: string): string {
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!existsSync(join(dir, `${name}.md`)) && !existsSync(join(dir, `${name}.json`))) return name;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
