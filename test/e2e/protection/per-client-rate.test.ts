// limits.perClient.newPerSecond (issue 17 Proof "Per-client rate"): 40 connections within one
// second from one address with newPerSecond 10 — about 10 served, the rest reset at once; a second
// later that address is accepted again; another address is not affected meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

type End = { how: string; data: Buffer };

/** One connection from `from` that writes a byte: 'served' when it is echoed, else how it ended. */
async function tryOnce(port: number, from: string, all: Socket[]): Promise<string> {
  let s: Socket;
  try {
    s = await dial(port, '127.0.0.1', from);
  } catch (err) {
    // On loopback the reset can beat the client's connect completion.
    return (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'reset' : String(err);
  }
  all.push(s);
  const end: Promise<End> = outcome(s);
  s.write('x');
  const first = await Promise.race([end, new Promise<Buffer>((r) => s.once('data', r))]);
  return Buffer.isBuffer(first) ? 'served' : first.how;
}

test('tcp: 40 connections in a second with newPerSecond 10 → about 10 served, the rest reset; a second later accepted again', async (t) => {
  const backend = await tcpBackend((s) => s.on('data', (d) => s.write(d)));
  t.after(() => backend.close()); // also when the proxy fails to start
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', limits: { perClient: { newPerSecond: 10 } } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  });
  const all: Socket[] = [];
  try {
    const port = p.addr('t').port;
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 40 }, () => tryOnce(port, '127.0.0.2', all)));
    const took = Date.now() - started;
    const served = results.filter((r) => r === 'served').length;
    const reset = results.filter((r) => r === 'reset').length;
    assert.equal(served + reset, 40, `every connection served or reset: ${JSON.stringify(results)}`);
    // The bucket holds 10 and refills 10 per second: a burst that took `took` ms may get a few more.
    assert.ok(served >= 10 && served <= 10 + Math.ceil(took / 100), `served ${served} in ${took} ms`);
    assert.equal(p.proxy.listeners.get('t')!.counters.rejectedLimits, reset);
    assert.equal(backend.accepted, served, 'no server connection for a refused one');
    // Meanwhile another address has its own bucket.
    assert.equal(await tryOnce(port, '127.0.0.3', all), 'served');
    // A second later: accepted again (the bucket refilled; refused attempts spent nothing).
    const burstEnd = Date.now();
    await waitFor(() => Date.now() - burstEnd >= 1_000, 2_000, 'a second');
    const later = [];
    for (let i = 0; i < 8; i++) later.push(await tryOnce(port, '127.0.0.2', all));
    assert.deepEqual(later, new Array(8).fill('served'));
  } finally {
    for (const s of all) s.destroy();
    await p.stop();
    await backend.close();
  }
});

test('http: over newPerSecond the connection is reset before any HTTP is read', async (t) => {
  const backend = await tcpBackend((s) => s.on('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')));
  t.after(() => backend.close()); // also when the proxy fails to start
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', limits: { perClient: { newPerSecond: 2 } } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  });
  const all: Socket[] = [];
  try {
    const port = p.addr('h').port;
    const ends: string[] = [];
    for (let i = 0; i < 6; i++) {
      let s: Socket;
      try {
        s = await dial(port, '127.0.0.1', '127.0.0.2');
      } catch {
        ends.push('reset');
        continue;
      }
      all.push(s);
      const end = outcome(s);
      s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const r = await end;
      ends.push(r.data.length > 0 ? r.data.toString().split('\r\n')[0]! : r.how);
    }
    assert.deepEqual(ends.slice(0, 2), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    assert.ok(ends.slice(2).every((e) => e === 'reset' || e === 'HTTP/1.1 200 OK'), JSON.stringify(ends));
    assert.ok(ends.filter((e) => e === 'reset').length >= 2, `most of the burst refused: ${JSON.stringify(ends)}`);
  } finally {
    for (const s of all) s.destroy();
    await p.stop();
    await backend.close();
  }
});
