// A port the kernel refuses is skipped for the next one, not fatal to the client: held by another
// socket toward the same server (EADDRNOTAVAIL from connect), bound by a listener (EADDRINUSE from
// bind), or in TIME_WAIT after the proxy closed first (in a namespace with tcp_timestamps=0: with
// timestamps on, Linux lets an explicitly bound connect reuse a TIME_WAIT 4-tuple at once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { echoBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { establish, portBase, refusedHow, statsSourcePorts, tcpConfig } from './setup.ts';
import { netnsUnavailable, runInNetns } from './netns.ts';

test('ports held elsewhere in the kernel are skipped; when none is left the client is reset', async () => {
  const b = await echoBackend();
  const base = portBase();
  // base: another socket already connected from 127.0.0.2:base to the same server
  const foreign = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: b.port, localAddress: '127.0.0.2', localPort: base });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  // base + 1: a listener on 127.0.0.2:base+1
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(base + 1, '127.0.0.2', r));
  const p = await startProxy(tcpConfig(b.address, { addresses: ['127.0.0.2'], portRange: [base, base + 2], onExhausted: 'reject' }), 'debug');
  let client: Socket | null = null;
  try {
    client = await establish(p.addr('t').port);
    const proxied = [...b.sockets].filter((s) => s.remotePort !== base);
    assert.equal(proxied.length, 1);
    assert.equal(proxied[0]!.remotePort, base + 2, 'the first free port the kernel accepts');
    const skips = p.logs.find('source port busy in the kernel, trying another').map((l) => l['code']);
    assert.deepEqual(skips, ['EADDRNOTAVAIL', 'EADDRINUSE']);
    let sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['skipped'], 2);
    assert.equal(sp['exhausted'], 0);
    assert.equal(sp['inUse'], 3, 'one connection of ours and the two refused ports');
    assert.equal(sp['blocked'], 2, 'the refused ports are held out of use for a while (issue 17: no spin on them)');
    assert.equal(sp['free'], 0);
    // nothing usable left in our accounting: the next session is refused cleanly, without a syscall
    assert.equal(await refusedHow(p.addr('t').port), 'reset');
    sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['exhausted'], 1);
    assert.equal(sp['skipped'], 2, 'the blocked ports were not tried again');
    assert.equal(p.logs.find('source ports exhausted')[0]?.['reason'], 'reject');
    assert.equal(p.proxy.pools.get('p')!.servers[0]!.connectErrors, 0);
  } finally {
    client?.destroy();
    foreign.destroy();
    squatter.close();
    await p.stop();
    await b.close();
  }
});

const skip = netnsUnavailable();

test('a port in TIME_WAIT toward the server (proxy closed first) is skipped', { skip: skip ?? false }, () => {
  const r = runInNetns('time-wait', { 'net.ipv4.tcp_timestamps': '0' });
  assert.equal(r['fourth'], 'ok');
  assert.deepEqual(r['remotePorts'], [30000, 30001, 30002, 30001]);
  assert.deepEqual(r['skipLines'], [{ port: 30000, code: 'EADDRNOTAVAIL' }]);
  const sp = r['sourcePorts'] as { skipped: number; exhausted: number };
  assert.equal(sp.skipped, 1);
  assert.equal(sp.exhausted, 0);
});
