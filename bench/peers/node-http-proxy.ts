// The node-http-proxy peer of the benchmark: node:http server + http-proxy, round robin over the
// servers, server connections kept alive by one keep-alive agent (the way it is usually deployed).
// usage: node bench/peers/node-http-proxy.ts --listen 127.0.0.1:PORT --servers HOST:PORT,HOST:PORT
import http from 'node:http';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';

const { values } = parseArgs({ options: { listen: { type: 'string' }, servers: { type: 'string' } } });
if (values.listen === undefined || values.servers === undefined) {
  process.stderr.write('usage: node-http-proxy.ts --listen HOST:PORT --servers HOST:PORT[,HOST:PORT...]\n');
  process.exit(2);
}
const listen = values.listen;
const targets = values.servers.split(',').map((s) => `http://${s}`);

// maxSockets per server like nginx's "keepalive 64" idle bound, so neither side opens unbounded pools.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64, keepAliveMsecs: 1000 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: false });

proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('bad gateway\n');
  } else {
    res.destroy();
  }
});

let next = 0;
const server = http.createServer((req, res) => {
  const target = targets[next++ % targets.length] as string;
  proxy.web(req, res, { target });
});
// Idle client connections stay open for the memory scenario (S6), as in the other proxies' configs.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 60_000;
server.requestTimeout = 0;

const i = listen.lastIndexOf(':');
server.listen(Number(listen.slice(i + 1)), listen.slice(0, i));

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
