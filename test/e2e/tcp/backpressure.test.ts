// Backpressure: a client that stops reading while the server streams 100 MiB must not make the
// proxy buffer it (RSS of the proxy process grows < 32 MiB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpBackend } from '../../helpers/backends.ts';
import { spawnProxy, rssOf } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';

test('a client that stops reading: the proxy does not buffer the 100 MiB the server streams', async () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  const server = await tcpBackend((s) => {
    // stream up to 100 MiB as fast as the proxy accepts it
    const pump = (): void => {
      while (written < 100 * 1024 * 1024) {
        written += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  const proxy = await spawnProxy({
    logging: { level: 'warn' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server.address }] }],
  });
  try {
    const pid = proxy.child.pid!;
    const before = rssOf(pid);
    const client = await dial(proxy.listeners.get('t')!.port);
    client.pause(); // never read
    // wait until the server is blocked: its writes stop advancing
    let last = -1;
    const deadline = Date.now() + 10_000;
    while (written !== last || written === 0) {
      assert.ok(Date.now() < deadline, 'the server was never held back');
      last = written;
      await new Promise((r) => setTimeout(r, 250));
    }
    // sample a few times while it stays blocked
    let peak = 0;
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, rssOf(pid));
    }
    const growth = (peak - before) / 1024 / 1024;
    assert.ok(written < 100 * 1024 * 1024, `server was held back after ${written} bytes`);
    assert.ok(growth < 32, `proxy RSS grew ${growth.toFixed(1)} MiB`);
    // and it still flows once the client reads again
    let got = 0;
    client.on('data', (d: Buffer) => (got += d.length));
    client.resume();
    await new Promise((r) => client.once('end', r));
    assert.equal(got, 100 * 1024 * 1024);
  } finally {
    proxy.child.kill('SIGKILL');
    await server.close();
  }
});
