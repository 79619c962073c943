// Real proxies IN FRONT of fullproxy (issue 5, Proof 3): HAProxy (`send-proxy-v2`, and
// `send-proxy` for v1) and nginx stream (`proxy_protocol on`) forward a client at 127.0.0.3 to
// fullproxy listeners that accept PROXY from 127.0.0.1. The server behind fullproxy must see
// 127.0.0.3, never the upstream proxy's 127.0.0.1: in X-Forwarded-For (http listener), and in
// the PROXY header fullproxy sends on (tcp listener, pool with sendProxyProtocol).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { httpBackend, type Backend } from '../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../helpers/fullproxy.ts';
import { nginxProxyErrors, startHaproxy, startNginx, type Judge } from '../helpers/judges.ts';
import { exchange, httpGet, ppBackend, type PpBackend } from '../helpers/pp-backends.ts';
import type { Server as HttpServer } from 'node:http';

const CLIENT = '127.0.0.3';

let web: Backend<HttpServer>;
const webSaw: Array<{ xff: string | undefined; remote: string | undefined; headers: IncomingHttpHeaders }> = [];
let raw: PpBackend;
let fp: RunningProxy;
let haproxy: Judge;
let nginx: Judge;

before(async () => {
  web = await httpBackend('web', (req, res) => {
    const xff = req.headers['x-forwarded-for'];
    const seen = { xff: Array.isArray(xff) ? xff.join(',') : xff, remote: req.socket.remoteAddress, headers: req.headers };
    webSaw.push(seen);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ xff: seen.xff ?? null }));
  });
  // The tcp path's server: reads fullproxy's PROXY header, answers it as one JSON line, then echoes.
  raw = await ppBackend((conn, rest) => {
    conn.socket.write(JSON.stringify(conn.header) + '\n');
    if (rest.length > 0) conn.socket.write(rest);
    conn.socket.pipe(conn.socket);
  });
  fp = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: [
      { name: 'http', listen: '127.0.0.1:0', protocol: 'http', pool: 'web', acceptProxyProtocol: { from: ['127.0.0.1'] } },
      { name: 'tcp', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'raw', acceptProxyProtocol: { from: ['127.0.0.1/32'] } },
    ],
    pools: [
      { name: 'web', servers: [{ address: web.address }] },
      { name: 'raw', sendProxyProtocol: 'v2', servers: [{ address: raw.address }] },
    ],
  });
  const fpHttp = fp.addr('http').port;
  const fpTcp = fp.addr('tcp').port;
  [haproxy, nginx] = await Promise.all([
    startHaproxy(
      ['http-v2', 'tcp-v2', 'http-v1', 'tcp-v1'],
      (port) =>
        (['v2', 'v1'] as const)
          .map(
            (v) => `
frontend http_${v}
  bind 127.0.0.1:${port(`http-${v}`)}
  default_backend fp_http_${v}
backend fp_http_${v}
  server fp 127.0.0.1:${fpHttp} ${v === 'v2' ? 'send-proxy-v2' : 'send-proxy'}
frontend tcp_${v}
  bind 127.0.0.1:${port(`tcp-${v}`)}
  default_backend fp_tcp_${v}
backend fp_tcp_${v}
  server fp 127.0.0.1:${fpTcp} ${v === 'v2' ? 'send-proxy-v2' : 'send-proxy'}
`,
          )
          .join(''),
    ),
    startNginx(['http', 'tcp'], {
      // proxy_half_close: the test client sends its FIN right after its bytes (nginx ≥ 1.21.4).
      stream: (port) => `
  proxy_half_close on;
  server { listen 127.0.0.1:${port('http')}; proxy_pass 127.0.0.1:${fpHttp}; proxy_protocol on; }
  server { listen 127.0.0.1:${port('tcp')}; proxy_pass 127.0.0.1:${fpTcp}; proxy_protocol on; }`,
    }),
  ]);
});

after(async () => {
  await Promise.all([haproxy?.stop(), nginx?.stop()]);
  await fp?.stop();
  await web?.close();
  await raw?.close();
});

const FRONTS = [
  { name: 'HAProxy send-proxy-v2', judge: () => haproxy, http: 'http-v2', tcp: 'tcp-v2' },
  { name: 'HAProxy send-proxy (v1)', judge: () => haproxy, http: 'http-v1', tcp: 'tcp-v1' },
  { name: 'nginx stream proxy_protocol on', judge: () => nginx, http: 'http', tcp: 'tcp' },
] as const;

for (const front of FRONTS) {
  describe(`${front.name} in front of fullproxy`, () => {
    test('http listener: X-Forwarded-For is the original client, not the upstream proxy', async () => {
      const port = front.judge().port(front.http);
      const before = webSaw.length;
      for (let i = 0; i < 3; i++) {
        const r = await httpGet(port, { localAddress: CLIENT });
        assert.equal(r.status, 200, r.body);
        assert.deepEqual(JSON.parse(r.body), { xff: CLIENT });
      }
      // A client that forges X-Forwarded-For through the proxy: its PROXY-given address is not a
      // trusted proxy, so the forged value is dropped (SPEC: append keeps only from trustedProxies).
      const forged = await httpGet(port, { localAddress: CLIENT, headers: { 'x-forwarded-for': '6.6.6.6' } });
      assert.deepEqual(JSON.parse(forged.body), { xff: CLIENT });
      const mine = webSaw.slice(before);
      assert.equal(mine.length, 4);
      for (const s of mine) {
        assert.equal(s.xff, CLIENT);
        assert.equal(s.remote, '127.0.0.1', "the server's TCP peer is fullproxy");
      }
    });

    test('tcp listener: the PROXY header fullproxy sends on names the original client', async () => {
      const port = front.judge().port(front.tcp);
      for (let i = 0; i < 3; i++) {
        const r = await exchange(port, `hello ${i}`, CLIENT);
        const text = r.data.toString();
        const nl = text.indexOf('\n');
        assert.ok(nl > 0, `server answered ${JSON.stringify(text)}`);
        const header = JSON.parse(text.slice(0, nl)) as { version: number; command: string; addresses: Record<string, unknown> };
        assert.equal(header.version, 2, 'fullproxy sends v2 (pool setting)');
        assert.equal(header.command, 'proxy');
        assert.deepEqual(header.addresses, {
          family: 'tcp4',
          sourceAddress: CLIENT,
          sourcePort: r.localPort,
          // The destination the upstream proxy's header gave: its own frontend.
          destinationAddress: '127.0.0.1',
          destinationPort: port,
        });
        assert.equal(text.slice(nl + 1), `hello ${i}`, 'payload intact after the headers');
      }
    });
  });
}

test('no PROXY header was refused on either side', () => {
  assert.equal(fp.proxy.listeners.get('http')!.counters.proxyHeaderErrors, 0);
  assert.equal(fp.proxy.listeners.get('tcp')!.counters.proxyHeaderErrors, 0);
  assert.deepEqual(nginxProxyErrors(nginx.file('error.log')), []);
  for (const c of raw.conns) assert.equal(c.error, null);
});
