// What a scenario is (one file per scenario beside this one), the figures it measures, and the
// registry by scenario id. The runner (bench/run.ts) starts and stops the targets; a scenario
// only measures one repetition on a running target and says how to show and judge the results.
import type { BenchEnv } from '../lib/env.ts';
import type { RunningTarget, TargetName } from '../lib/targets.ts';
import { s1 } from './s1-keepalive.ts';
import { s2 } from './s2-new-connection.ts';
import { s3 } from './s3-large-responses.ts';
import { s4 } from './s4-https-keepalive.ts';
import { s5 } from './s5-tls-handshakes.ts';
import { s6 } from './s6-idle-memory.ts';
import { s7 } from './s7-fixed-rate-latency.ts';

/** Every figure a repetition can yield; a scenario fills the ones that apply to it. */
export const METRICS = [
  'requests',
  'seconds',
  'rps',
  'mibps',
  'p50Ms',
  'p99Ms',
  'cpuUsPerReq',
  'cpuMsPerGiB',
  'errors',
  /** S7: the rate the think time aims at */
  'rateTarget',
  'connections',
  /** S6: file descriptors the proxy opened for the idle connections */
  'fdDelta',
  /** S6: VmRSS of the proxy just after start, before any load (RunningTarget.rssAtStartKiB) */
  'rssStartKiB',
  'rssBeforeKiB',
  'rssAfterKiB',
  'kibPerConn',
  /** S4/S5: CPU µs/req × req/s: the share of its one core the proxy kept busy */
  'cpuBusy',
  /** S5: full handshakes one core of the proxy can do per second (1e6 ÷ CPU µs per connection) */
  'perCoreS',
  /** S5, resumed handshakes: measured rate, CPU per connection, per core-second */
  'resumedRps',
  'resumedCpuUsPerReq',
  'resumedPerCoreS',
  /** S5: share of the resumption run's connections that were resumed (isSessionReused) */
  'resumedShare',
  /** S5: the load client's own CPU µs per connection (full handshakes): how close the load side is to its limit */
  'clientCpuUsPerReq',
  /** S5: resumedPerCoreS ÷ perCoreS of the same target and repetition */
  'resumeGain',
] as const;
export type Metric = (typeof METRICS)[number];
export type Sample = Partial<Record<Metric, number>>;

export type Outcome = { status: 'ok'; samples: Sample[]; median: Sample } | { status: 'n/a'; reason: string; samples: Sample[] };
export type ScenarioResults = Partial<Record<TargetName, Outcome>>;
export type RunResults = Partial<Record<ScenarioId, ScenarioResults>>;

export interface Settings {
  readonly quick: boolean;
  readonly durationS: number;
  readonly warmupS: number;
  readonly repetitions: number;
  /** S6: idle client connections per proxy (capped by the fd limit in tcp mode) */
  readonly idleConnections: number;
}

export interface ScenarioContext {
  readonly env: BenchEnv;
  readonly settings: Settings;
  /** results of the scenarios run before this one (S7 reads S1) */
  readonly results: RunResults;
}

/** What a table cell can look at: the median of any target in this scenario. */
export interface TableView {
  median(target: TargetName): Sample | null;
}

export interface Column {
  readonly header: string;
  cell(median: Sample, target: TargetName, table: TableView): string;
}

export interface Check {
  /** the target as the issue words it */
  readonly goal: string;
  readonly status: 'pass' | 'fail' | 'n/a';
  /** the measured figures behind the verdict */
  readonly measured: string;
}

export interface Scenario {
  readonly id: ScenarioId;
  readonly title: string;
  /** how it is measured, one or two sentences for the report */
  readonly method: string;
  /** non-null: the scenario cannot run yet, and why */
  readonly unavailable: string | null;
  readonly targets: readonly TargetName[];
  /** a measured repetition lasts windowFactor × --duration (1 when absent) */
  readonly windowFactor?: number;
  /** a fresh proxy process per repetition (memory baselines) instead of one per scenario */
  readonly restartPerRepetition: boolean;
  /** once before any target; a non-null answer makes the whole scenario n/a with that reason */
  prepare?(ctx: ScenarioContext): Promise<string | null>;
  /** before every measured repetition, not measured (JIT, connection pools; a target may have sat idle while the others ran) */
  warmup?(ctx: ScenarioContext, target: RunningTarget): Promise<void>;
  measure(ctx: ScenarioContext, target: RunningTarget): Promise<Sample>;
  readonly columns: readonly Column[];
  checks(results: ScenarioResults): Check[];
}

export const SCENARIO_IDS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export const SCENARIOS: Readonly<Record<ScenarioId, Scenario>> = { S1: s1, S2: s2, S3: s3, S4: s4, S5: s5, S6: s6, S7: s7 };

export function isScenarioId(s: string): s is ScenarioId {
  return (SCENARIO_IDS as readonly string[]).includes(s);
}
