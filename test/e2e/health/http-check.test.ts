// The http check: GET `path` with Host, the status decides (`expectStatus`), a server that accepts
// and never answers fails by `timeout`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { tcpBackend } from '../../helpers/backends.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

function pool(servers: string[], healthCheck: Record<string, unknown>): Record<string, unknown> {
  return {
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
    pools: [{ name: 'app', servers: servers.map((address) => ({ address })), healthCheck: { type: 'http', interval: 100, timeout: 400, rise: 1, fall: 2, ...healthCheck } }],
  };
}

test('a server answering 503 on the check path is down with reason "status 503"; Host is the server address', async () => {
  const hosts: string[] = [];
  const ok = await restartable('ok');
  const sick = await restartable('sick', (req, res) => {
    if (req.url === '/healthz') {
      hosts.push(String(req.headers.host));
      res.statusCode = 503;
      res.end('sick\n');
    }
  });
  const p = await startProxy(pool([ok.address, sick.address], { path: '/healthz' }));
  try {
    const s = p.proxy.pools.get('app')!.find(sick.address)!;
    await waitFor(() => s.health === 'down', 5_000, 'sick down');
    assert.equal(s.healthReason, '2 checks in a row failed, last: status 503');
    assert.equal(s.lastCheck?.reason, 'status 503');
    assert.equal(hosts[0], sick.address, 'Host: the server address');
    const down = p.logs.find('server down');
    assert.equal(down.length, 1);
    assert.equal(down[0]!['reason'], '2 checks in a row failed, last: status 503');
    assert.equal(p.proxy.pools.get('app')!.find(ok.address)!.health, 'up');
  } finally {
    await p.stop();
    await ok.stop();
    await sick.stop();
  }
});

test('expectStatus is respected: "404" passes a 404 and fails a 200; the configured host is sent', async () => {
  const hosts: string[] = [];
  const notFound = await restartable('nf', (req, res) => {
    hosts.push(String(req.headers.host));
    res.statusCode = 404;
    res.end();
  });
  const fine = await restartable('fine');
  const p = await startProxy(pool([notFound.address, fine.address], { path: '/status', expectStatus: '404', host: 'health.internal' }));
  try {
    const app = p.proxy.pools.get('app')!;
    await waitFor(() => app.find(fine.address)!.health === 'down', 5_000, '200 fails "404"');
    assert.equal(app.find(fine.address)!.lastCheck?.reason, 'status 200');
    await waitFor(() => (app.find(notFound.address)!.checksPassed ?? 0) >= 3, 5_000, 'the 404 server passing');
    assert.equal(app.find(notFound.address)!.health, 'up');
    assert.equal(app.find(notFound.address)!.lastCheck?.reason, 'status 404');
    assert.equal(hosts[0], 'health.internal');
    assert.equal(notFound.seen.get('/status')! >= 3, true, 'the configured path');
  } finally {
    await p.stop();
    await notFound.stop();
    await fine.stop();
  }
});

test('a server that accepts and never answers fails by timeout; its check connections do not pile up', async () => {
  const ok = await restartable('ok');
  // Reads the request, answers nothing. Counts check connections the proxy has not closed yet.
  let open = 0;
  let maxOpen = 0;
  const silent = await tcpBackend((c) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    let gone = false;
    const done = (): void => {
      if (!gone) open--;
      gone = true;
    };
    c.once('end', done);
    c.once('close', done);
    c.resume();
  });
  const p = await startProxy(pool([ok.address, silent.address], { timeout: 300, fall: 2 }));
  try {
    const s = p.proxy.pools.get('app')!.find(silent.address)!;
    const start = Date.now();
    await waitFor(() => s.health === 'down', 5_000, 'silent down');
    assert.equal(s.lastCheck?.reason, 'timeout');
    assert.equal(s.healthReason, '2 checks in a row failed, last: timeout');
    assert.ok(Date.now() - start >= 600, 'two timeouts of 300 ms at least');
    // A check in flight is never started twice: at most one open check connection at a time.
    await waitFor(() => s.checksFailed >= 4, 5_000, 'more timeouts');
    assert.equal(maxOpen, 1, 'one check connection at a time');
  } finally {
    await p.stop();
    await ok.stop();
    await silent.close();
  }
});
