// `fullproxy demo`: three small loopback HTTP servers that say who they are, the proxy in front of
// them from config/demo.json, and the lines to try. Stops on SIGTERM/SIGINT like `run`.
//
// HTTPS too: on its first run the demo makes development certificates into certs/dev/ (git-ignored;
// certs/make-dev-certs.sh, with openssl) and adds an https listener on 127.0.0.1:8443 to the
// config it runs, written to a temp dir (a reload — SIGHUP — reads that file). Without openssl the
// demo runs without it and says so.
import type { Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from './config/load.ts';
import { parseHostPort } from './net/address.ts';
import { run } from './run.ts';

// getBuiltinModule, not an ESM import: see admin/admin-server.ts (an ESM import of node:http loads undici).
const { createServer } = process.getBuiltinModule('node:http');

const DEMO_CONFIG = fileURLToPath(new URL('../config/demo.json', import.meta.url));
const CERTS = fileURLToPath(new URL('../certs/', import.meta.url));
const HTTPS_LISTEN = '127.0.0.1:8443';

/** The development certificates, made on the first run; null when they cannot be (no openssl). */
function devCertificates(): { cert: string; key: string }[] | null {
  const dev = join(CERTS, 'dev');
  const files = [
    { cert: join(dev, 'localhost.crt'), key: join(dev, 'localhost.key') },
    { cert: join(dev, 'other.crt'), key: join(dev, 'other.key') },
  ];
  const present = (): boolean => files.every((f) => existsSync(f.cert) && existsSync(f.key));
  if (present()) return files;
  const r = spawnSync('sh', [join(CERTS, 'make-dev-certs.sh')], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0 || !present()) {
    process.stderr.write(`demo: no development certificates (certs/make-dev-certs.sh needs openssl: ${r.stderr?.toString().trim() || `exit ${String(r.status)}`}); running without the https listener\n`);
    return null;
  }
  return files;
}

/** config/demo.json, plus the https listener when certificates exist, in a file of its own. */
function demoConfigFile(): string {
  const config = JSON.parse(readFileSync(DEMO_CONFIG, 'utf8')) as { listeners: Record<string, unknown>[] };
  const certificates = devCertificates();
  if (certificates !== null) config.listeners.splice(1, 0, { name: 'https', listen: HTTPS_LISTEN, protocol: 'http', pool: 'demo', tls: { certificates } });
  const file = join(mkdtempSync(join(tmpdir(), 'fullproxy-demo-')), 'demo.json');
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

function startServer(name: string, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const body = `hello from ${name} (${host}:${port}) — you asked for ${req.method} ${req.url}, from ${req.socket.remoteAddress}:${req.socket.remotePort}, X-Forwarded-For: ${req.headers['x-forwarded-for'] ?? '-'}\n`;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-served-by': name });
    res.end(body);
  });
  // The tcp listener forwards raw bytes: answer them as HTTP too.
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export async function runDemo(): Promise<number> {
  const configFile = demoConfigFile();
  const loaded = loadConfigFile(configFile);
  if (!loaded.ok) {
    for (const line of loaded.errors) process.stderr.write(`${line}\n`);
    return 1;
  }
  const config = loaded.config;
  const pool = config.pools[0];
  if (pool === undefined) return 1;
  const servers = await Promise.all(
    pool.servers.map((s, i) => {
      const ep = parseHostPort(s.address);
      if (ep === null) throw new Error(`bad demo server ${s.address}`);
      return startServer(`server-${i + 1}`, ep.host, ep.port);
    }),
  );
  const lines = ['', 'fullproxy demo is running. Try:'];
  for (const l of config.listeners) {
    if (l.tls !== undefined) {
      lines.push(`  curl -s --cacert ${join(CERTS, 'dev', 'ca.crt')} https://localhost:${l.listen.split(':')[1]}/   # TLS offload: listener "${l.name}" (SNI: localhost, other.localhost)`);
      continue;
    }
    lines.push(`  curl -s http://${l.listen}/            # ${l.protocol} listener "${l.name}" → pool "${l.pool}" (${pool.scheduler}); run it a few times`);
  }
  lines.push(`  for i in 1 2 3 4 5 6; do curl -s http://${config.listeners[0]?.listen ?? '127.0.0.1:8080'}/; done`);
  if (config.admin !== undefined) lines.push(`  curl -s http://${config.admin.listen}/api/v1/stats   # admin API`);
  lines.push(`The running config is ${configFile}: edit it and send SIGHUP (kill -HUP ${process.pid}) to reload.`, 'Stop with Ctrl-C.', '');
  setTimeout(() => process.stderr.write(`${lines.join('\n')}\n`), 100);
  const code = await run(config, configFile);
  for (const s of servers) s.close();
  return code;
}
