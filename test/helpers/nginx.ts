// A real nginx as a test server: started as a non-daemon child (master_process off, so one
// process running as the current user) on a loopback port, with its own temp directory, config,
// pid file, error log and access log. CI installs nginx (.ci/run); locally: apt-get install nginx.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refusedPort } from './backends.ts';

export const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary, or null when it is not installed. */
export function nginxBinary(): string | null {
  return NGINX_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export interface Nginx {
  port: number;
  dir: string;
  accessLog: string;
  child: ChildProcess;
  /** Access log lines written so far. */
  accessLines(): string[];
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** `log_format` body (without the name), e.g. `'$remote_addr $connection_requests'`. */
  logFormat: string;
  /** Directives inside `server { }` besides `listen`; default answers 200 "ok". */
  server?: string;
  /** Extra directives in the `http { }` block. */
  http?: string;
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  const bin = nginxBinary();
  if (bin === null) throw new Error(`nginx is not installed (looked in ${NGINX_CANDIDATES.join(', ')}); install it with apt-get install nginx (CI: .ci/run does)`);
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'fullproxy-nginx-'));
    const port = await refusedPort(); // free a moment ago; nginx cannot report a port 0 bind
    const accessLog = join(dir, 'access.log');
    const conf = `
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  log_format fp '${opts.logFormat}';
  access_log ${accessLog} fp;
  keepalive_timeout 60s;
  keepalive_requests 10000;
  ${opts.http ?? ''}
  server {
    listen 127.0.0.1:${port};
    ${opts.server ?? 'location / { default_type text/plain; return 200 "ok\\n"; }'}
  }
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const child = spawn(bin, ['-p', dir, '-e', `${dir}/error.log`, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid;`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let exited = false;
    const exitP = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
    child.once('error', (e) => (stderr += String(e)));
    const deadline = Date.now() + 5_000;
    while (!exited && Date.now() < deadline) {
      if (await probe(port)) {
        return {
          port,
          dir,
          accessLog,
          child,
          accessLines: () => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter((l) => l !== '') : []),
          stop: async () => {
            if (!exited) child.kill('SIGQUIT'); // graceful: finishes and flushes logs
            const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
            await exitP;
            clearTimeout(t);
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!exited) child.kill('SIGKILL');
    await exitP;
    const errLog = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
    lastError = `${stderr}\n${errLog}`.trim();
    rmSync(dir, { recursive: true, force: true });
    if (!/Address already in use/.test(lastError)) break; // only a lost port race is worth a retry
  }
  throw new Error(`nginx did not start: ${lastError}`);
}
