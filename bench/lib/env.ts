// What a bench run needs from the machine: the tools (found, never installed), the CPUs it pins
// to, the fd limit, the clock tick; and the shared state of a run (temp dir, server addresses).
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { findExecutable, type ProcessRegistry } from './procs.ts';

/** The proxy under test runs alone on this cpu ... */
export const PROXY_CPU = 0;
/** ... and the load generator, the bench clients and the real servers share this one. */
export const LOAD_CPU = 1;

export const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export interface Tools {
  haproxy: string;
  nginx: string;
  wrk: string;
  taskset: string;
  /** `load_module ...;` for a dynamic stream module, '' when nginx has it built in */
  nginxStreamModuleLine: string;
}

/** Finds the tools; on failure returns what is missing, as lines for the user. */
export function findTools(): { ok: true; tools: Tools } | { ok: false; missing: string[] } {
  const missing: string[] = [];
  const haproxy = findExecutable('haproxy');
  const nginx = findExecutable('nginx');
  const wrk = findExecutable('wrk');
  const taskset = findExecutable('taskset');
  if (haproxy === null) missing.push('haproxy (Debian: apt-get install haproxy)');
  if (nginx === null) missing.push('nginx (Debian: apt-get install nginx libnginx-mod-stream)');
  if (wrk === null) missing.push('wrk (Debian: apt-get install wrk)');
  if (taskset === null) missing.push('taskset (Debian: apt-get install util-linux)');
  // S4/S5 make their throwaway certificates with it (lib/certs.ts)
  if (findExecutable('openssl') === null) missing.push('openssl (Debian: apt-get install openssl)');
  let nginxStreamModuleLine = '';
  if (nginx !== null) {
    const v = spawnSync(nginx, ['-V'], { encoding: 'utf8' });
    const built = `${v.stdout}${v.stderr}`;
    const staticStream = /--with-stream(\s|$)/.test(built);
    if (!staticStream) {
      if (existsSync(STREAM_MODULE)) nginxStreamModuleLine = `load_module ${STREAM_MODULE};`;
      else missing.push(`the nginx stream module ${STREAM_MODULE} (Debian: apt-get install libnginx-mod-stream)`);
    }
  }
  try {
    import.meta.resolve('http-proxy');
  } catch {
    missing.push('http-proxy (npm devDependency of this repo: run npm install)');
  }
  if (availableParallelism() < 2) missing.push(`a second CPU (the proxy is pinned to cpu ${PROXY_CPU}, the load generator to cpu ${LOAD_CPU}); this machine has ${availableParallelism()}`);
  if (missing.length > 0 || haproxy === null || nginx === null || wrk === null || taskset === null) return { ok: false, missing };
  return { ok: true, tools: { haproxy, nginx, wrk, taskset, nginxStreamModuleLine } };
}

/** Soft RLIMIT_NOFILE of this process, inherited by everything it starts. */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+([0-9]+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (m?.[1] !== undefined) return Number(m[1]);
  } catch {
    // not Linux?
  }
  return 1024;
}

export function clockTicksPerSecond(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/** A port that was free a moment ago on 127.0.0.1 (the proxies need it in their config file). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Shared state of one run. */
export interface BenchEnv {
  readonly reg: ProcessRegistry;
  readonly tools: Tools;
  /** temp dir for generated configs, pid files, logs and the 1 MiB file */
  readonly dir: string;
  readonly repoRoot: string;
  /** Node 24 (the one running this script) for fullproxy and the Node peers */
  readonly node: string;
  /** The form of fullproxy the image runs: the bundle scripts/build.ts made for this run (dir/dist). */
  readonly fullproxy: string;
  readonly nofile: number;
  readonly clkTck: number;
  /** the two real servers, host:port */
  readonly servers: readonly [string, string];
  readonly log: (line: string) => void;
}
