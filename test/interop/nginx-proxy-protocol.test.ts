// nginx judges the PROXY headers fullproxy sends (issue 5, Proof 1): nginx listens with
// `proxy_protocol` (http and stream modules), fullproxy's tcp and http listeners sit in front
// with sendProxyProtocol v1 / v2, and clients bind 127.0.0.2 / 127.0.0.3. nginx must report
// the test client's address and port ($proxy_protocol_addr / $proxy_protocol_port), the
// listener's address and port as the destination, and log no PROXY error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { startProxy, type RunningProxy } from '../helpers/fullproxy.ts';
import { nginxProxyErrors, startNginx, type Judge } from '../helpers/judges.ts';
import { exchange, httpGet } from '../helpers/pp-backends.ts';

const CLIENTS = ['127.0.0.2', '127.0.0.3'] as const;
const VERSIONS = ['v1', 'v2'] as const;

let nginx: Judge;
let fp: RunningProxy;

before(async () => {
  nginx = await startNginx(['http', 'stream'], {
    http: (port, dir) => `
  log_format pp '$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port $remote_addr';
  server {
    listen 127.0.0.1:${port('http')} proxy_protocol;
    access_log ${dir}/pp-http.log pp;
    location / {
      default_type text/plain;
      return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port xff=$http_x_forwarded_for\\n";
    }
  }`,
    stream: (port) => `
  server {
    listen 127.0.0.1:${port('stream')} proxy_protocol;
    return "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\\n";
  }`,
  });
  const httpAddr = `127.0.0.1:${nginx.port('http')}`;
  const streamAddr = `127.0.0.1:${nginx.port('stream')}`;
  fp = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: VERSIONS.flatMap((v) => [
      { name: `tcp-stream-${v}`, listen: '127.0.0.1:0', protocol: 'tcp', pool: `stream-${v}` },
      { name: `tcp-http-${v}`, listen: '127.0.0.1:0', protocol: 'tcp', pool: `http-${v}` },
      { name: `http-${v}`, listen: '127.0.0.1:0', protocol: 'http', pool: `http-${v}` },
    ]),
    pools: VERSIONS.flatMap((v) => [
      { name: `stream-${v}`, sendProxyProtocol: v, servers: [{ address: streamAddr }] },
      { name: `http-${v}`, sendProxyProtocol: v, servers: [{ address: httpAddr }] },
    ]),
  });
});

after(async () => {
  await fp?.stop();
  await nginx?.stop();
});

/** "addr port serverAddr serverPort ..." as nginx returned it. */
function fields(line: string): { addr: string; port: number; serverAddr: string; serverPort: number; rest: string } {
  const [addr = '', port = '', serverAddr = '', serverPort = '', ...rest] = line.trim().split(' ');
  return { addr, port: Number(port), serverAddr, serverPort: Number(serverPort), rest: rest.join(' ') };
}

for (const v of VERSIONS) {
  describe(`PROXY ${v} toward nginx`, () => {
    test('stream module behind a fullproxy tcp listener: the client address and port, the listener as destination', async () => {
      const l = fp.addr(`tcp-stream-${v}`);
      for (const client of CLIENTS) {
        for (let i = 0; i < 3; i++) {
          const r = await exchange(l.port, '', client);
          const f = fields(r.data.toString());
          assert.equal(f.addr, client, `nginx stream saw ${r.data.toString()}`);
          assert.equal(f.port, r.localPort, 'the client port of this very connection');
          assert.equal(f.serverAddr, '127.0.0.1');
          assert.equal(f.serverPort, l.port, "the destination is fullproxy's listener");
        }
      }
    });

    test('http module behind a fullproxy tcp listener (raw HTTP through L4)', async () => {
      const l = fp.addr(`tcp-http-${v}`);
      for (const client of CLIENTS) {
        const r = await exchange(l.port, 'GET / HTTP/1.1\r\nHost: judge\r\nConnection: close\r\n\r\n', client);
        const text = r.data.toString();
        assert.match(text, /^HTTP\/1\.1 200 /, text);
        const f = fields(text.slice(text.indexOf('\r\n\r\n') + 4));
        assert.equal(f.addr, client);
        assert.equal(f.port, r.localPort);
        assert.equal(f.serverAddr, '127.0.0.1');
        assert.equal(f.serverPort, l.port);
        assert.equal(f.rest, 'xff=', 'L4: nobody added X-Forwarded-For');
      }
    });

    test('http module behind a fullproxy http listener: new connections and keep-alive, both client addresses', async () => {
      const l = fp.addr(`http-${v}`);
      // New connection per request, alternating addresses. Server connections are pooled per
      // client address (SPEC), so a later request of the same address may ride a connection
      // whose PROXY header named an earlier port of that address: the address must match
      // always, the port must be one this address used.
      const portsBy = new Map<string, number[]>(CLIENTS.map((c) => [c, []]));
      for (let i = 0; i < 6; i++) {
        const client = CLIENTS[i % 2]!;
        const r = await httpGet(l.port, { localAddress: client });
        assert.equal(r.status, 200, r.body);
        const used = portsBy.get(client)!;
        used.push(r.localPort);
        const f = fields(r.body);
        assert.equal(f.addr, client, `nginx saw ${r.body}`);
        if (i < 2) assert.equal(f.port, r.localPort, "first request of this address: a fresh server connection with this client's port");
        else assert.ok(used.includes(f.port), `port ${f.port} is one of ${client}'s ports ${used.join(',')}`);
        assert.equal(f.serverAddr, '127.0.0.1');
        assert.equal(f.serverPort, l.port);
        assert.equal(f.rest, `xff=${client}`, 'X-Forwarded-For agrees with the PROXY header');
      }
      // Keep-alive clients of both addresses, interleaved.
      const agents = CLIENTS.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
      try {
        for (let i = 0; i < 6; i++) {
          const c = i % 2;
          const client = CLIENTS[c]!;
          const r = await httpGet(l.port, { localAddress: client, agent: agents[c]! });
          assert.equal(r.status, 200);
          portsBy.get(client)!.push(r.localPort);
          const f = fields(r.body);
          assert.equal(f.addr, client, `nginx saw ${r.body}`);
          assert.ok(portsBy.get(client)!.includes(f.port));
          assert.equal(f.rest, `xff=${client}`);
        }
      } finally {
        for (const a of agents) a.destroy();
      }
    });
  });
}

test('nginx logged every client address in its access log and no PROXY error', async () => {
  const access = nginx.file('pp-http.log');
  for (const client of CLIENTS) assert.ok(access.includes(`${client} `), `access log names ${client}:\n${access}`);
  for (const line of access.trim().split('\n')) {
    const [addr] = line.split(' ');
    assert.ok(CLIENTS.includes(addr as (typeof CLIENTS)[number]), `every request came from a test client: ${line}`);
  }
  const errors = nginxProxyErrors(nginx.file('error.log'));
  assert.deepEqual(errors, [], `nginx error.log:\n${nginx.file('error.log')}`);
});
