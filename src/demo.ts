// `fullproxy demo`: three small loopback HTTP servers that say who they are, the proxy in front of
// them from config/demo.json, and the lines to try. Stops on SIGTERM/SIGINT like `run`.
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from './config/load.ts';
import { parseHostPort } from './net/address.ts';
import { run } from './run.ts';

const DEMO_CONFIG = fileURLToPath(new URL('../config/demo.json', import.meta.url));

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
  const loaded = loadConfigFile(DEMO_CONFIG);
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
    lines.push(`  curl -s http://${l.listen}/            # ${l.protocol} listener "${l.name}" → pool "${l.pool}" (${pool.scheduler}); run it a few times`);
  }
  lines.push(`  for i in 1 2 3 4 5 6; do curl -s http://${config.listeners[0]?.listen ?? '127.0.0.1:8080'}/; done`);
  if (config.admin !== undefined) lines.push(`  curl -s http://${config.admin.listen}/api/v1/stats   # admin API`);
  lines.push('Stop with Ctrl-C.', '');
  setTimeout(() => process.stderr.write(`${lines.join('\n')}\n`), 100);
  const code = await run(config, loaded.path);
  for (const s of servers) s.close();
  return code;
}
