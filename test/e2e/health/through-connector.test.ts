// Checks are made through the pool's connector, exactly like traffic: a PROXY v2 LOCAL header when
// the pool sends PROXY headers, and the source address of `source.addresses`. The admin API shows
// what the checks found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startProxy } from '../../helpers/fullproxy.ts';
import { ppBackend } from '../../helpers/pp-backends.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

test('with sendProxyProtocol "v2" a check connection starts with a PROXY v2 LOCAL header (tcp and http checks)', async () => {
  for (const type of ['tcp', 'http'] as const) {
    // After the header: answer an http check like a server would.
    const answer = 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n';
    const b = await ppBackend((conn, rest) => {
      if (rest.length > 0) conn.socket.end(answer);
      else conn.socket.once('data', () => conn.socket.end(answer));
      conn.socket.on('end', () => conn.socket.end());
    });
    const p = await startProxy({
      listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
      pools: [{ name: 'app', servers: [{ address: b.address }], sendProxyProtocol: 'v2', healthCheck: { type, interval: 100, rise: 1, fall: 1 } }],
    });
    try {
      const s = p.proxy.pools.get('app')!.find(b.address)!;
      await waitFor(() => s.checksPassed >= 2, 5_000, `${type} checks passing`);
      assert.equal(s.health, 'up');
      // A tcp check passes on connect: the server may still be reading that connection's header.
      await waitFor(() => b.conns.filter((c) => c.header !== null).length >= 2, 5_000, 'two check headers parsed');
      const conns = b.conns.filter((c) => c.header !== null);
      for (const c of conns) {
        assert.equal(c.header!.version, 2);
        assert.equal(c.header!.command, 'local', 'the connection is our own: LOCAL');
        assert.equal(c.raw![12], 0x20, 'version 2, command LOCAL on the wire');
      }
      assert.deepEqual(b.conns.filter((c) => c.error !== null), [], 'every check connection had a valid header');
    } finally {
      await p.stop();
      await b.close();
    }
  }
});

test('with source.addresses the check leaves from that address; /api/v1/pools shows the last check', async () => {
  const b = await restartable('b');
  const p = await startProxy({
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: b.address }], source: { addresses: ['127.0.0.2'] }, healthCheck: { type: 'http', path: '/healthz', interval: 100, rise: 1, fall: 1 } }],
  });
  try {
    const s = p.proxy.pools.get('app')!.find(b.address)!;
    await waitFor(() => s.checksPassed >= 2, 5_000, 'checks passing');
    assert.ok(b.peers.length >= 2);
    for (const peer of b.peers) assert.equal(peer, '127.0.0.2');
    const admin = p.proxy.adminAddress!;
    const body = await new Promise<string>((resolve, reject) => {
      request({ host: admin.host, port: admin.port, path: '/api/v1/pools' }, (res) => {
        let d = '';
        res.on('data', (c: Buffer) => (d += c.toString()));
        res.on('end', () => resolve(d));
      })
        .on('error', reject)
        .end();
    });
    const { pools } = JSON.parse(body) as { pools: Array<{ name: string; servers: Array<Record<string, unknown>> }> };
    const row = pools[0]!.servers[0]!;
    assert.equal(row['health'], 'up');
    assert.equal(row['admin'], 'enabled');
    assert.equal(typeof row['healthSince'], 'string');
    const last = row['lastCheck'] as { result: string; reason: string; latencyMs: number; at: string };
    assert.equal(last.result, 'pass');
    assert.equal(last.reason, 'status 200');
    assert.equal(typeof last.latencyMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(last.at)));
    assert.ok((row['checks'] as { passed: number }).passed >= 2);
    const metrics = await new Promise<string>((resolve, reject) => {
      request({ host: admin.host, port: admin.port, path: '/metrics' }, (res) => {
        let d = '';
        res.on('data', (c: Buffer) => (d += c.toString()));
        res.on('end', () => resolve(d));
      })
        .on('error', reject)
        .end();
    });
    assert.match(metrics, new RegExp(`fullproxy_server_health_checks_total\\{pool="app",server="${b.address}",result="pass"\\} [1-9]`));
    assert.match(metrics, new RegExp(`fullproxy_server_up\\{pool="app",server="${b.address}"\\} 1`));
  } finally {
    await p.stop();
    await b.stop();
  }
});
