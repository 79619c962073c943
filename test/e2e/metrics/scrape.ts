// Reading /metrics in tests: fetch a scrape, parse its samples, look values up by name and labels.
import { spawnSync } from 'node:child_process';
import type { RunningProxy } from '../../helpers/fullproxy.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Scrape {
  readonly text: string;
  readonly samples: Sample[];
  /** Names of the metric families (# TYPE lines) and their types. */
  readonly types = new Map<string, string>();

  constructor(text: string) {
    this.text = text;
    this.samples = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type !== null) this.types.set(type[1]!, type[2]!);
      if (line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (m === null) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      this.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** The sum of the samples named `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    let n = 0;
    for (const s of this.samples) if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) n += s.value;
    return n;
  }

  /** How many samples named `name` have labels including `match`. */
  count(name: string, match: Record<string, string> = {}): number {
    return this.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).length;
  }
}

export function adminBase(p: RunningProxy): string {
  const a = p.proxy.adminAddress!;
  return `http://${a.host}:${a.port}`;
}

export async function scrape(p: RunningProxy): Promise<Scrape> {
  const res = await fetch(`${adminBase(p)}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return new Scrape(await res.text());
}

/** promtool's path, or null when it is not installed (CI installs it: .ci/run). */
export function promtool(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
