// The proxies under test (and the direct path as the ceiling): how each one is configured,
// started pinned to the proxy cpu, recognised as ready, and stopped.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_CPU, freePort, type BenchEnv } from './env.ts';
import { writeConfig } from './configs.ts';
import { processTree, rssKiB, waitForPort, type Child } from './procs.ts';
import { benchCertificate } from './certs.ts';

/** The plain-text targets of S1–S3, S6, S7. */
export const PLAIN_TARGET_NAMES = ['direct', 'fullproxy-tcp', 'haproxy-tcp', 'nginx-stream', 'node-net-pipe', 'fullproxy-http', 'haproxy-http', 'nginx-http', 'node-http-proxy'] as const;
/**
 * The TLS-terminating http proxies of S4 and S5 (servers stay plain HTTP: TLS offload), each with
 * the bench's throwaway ECDSA P-256 certificate, or its RSA 2048 one (`-rsa`).
 */
export const TLS_TARGET_NAMES = ['fullproxy-https', 'haproxy-https', 'nginx-https', 'fullproxy-https-rsa', 'haproxy-https-rsa', 'nginx-https-rsa'] as const;
export const TARGET_NAMES = [...PLAIN_TARGET_NAMES, ...TLS_TARGET_NAMES] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
export type Mode = 'direct' | 'tcp' | 'http' | 'https';

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
  'fullproxy-https': { mode: 'https', reference: 'haproxy-https', label: 'fullproxy https (ECDSA P-256)' },
  'haproxy-https': { mode: 'https', reference: 'haproxy-https', label: 'HAProxy https (ECDSA P-256)' },
  'nginx-https': { mode: 'https', reference: 'haproxy-https', label: 'nginx https (ECDSA P-256)' },
  'fullproxy-https-rsa': { mode: 'https', reference: 'haproxy-https-rsa', label: 'fullproxy https (RSA 2048)' },
  'haproxy-https-rsa': { mode: 'https', reference: 'haproxy-https-rsa', label: 'HAProxy https (RSA 2048)' },
  'nginx-https-rsa': { mode: 'https', reference: 'haproxy-https-rsa', label: 'nginx https (RSA 2048)' },
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
  /** VmRSS of that tree just after start, before any load (S6's baseline); null for the direct path */
  readonly rssAtStartKiB: number | null;
  /** null while healthy, else why not */
  failure(): string | null;
  stop(): Promise<void>;
}

export class StartError extends Error {}

const PEER = fileURLToPath(new URL('../peers/node-http-proxy.ts', import.meta.url));
const NET_PIPE = fileURLToPath(new URL('../peers/node-net-pipe.ts', import.meta.url));

/** Generous but bounded (nginx and HAProxy start in milliseconds, Node in a few hundred). */
const START_TIMEOUT_MS = 20_000;

let seq = 0;

export async function startTarget(env: BenchEnv, name: TargetName): Promise<RunningTarget> {
  const host = '127.0.0.1';
  if (name === 'direct') {
    const [h, p] = splitHostPort(env.servers[0]);
    return { name, host: h, port: p, child: null, pids: () => [], rssAtStartKiB: null, failure: () => null, stop: async () => {} };
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
      child = pinned(env.node, [env.fullproxy, '--config', cfg]);
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
    case 'fullproxy-https':
    case 'fullproxy-https-rsa': {
      const c = benchCertificate(env.dir, name.endsWith('-rsa') ? 'rsa' : 'ec');
      const cfg = writeConfig(env.dir, 'fullproxy-https.json', `${name}-${n}.json`, { PORT: port, SERVER1: server1, SERVER2: server2, CERT: c.cert, KEY: c.key });
      child = pinned(env.node, [env.fullproxy, '--config', cfg]);
      break;
    }
    case 'haproxy-https':
    case 'haproxy-https-rsa': {
      const c = benchCertificate(env.dir, name.endsWith('-rsa') ? 'rsa' : 'ec');
      const cfg = writeConfig(env.dir, 'haproxy-https.cfg', `${name}-${n}.cfg`, { PORT: port, SERVER1: server1, SERVER2: server2, MAXCONN: maxconn, PEM: c.pem });
      child = pinned(env.tools.haproxy, ['-db', '-f', cfg]);
      break;
    }
    case 'nginx-https':
    case 'nginx-https-rsa': {
      const c = benchCertificate(env.dir, name.endsWith('-rsa') ? 'rsa' : 'ec');
      const values = { DIR: env.dir, PORT: port, SERVER1: server1, SERVER2: server2, NOFILE: env.nofile, WORKER_CONNECTIONS: workerConnections, CERT: c.cert, KEY: c.key, NAME: `${name}-${n}` };
      const cfg = writeConfig(env.dir, 'nginx-https.conf', `${name}-${n}.conf`, values);
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
  // Idle RSS just after start: what an operator sees before traffic (issue 18 §11). A short settle
  // lets the startup's garbage and nginx's worker fork land.
  await new Promise((r) => setTimeout(r, 500));
  const rssAtStartKiB = child.exited ? null : rssKiB(processTree(child.pid));
  return {
    name,
    host,
    port,
    child,
    rssAtStartKiB,
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
