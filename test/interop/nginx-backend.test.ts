// A real nginx as the server (issue 3 "Proof"): it sees the X-Forwarded-For / -Proto / -Port the
// proxy sets, and the proxy reuses its connections to nginx ($connection_requests > 1) while
// every client request arrives on a new client connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../helpers/fullproxy.ts';
import { get } from '../helpers/http.ts';
import { nginxBinary, startNginx, NGINX_CANDIDATES } from '../helpers/nginx.ts';
import { waitFor } from '../helpers/wait.ts';

const FIELDS = ['xff', 'proto', 'port', 'connection', 'connectionRequests', 'uri'] as const;
type Line = Record<(typeof FIELDS)[number], string>;

test('nginx behind the proxy sees X-Forwarded-* and reused connections', async () => {
  assert.ok(nginxBinary() !== null, `nginx is not installed (looked in ${NGINX_CANDIDATES.join(', ')}): install it (apt-get install nginx; CI's .ci/run does) — this interop test needs a real nginx`);
  const nginx = await startNginx({
    logFormat: '$http_x_forwarded_for|$http_x_forwarded_proto|$http_x_forwarded_port|$connection|$connection_requests|$request_uri',
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      { name: 'edge', listen: '127.0.0.1:0', protocol: 'http', pool: 'nginx' },
      { name: 'behind-lb', listen: '127.0.0.1:0', protocol: 'http', pool: 'nginx', forwardedHeaders: { trustedProxies: ['127.0.0.3/32'] } },
    ],
    pools: [{ name: 'nginx', servers: [{ address: `127.0.0.1:${nginx.port}` }] }],
  });
  try {
    const edge = p.addr('edge').port;
    const behind = p.addr('behind-lb').port;
    const SEQUENTIAL = 30;
    for (let i = 0; i < SEQUENTIAL; i++) {
      // every request on a new client connection; half carry a spoofed X-Forwarded-For
      const r = await get(edge, { path: `/edge/${i}`, localAddress: '127.0.0.2', headers: i % 2 === 0 ? { 'x-forwarded-for': '6.6.6.6' } : {} });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'ok\n');
    }
    const TRUSTED = 5;
    for (let i = 0; i < TRUSTED; i++) {
      const r = await get(behind, { path: `/behind/${i}`, localAddress: '127.0.0.3', headers: { 'x-forwarded-for': '203.0.113.7' } });
      assert.equal(r.status, 200);
    }
    const total = SEQUENTIAL + TRUSTED;
    // nginx writes the access log line after the response: wait for all of them
    await waitFor(() => nginx.accessLines().length >= total, 5_000, `${total} nginx access log lines`);
    const lines: Line[] = nginx.accessLines().map((l) => {
      const parts = l.split('|');
      return Object.fromEntries(FIELDS.map((f, i) => [f, parts[i] ?? ''])) as Line;
    });
    for (const l of lines.filter((x) => x.uri.startsWith('/edge/'))) {
      assert.equal(l.xff, '127.0.0.2', `${l.uri}: X-Forwarded-For is the real peer, a spoofed value is dropped`);
      assert.equal(l.proto, 'http');
      assert.equal(l.port, String(edge), 'X-Forwarded-Port is the listener port');
    }
    for (const l of lines.filter((x) => x.uri.startsWith('/behind/'))) {
      assert.equal(l.xff, '203.0.113.7, 127.0.0.3', `${l.uri}: from a trusted proxy the peer is appended`);
      assert.equal(l.port, String(behind));
    }
    const maxRequests = Math.max(...lines.map((l) => Number(l.connectionRequests)));
    const connections = new Set(lines.map((l) => l.connection));
    assert.ok(maxRequests > 1, `nginx saw reused connections ($connection_requests max ${maxRequests})`);
    assert.ok(connections.size <= 3, `${total} client connections reached nginx over ${connections.size} connections`);
  } finally {
    await p.stop();
    await nginx.stop();
  }
});
