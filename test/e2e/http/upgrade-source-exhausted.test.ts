// An Upgrade request gets the same failure classification as any request (issue 13 row 1): when
// no source port is free toward the server, that is our own exhaustion, answered 503
// source-exhausted; it is never counted against the server (no connectErrors, no passive failure
// that could take a healthy server down). The old tunnel path counted it as the server's failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const UPGRADE = (path: string) => `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;

test('Upgrade requests with every source port taken: 503 source-exhausted, never the server failing', async () => {
  const b = await tcpBackend((s: Socket) => {
    s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
    s.on('end', () => s.end());
  });
  // one source port, below the kernel's ephemeral range, random so parallel runs do not meet
  const port = 30_000 + Math.floor(Math.random() * 1000) * 2;
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', retries: 2, servers: [{ address: b.address }], source: { addresses: ['127.0.0.1'], portRange: [port, port], onExhausted: 'reject' } }],
  });
  const server = p.proxy.pools.get('p')!.servers[0]!;
  const clients: RawClient[] = [];
  try {
    // the one port: an open tunnel holds it
    const t = await RawClient.open(p.addr('h').port);
    clients.push(t);
    t.write(UPGRADE('/holds-the-port'));
    assert.equal((await t.response()).status, 101);
    // more Upgrade requests than the pool's fall (3): none may count as the server failing
    for (let i = 0; i < 5; i++) {
      const c = await RawClient.open(p.addr('h').port);
      clients.push(c);
      c.write(UPGRADE(`/u${i}`));
      const r = await c.response();
      assert.equal(r.status, 503, `request ${i}`);
      assert.equal(r.header('x-fullproxy-reason'), 'source-exhausted');
    }
    assert.equal(server.connectErrors, 0);
    assert.equal(server.passiveFailures, 0);
    assert.equal(server.health, 'up');
    assert.equal(server.held, 1, 'only the open tunnel holds the server');
    t.destroy();
    await waitFor(() => server.held === 0 && server.active === 0, 3_000, 'the tunnel released the server');
  } finally {
    for (const c of clients) c.destroy();
    await p.stop();
    await b.close();
  }
});
