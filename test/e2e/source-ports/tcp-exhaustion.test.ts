// One source address, portRange of 10 ports, a server that holds every connection open: 10 tcp
// sessions succeed; the 11th is reset at once (reject), waits for a port (queue), or is reset at
// queueTimeout. Counters reach the admin API; the 80 % warning and the recovery line are logged;
// no port leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { echoBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';
import { establish, hangUp, portBase, refusedHow, roundTrip, statsSourcePorts, tcpConfig } from './setup.ts';

test('reject: the 11th session is reset at once; counters, warning, recovery, no leak', async () => {
  const b = await echoBackend();
  const base = portBase();
  const p = await startProxy(tcpConfig(b.address, { addresses: ['127.0.0.2'], portRange: [base, base + 9], onExhausted: 'reject' }));
  const clients: Socket[] = [];
  try {
    const port = p.addr('t').port;
    for (let i = 0; i < 10; i++) clients.push(await establish(port));
    assert.equal(b.sockets.size, 10);
    for (const s of b.sockets) {
      assert.equal(s.remoteAddress, '127.0.0.2');
      assert.ok(s.remotePort! >= base && s.remotePort! <= base + 9, `source port ${s.remotePort} in the range`);
    }

    const t0 = Date.now();
    const how = await refusedHow(port);
    const took = Date.now() - t0;
    assert.equal(how, 'reset', 'RST, not a silent close');
    assert.ok(took < 500, `reset after ${took} ms`);
    assert.equal(b.accepted, 10, 'the server never saw the 11th');

    const sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['inUse'], 10);
    assert.equal(sp['free'], 0);
    assert.equal(sp['exhausted'], 1);
    assert.equal(sp['peak'], 10);
    const server = p.proxy.pools.get('p')!.servers[0]!;
    assert.equal(server.connectErrors, 0, 'exhaustion is not the server failing');
    assert.equal(server.health, 'up');

    const warn = p.logs.find('source ports above 80% toward server');
    assert.equal(warn.length, 1);
    assert.equal(warn[0]!['inUse'], 8);
    assert.equal(warn[0]!['capacity'], 10);
    const ex = p.logs.find('source ports exhausted');
    assert.equal(ex.length, 1);
    assert.equal(ex[0]!['reason'], 'reject');
    await waitFor(() => p.logs.find('session end').some((l) => l['reason'] === 'source-exhausted'), 2_000, 'session end line');

    // A session that ends gives its port back: the next one gets it.
    await hangUp(clients.shift()!);
    await waitFor(() => p.proxy.sourcePortsOf(p.proxy.pools.get('p')!, server).inUse === 9, 2_000, 'port released');
    clients.push(await establish(port));

    for (const s of clients.splice(0)) await hangUp(s);
    await waitFor(() => p.proxy.sourcePortsOf(p.proxy.pools.get('p')!, server).inUse === 0, 2_000, 'every port released');
    assert.equal(p.logs.find('source ports back below 70% toward server').length, 1);
  } finally {
    for (const s of clients) s.destroy();
    await p.stop();
    await b.close();
  }
});

test('queue: the 11th session waits and goes through when a port frees up', async () => {
  const b = await echoBackend();
  const base = portBase();
  const p = await startProxy(tcpConfig(b.address, { addresses: ['127.0.0.2'], portRange: [base, base + 9], onExhausted: 'queue', queueTimeout: '5s' }));
  const clients: Socket[] = [];
  try {
    const port = p.addr('t').port;
    for (let i = 0; i < 10; i++) clients.push(await establish(port));
    const waiting = await dial(port);
    const echoed = roundTrip(waiting, 'queued');
    const pool = p.proxy.pools.get('p')!;
    await waitFor(() => p.proxy.sourcePortsOf(pool, pool.servers[0]!).queued === 1, 2_000, 'the 11th queued');
    assert.equal(b.accepted, 10);
    await hangUp(clients.shift()!);
    await echoed; // its bytes, sent while it waited, arrive once it has a port
    assert.equal(b.accepted, 11);
    const sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['inUse'], 10);
    assert.equal(sp['exhausted'], 0, 'served from the queue: not refused');
    assert.equal(sp['queued'], 0);
    clients.push(waiting);
  } finally {
    for (const s of clients) s.destroy();
    await p.stop();
    await b.close();
  }
});

test('queue: the 11th session is reset at queueTimeout when no port frees up', async () => {
  const b = await echoBackend();
  const base = portBase();
  const p = await startProxy(tcpConfig(b.address, { addresses: ['127.0.0.2'], portRange: [base, base + 9], onExhausted: 'queue', queueTimeout: '300ms' }));
  const clients: Socket[] = [];
  try {
    const port = p.addr('t').port;
    for (let i = 0; i < 10; i++) clients.push(await establish(port));
    const t0 = Date.now();
    const how = await refusedHow(port);
    const took = Date.now() - t0;
    assert.equal(how, 'reset');
    assert.ok(took >= 280 && took < 1_300, `reset after ${took} ms (queueTimeout 300 ms)`);
    const sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['exhausted'], 1);
    assert.equal(sp['queued'], 0);
    assert.equal(p.logs.find('source ports exhausted')[0]?.['reason'], 'queue-timeout');
    // the 10 established sessions were not disturbed
    for (const s of clients) await roundTrip(s, 'still here');
  } finally {
    for (const s of clients) s.destroy();
    await p.stop();
    await b.close();
  }
});
