// How every fuzz target runs (issue 17 §5): fast-check with a seed and a budget, the seed and the
// counts written to the test output (t.diagnostic), and a failure reported with what reproduces it.
//
//   npm test                      each target a few seconds (its default time limit), a new seed each run
//   npm run fuzz                  FUZZ_SECONDS (default 60) per target
//   FUZZ_SEED=n FUZZ_PATH=p ...   replays a failure fast-check reported (seed and path)
//   FUZZ_RUNS=n                   a fixed number of runs instead of a time limit
import fc from 'fast-check';
import type { TestContext } from 'node:test';

export interface FuzzBudget {
  readonly seed: number;
  readonly numRuns: number;
  readonly timeLimitMs: number;
  readonly path: string | undefined;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** The budget of one target: `seconds` under `npm test`; FUZZ_SECONDS / FUZZ_RUNS / FUZZ_SEED / FUZZ_PATH override. */
export function budget(seconds: number): FuzzBudget {
  const runs = envNumber('FUZZ_RUNS');
  const secs = envNumber('FUZZ_SECONDS') ?? (runs === undefined ? seconds : 3_600);
  const seed = envNumber('FUZZ_SEED') ?? (Math.floor(Math.random() * 0x7fffffff) ^ Date.now()) | 0;
  return { seed, numRuns: runs ?? 1_000_000_000, timeLimitMs: secs * 1000, path: process.env['FUZZ_PATH'] || undefined };
}

/**
 * Runs `property` within `b`. Writes one diagnostic line — target, seed, runs, time, and the
 * target's own counts (`counts()`: what the inputs exercised) — and throws fast-check's report
 * (seed, path, the shrunk counterexample) when a run failed.
 *
 * The time budget is spent in batches, each a complete fast-check run with its own seed (the base
 * seed + batch number), sized from the time runs have taken so far. Not fast-check's
 * interruptAfterTimeLimit: it drops a run that is in flight when the time is up, and with it a
 * failure found by that run (measured: a property failing on its 3rd run of 300 ms, limit 700 ms,
 * is reported as passed).
 */
export async function fuzz<T>(t: TestContext, name: string, property: fc.IRawProperty<T>, b: FuzzBudget, counts?: () => Record<string, number>): Promise<void> {
  const started = Date.now();
  const deadline = started + b.timeLimitMs;
  let runs = 0;
  let batches = 0;
  let size = 1;
  const summary = (): string =>
    `fuzz ${name}: seed ${b.seed}, ${runs} runs in ${batches} batches, ${Date.now() - started} ms${counts === undefined ? '' : ` ${JSON.stringify(counts())}`}`;
  while (runs < b.numRuns && (batches === 0 || Date.now() < deadline)) {
    const seed = (b.seed + batches) | 0;
    let out: fc.RunDetails<T>;
    try {
      out = await fc.check(property, { seed, numRuns: Math.min(size, b.numRuns - runs), includeErrorInReport: true, ...(b.path === undefined ? {} : { path: b.path }) });
    } catch (err) {
      // Something escaped fast-check itself (a CI run once got a bare stack overflow, with no seed
      // to replay it): the seed of this batch goes with it.
      t.diagnostic(summary());
      throw new Error(`fuzz ${name} threw outside its property (replay: FUZZ_SEED=${seed})`, { cause: err });
    }
    batches++;
    runs += out.numRuns;
    if (out.failed) {
      t.diagnostic(summary());
      throw new Error(`fuzz ${name} failed (replay: FUZZ_SEED=${seed} FUZZ_PATH=${out.counterexamplePath ?? ''})\n${fc.defaultReportMessage(out) ?? ''}`);
    }
    if (b.path !== undefined) break; // a replay is one run
    // the next batch takes about a tenth of what is left, at the mean time per run so far (at least 1, at most 10,000 runs)
    const perRun = Math.max(0.01, (Date.now() - started) / Math.max(1, runs));
    size = Math.max(1, Math.min(10_000, Math.floor((deadline - Date.now()) / 10 / perRun)));
  }
  t.diagnostic(summary());
}
