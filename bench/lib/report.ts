// Markdown of a bench run: one table per scenario (medians, ratios against HAProxy in the same
// mode), the targets marked pass/fail; plus the column and check helpers scenarios use.
import { TARGETS, type TargetName } from './targets.ts';
import type { Check, Column, Metric, Outcome, Sample, Scenario, ScenarioResults, TableView } from '../scenarios/scenario.ts';

// ---- numbers ----

/** Digits that suit the magnitude: 25,149 · 40.2 · 1.18 */
export function fmtAuto(n: number | undefined): string {
  if (n === undefined) return '—';
  const a = Math.abs(n);
  return fmt(n, a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

export function fmt(n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Per-metric medians over the repetitions (a metric absent from a repetition is skipped). */
export function medianSample(samples: readonly Sample[]): Sample {
  const out: Sample = {};
  const keys = new Set(samples.flatMap((s) => Object.keys(s) as Metric[]));
  for (const k of keys) {
    const m = median(samples.flatMap((s) => (s[k] === undefined ? [] : [s[k]])));
    if (m !== undefined) out[k] = m;
  }
  return out;
}

export function okMedian(results: ScenarioResults, t: TargetName): Sample | null {
  const o = results[t];
  return o?.status === 'ok' ? o.median : null;
}

// ---- columns ----

export function col(header: string, metric: Metric, digits = 1): Column {
  return { header, cell: (m) => fmt(m[metric], digits) };
}

/** `metric` of this row ÷ the same metric of HAProxy in the same mode. */
export function ratioCol(header: string, metric: Metric): Column {
  return {
    header,
    cell: (m, target, table) => {
      const ref = TARGETS[target].reference;
      if (ref === null) return '—';
      const r = table.median(ref)?.[metric];
      const v = m[metric];
      if (r === undefined || v === undefined || r === 0) return '—';
      return `${fmt(v / r, 2)}×`;
    },
  };
}

export const errorsCol: Column = { header: 'errors', cell: (m) => fmt(m.errors, 0) };

// ---- checks ----

export interface RatioCheck {
  goal: string;
  target: TargetName;
  reference: TargetName;
  metric: Metric;
  unit: string;
  /** pass when target/reference ≤ max (costs) ... */
  max?: number;
  /** ... or ≥ min (throughputs) */
  min?: number;
}

export function ratioCheck(results: ScenarioResults, c: RatioCheck): Check {
  const a = okMedian(results, c.target)?.[c.metric];
  const b = okMedian(results, c.reference)?.[c.metric];
  if (a === undefined || b === undefined || b === 0) {
    const missing = a === undefined ? c.target : c.reference;
    return { goal: c.goal, status: 'n/a', measured: `${missing}: ${naReason(results[missing])}` };
  }
  const r = a / b;
  const pass = (c.max === undefined || r <= c.max) && (c.min === undefined || r >= c.min);
  return { goal: c.goal, status: pass ? 'pass' : 'fail', measured: `${fmt(r, 2)}× (${fmtAuto(a)} vs ${fmtAuto(b)} ${c.unit})` };
}

export function naReason(o: Outcome | undefined): string {
  if (o === undefined) return 'not run';
  return o.status === 'n/a' ? `n/a (${o.reason})` : 'no value';
}

// ---- markdown ----

function escapeCell(s: string): string {
  return s.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function scenarioTable(scenario: Scenario, results: ScenarioResults, targets: readonly TargetName[]): string {
  const lines: string[] = [];
  const heads = ['target', ...scenario.columns.map((c) => c.header)];
  lines.push(`| ${heads.join(' | ')} |`);
  lines.push(`| ${heads.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  const view: TableView = { median: (t) => okMedian(results, t) };
  for (const t of targets) {
    const o = results[t];
    if (o === undefined) continue;
    if (o.status === 'n/a') {
      lines.push(`| ${TARGETS[t].label} | n/a (${escapeCell(o.reason)}) |${' |'.repeat(Math.max(0, scenario.columns.length - 1))}`);
      continue;
    }
    lines.push(`| ${[TARGETS[t].label, ...scenario.columns.map((c) => escapeCell(c.cell(o.median, t, view)))].join(' | ')} |`);
  }
  return lines.join('\n');
}

export function checksList(checks: readonly Check[]): string {
  return checks.map((c) => `- **${c.status === 'pass' ? 'PASS' : c.status === 'fail' ? 'FAIL' : 'n/a'}** ${c.goal}: ${c.measured}`).join('\n');
}
