// connectionPool.maxIdlePerServer: after a burst, idle server connections beyond the cap are
// closed (oldest first, within a couple of seconds) and the rest stay for reuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

test('maxIdlePerServer: a burst of 20 concurrent requests leaves 4 idle server connections', async () => {
  // The server holds every answer until 20 requests wait at once (a barrier, not a delay: a busy
  // machine spreads a burst out), so the burst needs exactly 20 connections; later requests are
  // answered at once.
  const held: Array<() => void> = [];
  let burstDone = false;
  const b = await httpBackend('a', (_req, res) => {
    if (burstDone) return void res.end('ok');
    held.push(() => res.end('ok'));
    if (held.length === 20) {
      burstDone = true;
      for (const answer of held.splice(0)) answer();
    }
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }], connectionPool: { maxIdlePerServer: 4, reuse: 'always' } }],
  });
  try {
    const port = p.addr('h').port;
    const replies = await Promise.all(Array.from({ length: 20 }, () => get(port, {})));
    assert.ok(replies.every((r) => r.status === 200));
    const upstream = [...p.proxy.upstreams.values()][0]!;
    assert.equal(upstream.opened, 20, 'the burst needed 20 server connections');
    await waitFor(() => upstream.idleConnections === 4 && b.sockets.size === 4, 3_000, 'the surplus to be trimmed');
    // the kept ones serve the next requests without new connections
    for (let i = 0; i < 4; i++) assert.equal((await get(port, {})).status, 200);
    assert.equal(upstream.opened, 20);
  } finally {
    await p.stop();
    await b.close();
  }
});
