// Idle timeouts: with idleReset both ends see RST within idle + 1 s; without it, both see a clean
// end; a session that trickles a byte every 400 ms is never reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

async function idleSetup(idleReset: boolean) {
  const serverSockets: Promise<{ how: string; data: Buffer }>[] = [];
  const server = await tcpBackend((s: Socket) => {
    serverSockets.push(outcome(s));
    s.on('data', (d) => s.write(d)); // echo, keep open
  });
  const p = await startProxy({
    logging: { level: 'info' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', idleReset, timeouts: { clientIdle: '1s' } }],
    pools: [{ name: 'p', servers: [{ address: server.address }], timeouts: { serverIdle: '1s' } }],
  });
  return { server, p, serverSockets };
}

test('idleReset: true → client and server both see a reset within idle + 1 s', async () => {
  const { server, p, serverSockets } = await idleSetup(true);
  try {
    const s = await dial(p.addr('t').port);
    const client = outcome(s);
    s.write('x');
    const t0 = Date.now();
    const c = await client;
    const took = Date.now() - t0;
    const srv = await serverSockets[0]!;
    assert.equal(c.how, 'reset');
    assert.equal(srv.how, 'reset');
    assert.ok(took >= 900 && took < 2000, `reset after ${took} ms`);
    await waitFor(() => p.logs.find('session end').length === 1, 2000, 'the access line');
    assert.equal(p.logs.find('session end')[0]?.['reason'], 'idle-reset');
    assert.equal(p.proxy.sessions.idleResets.get('t'), 1);
  } finally {
    await p.stop();
    await server.close();
  }
});

test('idleReset: false → client and server both see a clean end', async () => {
  const { server, p, serverSockets } = await idleSetup(false);
  try {
    const s = await dial(p.addr('t').port);
    const client = outcome(s);
    s.write('x');
    const c = await client;
    // our side is half-open-capable: the proxy's FIN arrives as 'end'; close our side too
    assert.equal(c.how, 'end');
    assert.equal(c.data.toString(), 'x');
    const srv = await serverSockets[0]!;
    assert.equal(srv.how, 'end');
    await waitFor(() => p.logs.find('session end').length === 1, 2000, 'the access line');
    assert.equal(p.logs.find('session end')[0]?.['reason'], 'idle-close');
  } finally {
    await p.stop();
    await server.close();
  }
});

test('a session that trickles a byte every 400 ms is never reset', async () => {
  const { server, p } = await idleSetup(true);
  try {
    const s = await dial(p.addr('t').port);
    let ended = false;
    s.on('close', () => (ended = true));
    s.on('error', () => {});
    let got = 0;
    s.on('data', (d: Buffer) => (got += d.length));
    for (let i = 0; i < 10; i++) {
      s.write('.');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(ended, false, `reset after ${i + 1} trickles`);
    }
    assert.equal(got, 10);
    s.destroy();
  } finally {
    await p.stop();
    await server.close();
  }
});
