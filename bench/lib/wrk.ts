// Runs wrk (one thread, pinned to the load-generator cpu) and parses its --latency report.
import type { ProcessRegistry } from './procs.ts';

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  headers: readonly string[];
  /** a wrk Lua script (-s), or null */
  script: string | null;
  cpu: number;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  bytes: number;
  rps: number;
  /** MiB/s (wrk's "MB" are binary) */
  mibps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** socket errors (connect, read, write, timeout) + non-2xx/3xx responses */
  errors: number;
  raw: string;
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

function ms(value: string | undefined, unit: string | undefined): number | null {
  if (value === undefined || unit === undefined) return null;
  const f = TIME_UNITS[unit];
  return f === undefined ? null : Number(value) * f;
}

export function parseWrk(raw: string): Omit<WrkResult, 'raw'> | null {
  const total = /([0-9]+) requests in ([0-9.]+)(us|ms|s|m|h), ([0-9.]+)([KMGT]?)B read/.exec(raw);
  if (total === null) return null;
  const requests = Number(total[1]);
  const seconds = (ms(total[2], total[3]) ?? 0) / 1000;
  const bytes = Number(total[4]) * (BYTE_UNITS[total[5] ?? ''] ?? 1);
  const p50 = /^\s+50%\s+([0-9.]+)(us|ms|s|m|h)\s*$/m.exec(raw);
  const p99 = /^\s+99%\s+([0-9.]+)(us|ms|s|m|h)\s*$/m.exec(raw);
  let errors = 0;
  const sock = /Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)/.exec(raw);
  if (sock !== null) errors += Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  const non2xx = /Non-2xx or 3xx responses: ([0-9]+)/.exec(raw);
  if (non2xx !== null) errors += Number(non2xx[1]);
  return {
    requests,
    seconds,
    bytes,
    rps: seconds > 0 ? requests / seconds : 0,
    mibps: seconds > 0 ? bytes / 1024 ** 2 / seconds : 0,
    p50Ms: ms(p50?.[1], p50?.[2]),
    p99Ms: ms(p99?.[1], p99?.[2]),
    errors,
  };
}

export async function runWrk(reg: ProcessRegistry, wrkPath: string, o: WrkOptions): Promise<WrkResult> {
  const args = ['-c', String(o.cpu), wrkPath, '-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--latency', '--timeout', '5s'];
  for (const h of o.headers) args.push('-H', h);
  if (o.script !== null) args.push('-s', o.script);
  args.push(o.url);
  const child = reg.spawn('wrk', 'taskset', args);
  await child.waitExit((o.durationS + 15) * 1000);
  if (!child.exited) {
    await child.stop(500);
    throw new Error(`wrk did not finish in ${o.durationS + 15}s`);
  }
  const parsed = parseWrk(child.stdout);
  if (parsed === null) throw new Error(`wrk: ${child.lastWords()}`);
  return { ...parsed, raw: child.stdout };
}
