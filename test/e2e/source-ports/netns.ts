// Runs netns-child.ts in a network namespace of its own (`unshare -n`, we are root in CI), with lo
// up and the given sysctls; returns its JSON line, or a reason to skip.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { NODE } from '../../helpers/fullproxy.ts';

/** Null when namespaces work here; else why the namespace tests are skipped. */
export function netnsUnavailable(): string | null {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8', timeout: 5_000 });
  if (r.error !== undefined) return `unshare not runnable: ${r.error.message}`;
  if (r.status !== 0) return `unshare -n not permitted here (needs root / CAP_SYS_ADMIN): ${r.stderr.trim()}`;
  return null;
}

export function runInNetns(scenario: string, sysctls: Record<string, string>): Record<string, unknown> {
  const sets = Object.entries(sysctls).map(([k, v]) => `sysctl -qw ${k}="${v}"`);
  const script = ['ip link set lo up', ...sets, 'exec "$0" "$1" "$2"'].join(' && ');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script, NODE, join(import.meta.dirname, 'netns-child.ts'), scenario], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`netns scenario ${scenario} exited ${r.status}: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}
