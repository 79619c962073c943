// Third-party judges for interop tests: real HAProxy and nginx, started as foreground children
// with a temp config in a temp dir, on loopback ports picked free. Each instance gets an extra
// "probe" port (an HTTP server block / frontend of its own): when it accepts, every listener of
// the config is bound, and probing it never sends traffic through the proxies under test.
//
//   const h = await startHaproxy(['front'], (port) => `frontend f\n  bind 127.0.0.1:${port('front')}\n ...`);
//   ... h.port('front') ...
//   await h.stop();
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HAPROXY = process.env['HAPROXY_BIN'] ?? '/usr/sbin/haproxy';
export const NGINX = process.env['NGINX_BIN'] ?? '/usr/sbin/nginx';
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export interface Judge {
  readonly kind: 'haproxy' | 'nginx';
  /** The temp dir holding the config and logs. */
  readonly dir: string;
  /** The config text as written. */
  readonly config: string;
  /** A port allocated under `name` when the judge was started. */
  port(name: string): number;
  /** stdout + stderr of the process so far. */
  output(): string;
  /** A file of the temp dir ('' when absent), e.g. nginx's error.log. */
  file(name: string): string;
  stop(): Promise<void>;
}

// Judges still running when the test process exits are killed (they are our children).
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** `n` distinct free loopback ports: bound together on port 0, then released. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, host, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Resolves once host:port accepts a TCP connection; rejects at the deadline or when `gone()` says the process died. */
async function waitAccepting(port: number, deadline: number, gone: () => string | null, host = '127.0.0.1'): Promise<void> {
  for (;;) {
    const died = gone();
    if (died !== null) throw new Error(died);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing accepts on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Spec {
  kind: 'haproxy' | 'nginx';
  bin: string;
  args: (dir: string, configPath: string) => string[];
  configFile: string;
  render: (dir: string, port: (name: string) => number, probe: number) => string;
}

async function startJudge(spec: Spec, names: readonly string[], timeoutMs: number): Promise<Judge> {
  if (!existsSync(spec.bin)) throw new Error(`${spec.kind} is not installed at ${spec.bin} (.ci/run installs it from Debian)`);
  let lastError: Error | null = null;
  // A port picked free can be taken by someone else before the judge binds it: retry with new ones.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), `fp-${spec.kind}-`));
    const list = await freePorts(names.length + 1);
    const ports = new Map(names.map((n, i) => [n, list[i]!]));
    const probe = list[names.length]!;
    const port = (name: string): number => {
      const p = ports.get(name);
      if (p === undefined) throw new Error(`${spec.kind}: no port named ${name} (declare it when starting)`);
      return p;
    };
    const config = spec.render(dir, port, probe);
    const configPath = join(dir, spec.configFile);
    writeFileSync(configPath, config);
    const child = spawn(spec.bin, spec.args(dir, configPath), { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let exit: string | null = null;
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        running.delete(child);
        exit = `${spec.kind} exited (${code ?? signal}) while starting:\n${out}${readIf(join(dir, 'error.log'))}`;
        resolve();
      }),
    );
    child.once('error', (e) => (exit = `${spec.kind} could not be started: ${e.message}`));
    const judge: Judge = {
      kind: spec.kind,
      dir,
      config,
      port,
      output: () => out,
      file: (name) => readIf(join(dir, name)),
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
          await exited;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await waitAccepting(probe, Date.now() + timeoutMs, () => exit);
      return judge;
    } catch (e) {
      lastError = e as Error;
      await judge.stop();
    }
  }
  throw lastError ?? new Error(`${spec.kind} did not start`);
}

function readIf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * HAProxy in the foreground (`haproxy -db -f cfg`). `sections` is the config after `global`
 * and `defaults` (timeouts set, mode tcp); it may use `port(name)` for each name in `names`.
 */
export function startHaproxy(names: readonly string[], sections: (port: (name: string) => number) => string, timeoutMs = 10_000): Promise<Judge> {
  return startJudge(
    {
      kind: 'haproxy',
      bin: HAPROXY,
      configFile: 'haproxy.cfg',
      args: (_dir, cfg) => ['-db', '-f', cfg],
      render: (_dir, port, probe) =>
        [
          'global',
          '  nbthread 1',
          '  log stderr format raw local0 notice',
          '',
          'defaults',
          '  mode tcp',
          '  log global',
          '  timeout connect 2s',
          '  timeout client 10s',
          '  timeout server 10s',
          '',
          'frontend fp_probe',
          '  mode http',
          `  bind 127.0.0.1:${probe}`,
          '  http-request return status 200',
          '',
          sections(port),
          '',
        ].join('\n'),
    },
    names,
    timeoutMs,
  );
}

export interface NginxBlocks {
  /** Inside `http { }` (a probe server is added). */
  http?: (port: (name: string) => number, dir: string) => string;
  /** Inside `stream { }` (the stream module is loaded). */
  stream?: (port: (name: string) => number, dir: string) => string;
}

/**
 * nginx in the foreground (`daemon off`), prefix and every log, pid and temp path in its temp
 * dir; error.log at level info (read it with `file('error.log')`).
 */
export function startNginx(names: readonly string[], blocks: NginxBlocks, timeoutMs = 10_000): Promise<Judge> {
  return startJudge(
    {
      kind: 'nginx',
      bin: NGINX,
      configFile: 'nginx.conf',
      args: (dir, cfg) => ['-p', dir, '-c', cfg, '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`],
      render: (dir, port, probe) =>
        [
          blocks.stream !== undefined ? `load_module ${NGINX_STREAM_MODULE};` : '',
          'worker_processes 1;',
          `error_log ${join(dir, 'error.log')} info;`,
          'events { worker_connections 512; }',
          'http {',
          `  access_log ${join(dir, 'access.log')};`,
          `  client_body_temp_path ${join(dir, 'client_body')};`,
          `  proxy_temp_path ${join(dir, 'proxy')};`,
          `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
          `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
          `  scgi_temp_path ${join(dir, 'scgi')};`,
          `  server { listen 127.0.0.1:${probe}; access_log off; return 200 "probe\\n"; }`,
          blocks.http?.(port, dir) ?? '',
          '}',
          blocks.stream !== undefined ? `stream {\n${blocks.stream(port, dir)}\n}` : '',
          '',
        ].join('\n'),
    },
    names,
    timeoutMs,
  );
}

/** Lines of nginx's error log that speak of the PROXY protocol (nginx logs a bad header as "broken header"). */
export function nginxProxyErrors(errorLog: string): string[] {
  return errorLog.split('\n').filter((l) => /broken header|PROXY protocol|proxy_protocol/i.test(l));
}
