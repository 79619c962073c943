// The bare Node peer of the benchmark: node:net and pipe() in both directions, round robin over
// the servers, nothing else — no parsing, no session table, no timers. It is the floor of any
// proxy written on Node's streams, and shows in the same run how much of fullproxy's cost per
// request is Node's own (one read and one write each way through libuv and V8).
// usage: node bench/peers/node-net-pipe.ts --listen 127.0.0.1:PORT --servers HOST:PORT,HOST:PORT
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, servers: { type: 'string' } } });
if (values.listen === undefined || values.servers === undefined) {
  process.stderr.write('usage: node-net-pipe.ts --listen HOST:PORT --servers HOST:PORT[,HOST:PORT...]\n');
  process.exit(2);
}

// Not lib/targets.ts's splitHostPort: importing the bench's libraries would load them into the
// measured process (its RSS is S6's figure), so the peer stays on node: modules alone.
function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const servers = values.servers.split(',').map(hostPort);
let next = 0;

// noDelay on both sides, as a proxy author would set it (fullproxy, HAProxy and nginx do not
// wait for Nagle either); allowHalfOpen so that a FIN is passed on, not answered.
const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  const target = servers[next++ % servers.length]!;
  const upstream = net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.pipe(upstream);
  upstream.pipe(client);
});
const listen = hostPort(values.listen);
server.listen(listen.port, listen.host);

const stop = (): void => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
