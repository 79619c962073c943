// The proxies under test (and the direct path as the ceiling): how each one is configured,
// started pinned to the proxy cpu, recognised as ready, and stopped.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_CPU, freePort, type BenchEnv } from './env.ts';
import { writeConfig } from './configs.ts';
import { processTree, waitForPort, type Child } from './procs.ts';

export const TARGET_NAMES = ['direct', 'fullproxy-tcp', 'haproxy-tcp', 'nginx-stream', 'node-net-pipe', 'fullproxy-http', 'haproxy-http', 'nginx-http', 'node-http-proxy'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
export type Mode = 'direct' | 'tcp' | 'http';

export interface TargetInfo {
  readonly mode: Mode;
  /** HAProxy in the same mode: the reference of the ratio columns */
  readonly reference: TargetName | null;
  readonly label: string;
}

export const TARGETS: Readonly<Record<TargetName, TargetInfo>> = {
  direct: { mode: 'direct', reference: null, label: 'direct (wrk → nginx, ceiling)' },
  'fullproxy-tcp': { mode: 'tcp', reference: 'haproxy-tcp', label: 'fullproxy tcp' },
  'haproxy-tcp': { mode: 'tcp', reference: 'haproxy-tcp', label: 'HAProxy mode tcp' },
  'nginx-stream': { mode: 'tcp', reference: 'haproxy-tcp', label: 'nginx stream' },
  'node-net-pipe': { mode: 'tcp', reference: 'haproxy-tcp', label: 'bare Node net pipe (floor)' },
  'fullproxy-http': { mode: 'http', reference: 'haproxy-http', label: 'fullproxy http' },
  'haproxy-http': { mode: 'http', reference: 'haproxy-http', label: 'HAProxy mode http' },
  'nginx-http': { mode: 'http', reference: 'haproxy-http', label: 'nginx http' },
  'node-http-proxy': { mode: 'http', reference: 'haproxy-http', label: 'node-http-proxy' },
};

export function isTargetName(s: string): s is TargetName {
  return (TARGET_NAMES as readonly string[]).includes(s);
}

export interface RunningTarget {
  readonly name: TargetName;
  readonly host: string;
  readonly port: number;
  /** null for the direct path: no proxy process to measure */
  readonly child: Child | null;
  /** the proxy's process tree now (nginx: master + worker) */
  pids(): number[];
  /** null while healthy, else why not */
  failure(): string | null;
  stop(): Promise<void>;
}

export class StartError extends Error {}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PEER = fileURLToPath(new URL('../peers/node-http-proxy.ts', import.meta.url));
const NET_PIPE = fileURLToPath(new URL('../peers/node-net-pipe.ts', import.meta.url));

/** Startup includes Node compiling TypeScript-stripped sources; generous but bounded. */
const START_TIMEOUT_MS = 20_000;

let seq = 0;

export async function startTarget(env: BenchEnv, name: TargetName): Promise<RunningTarget> {
  const host = '127.0.0.1';
  if (name === 'direct') {
    const [h, p] = splitHostPort(env.servers[0]);
    return { name, host: h, port: p, child: null, pids: () => [], failure: () => null, stop: async () => {} };
  }
  const port = await freePort();
  const n = ++seq;
  const [server1, server2] = env.servers;
  // HAProxy / nginx count client and server connections against these limits; S6 opens up to
  // 10,000 idle client connections (and as many server connections in tcp mode).
  const maxconn = 10_100;
  const workerConnections = Math.max(1024, env.nofile - 64);
  const pinned = (cmd: string, args: readonly string[]): Child => env.reg.spawn(name, env.tools.taskset, ['-c', String(PROXY_CPU), cmd, ...args], { cwd: env.repoRoot });
  let child: Child;
  switch (name) {
    case 'fullproxy-tcp':
    case 'fullproxy-http': {
      const cfg = writeConfig(env.dir, `${name}.json`, `${name}-${n}.json`, { PORT: port, SERVER1: server1, SERVER2: server2 });
      child = pinned(env.node, [join(REPO_ROOT, 'src/main.ts'), '--config', cfg]);
      break;
    }
    case 'haproxy-tcp':
    case 'haproxy-http': {
      const cfg = writeConfig(env.dir, `${name}.cfg`, `${name}-${n}.cfg`, { PORT: port, SERVER1: server1, SERVER2: server2, MAXCONN: maxconn });
      child = pinned(env.tools.haproxy, ['-db', '-f', cfg]);
      break;
    }
    case 'nginx-stream':
    case 'nginx-http': {
      const values: Record<string, string | number> = {
        DIR: env.dir,
        PORT: port,
        SERVER1: server1,
        SERVER2: server2,
        NOFILE: env.nofile,
        WORKER_CONNECTIONS: workerConnections,
      };
      if (name === 'nginx-stream') values['LOAD_STREAM_MODULE'] = env.tools.nginxStreamModuleLine;
      const cfg = writeConfig(env.dir, `${name}.conf`, `${name}-${n}.conf`, values);
      child = pinned(env.tools.nginx, ['-p', env.dir, '-e', join(env.dir, `${name}-error.log`), '-c', cfg]);
      break;
    }
    case 'node-http-proxy':
      child = pinned(env.node, [PEER, '--listen', `${host}:${port}`, '--servers', `${server1},${server2}`]);
      break;
    case 'node-net-pipe':
      child = pinned(env.node, [NET_PIPE, '--listen', `${host}:${port}`, '--servers', `${server1},${server2}`]);
      break;
    default: {
      const never: never = name;
      throw new Error(`unknown target ${String(never)}`);
    }
  }
  const ready = await waitForPort(host, port, START_TIMEOUT_MS, child);
  if (!ready) {
    await child.waitExit(300);
    const why = child.exited ? child.lastWords() : `not listening on ${host}:${port} after ${START_TIMEOUT_MS / 1000}s (${child.lastWords()})`;
    await child.stop(1000);
    throw new StartError(why);
  }
  return {
    name,
    host,
    port,
    child,
    pids: () => (child.exited ? [] : processTree(child.pid)),
    failure: () => (child.exited ? child.lastWords() : null),
    // A short grace: the bench needs no graceful drain, and a proxy that hangs on exit costs run time.
    stop: () => child.stop(1500),
  };
}

export function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}
