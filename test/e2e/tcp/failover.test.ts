// Connect failures: refused → next server; all down → client closed promptly; a silent server
// does not hang other sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { echoBackend, refusedPort, tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { blackholePort } from '../../helpers/blackhole.ts';

test('a refused server → the session goes to the next server, the failure is counted', async () => {
  const dead = await refusedPort();
  const live = await echoBackend();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', retries: 1, servers: [{ address: `127.0.0.1:${dead}` }, { address: live.address }] }],
  });
  try {
    for (let i = 0; i < 4; i++) {
      const s = await dial(p.addr('t').port);
      const o = outcome(s);
      s.end('ping');
      const r = await o;
      assert.equal(r.data.toString(), 'ping');
    }
    const deadServer = p.proxy.pools.get('p')!.find(`127.0.0.1:${dead}`)!;
    assert.ok(deadServer.connectErrors >= 1, 'connect errors counted on the server');
  } finally {
    await p.stop();
    await live.close();
  }
});

test('all servers refuse → the client is closed at once (well within connect timeout + 200 ms)', async () => {
  const d1 = await refusedPort();
  // two refusing servers on different loopback addresses (two refusedPort() calls may return the
  // same free port number, and server addresses must be unique)
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', retries: 1, timeouts: { connect: '500ms' }, servers: [{ address: `127.0.0.1:${d1}` }, { address: `127.0.0.2:${d1}` }] }],
  });
  try {
    const start = Date.now();
    const s = await dial(p.addr('t').port);
    const r = await outcome(s);
    const took = Date.now() - start;
    assert.ok(took < 500 + 200, `closed after ${took} ms`);
    assert.equal(r.data.length, 0);
    const line = p.logs.find('session end').at(-1);
    assert.equal(line?.['reason'], 'connect-failed');
  } finally {
    await p.stop();
  }
});

test('a server that accepts and never answers does not hang other sessions', async () => {
  // accepts and never writes; not half-open, so a client FIN ends it (the sessions below must finish)
  const silent = await tcpBackend((s) => s.resume(), '127.0.0.1', false);
  const live = await echoBackend();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: silent.address }, { address: live.address }] }],
  });
  try {
    const port = p.addr('t').port;
    const stuck = await dial(port); // rr: the first session goes to the silent server and waits forever
    stuck.write('hello?');
    const t0 = Date.now();
    let echoed = 0;
    for (let i = 0; i < 6; i++) {
      const s = await dial(port);
      const o = outcome(s);
      s.end(`x${i}`);
      const r = await o;
      if (r.data.length > 0) {
        assert.equal(r.data.toString(), `x${i}`);
        echoed++;
      }
    }
    assert.equal(echoed, 3, 'every other session reached the live server and got its echo');
    assert.ok(Date.now() - t0 < 3000, 'live sessions were not held up by the stuck one');
    assert.ok(!stuck.destroyed, 'the stuck session is still open, untouched');
    stuck.destroy();
  } finally {
    await p.stop();
    await silent.close();
    await live.close();
  }
});

test('a server whose connect hangs: the client is closed within connect timeout + 200 ms', async () => {
  const hole = await blackholePort();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', retries: 0, timeouts: { connect: '500ms' }, servers: [{ address: `127.0.0.1:${hole.port}` }] }],
  });
  try {
    const s = await dial(p.addr('t').port);
    const start = Date.now();
    const r = await outcome(s);
    const took = Date.now() - start;
    assert.ok(took >= 450 && took < 500 + 200, `closed after ${took} ms`);
    assert.equal(r.data.length, 0);
    assert.equal(p.proxy.pools.get('p')!.servers[0]!.connectErrors, 1);
  } finally {
    await p.stop();
    await hole.close();
  }
});
