// limits.perClient.maxConnections (issue 17 Proof "Per-client connections"): 200 connections from
// 127.0.0.2 with a limit of 50 — 50 served, the rest reset at once before any byte is read (no
// server connection is made for them), 127.0.0.3 served meanwhile, 150 rejections counted in the
// stats and /metrics. The same in http mode (no HTTP answer, a reset), the address a trusted PROXY
// header names is the one counted, listener-level maxConnections, and the per-client state stays
// bounded under a flood of distinct addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend, httpBackend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';
import { ClientLimits, BUCKETS } from '../../../src/listener/client-limits.ts';
import { createMetricsRegistry } from '../../../src/admin/metrics.ts';

type End = { how: string; data: Buffer };

/**
 * Dials from `from` and writes `payload`: the socket (null when refused before connect completed)
 * and how it ends. On loopback a reset can beat the client's own connect completion: connect then
 * fails with ECONNRESET, which is the same refusal.
 */
async function attempt(port: number, from: string, payload: string): Promise<{ socket: Socket | null; end: Promise<End> }> {
  try {
    const socket = await dial(port, '127.0.0.1', from);
    const end = outcome(socket);
    socket.write(payload);
    return { socket, end };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { socket: null, end: Promise.resolve({ how: code === 'ECONNRESET' ? 'reset' : String(code), data: Buffer.alloc(0) }) };
  }
}

/** Dials `n` connections from `from`, all at once; each writes `payload`. */
async function flood(port: number, from: string, n: number, payload: string): Promise<{ sockets: Socket[]; ends: Promise<End>[] }> {
  const tries = await Promise.all(Array.from({ length: n }, () => attempt(port, from, payload)));
  return { sockets: tries.flatMap((t) => (t.socket === null ? [] : [t.socket])), ends: tries.map((t) => t.end) };
}

/** Resolves with the sockets that were reset, once they all ended (the served ones stay open). */
async function resetOnes(ends: Promise<{ how: string; data: Buffer }>[], expected: number, timeoutMs = 5_000): Promise<{ how: string; data: Buffer }[]> {
  const settled: { how: string; data: Buffer }[] = [];
  for (const e of ends) void e.then((r) => settled.push(r));
  await waitFor(() => settled.length >= expected, timeoutMs, `${expected} connections ended`);
  return settled;
}

/** One listener's value of a metric, as /metrics shows it. */
async function metric(p: RunningProxy, name: string, listener: string): Promise<number> {
  const out = await createMetricsRegistry(p.proxy).metrics();
  const m = new RegExp(`^${name}\\{listener="${listener}"\\} ([0-9]+)$`, 'm').exec(out);
  return m === null ? NaN : Number(m[1]);
}

test('tcp: 200 from 127.0.0.2 with perClient.maxConnections 50 → 50 served, 150 reset before a byte is read; 127.0.0.3 served', async (t) => {
  const held: Socket[] = [];
  const backend = await tcpBackend((s) => {
    held.push(s);
    s.on('data', (d) => s.write(d));
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', limits: { perClient: { maxConnections: 50 } } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  });
  const all: Socket[] = [];
  try {
    const port = p.addr('t').port;
    const { sockets, ends } = await flood(port, '127.0.0.2', 200, 'x');
    all.push(...sockets);
    const ended = await resetOnes(ends, 150);
    assert.equal(ended.length, 150);
    for (const r of ended) {
      assert.equal(r.how, 'reset', 'refused with a reset');
      assert.equal(r.data.length, 0, 'nothing answered');
    }
    // The other 50 are served: the server got exactly 50 connections and echoes on them.
    await waitFor(() => backend.accepted === 50, 5_000, 'the 50 served connections at the server');
    const other = await dial(port, '127.0.0.1', '127.0.0.3');
    all.push(other);
    other.write('from .3');
    const echoed = await new Promise<string>((r) => other.once('data', (d: Buffer) => r(d.toString())));
    assert.equal(echoed, 'from .3', '127.0.0.3 is served while .2 is at its limit');
    assert.equal(backend.accepted, 51, 'no server connection was made for a refused client');
    const l = p.proxy.listeners.get('t')!;
    assert.equal(l.counters.rejectedLimits, 150);
    assert.equal(l.openFrom('127.0.0.2'), 50);
    assert.equal(await metric(p, 'fullproxy_listener_cx_rejected_limits_total', 't'), 150);
    // Closing some frees their places.
    const open = sockets.filter((s) => !s.destroyed);
    assert.equal(open.length, 50);
    for (const s of open.slice(0, 5)) s.resetAndDestroy(); // a FIN would leave the session half-open (half-close is forwarded)
    await waitFor(() => l.openFrom('127.0.0.2') === 45, 5_000, 'the closed connections released');
    const again = await dial(port, '127.0.0.1', '127.0.0.2');
    // (a refusal here would fail the dial or the echo below)
    all.push(again);
    again.write('again');
    assert.equal(await new Promise<string>((r) => again.once('data', (d: Buffer) => r(d.toString()))), 'again');
  } finally {
    for (const s of all) s.destroy();
    await p.stop();
    await backend.close();
  }
});

test('http: over perClient.maxConnections the connection is reset, no HTTP answer', async (t) => {
  const backend = await httpBackend('a');
  t.after(() => backend.close()); // also when the proxy fails to start
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', limits: { perClient: { maxConnections: 5 } } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  });
  const all: Socket[] = [];
  try {
    const port = p.addr('h').port;
    // Five idle keep-alive connections hold the places; the next ones are refused.
    const holders = await Promise.all(Array.from({ length: 5 }, () => dial(port, '127.0.0.1', '127.0.0.2')));
    all.push(...holders);
    await waitFor(() => p.proxy.listeners.get('h')!.openFrom('127.0.0.2') === 5, 5_000, 'five counted');
    const { sockets, ends } = await flood(port, '127.0.0.2', 10, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    all.push(...sockets);
    const ended = await Promise.all(ends);
    for (const r of ended) {
      assert.equal(r.how, 'reset');
      assert.equal(r.data.length, 0, 'no HTTP response for a refused connection');
    }
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200, '127.0.0.1 is another client');
    assert.equal(p.proxy.listeners.get('h')!.counters.rejectedLimits, 10);
  } finally {
    for (const s of all) s.destroy();
    await p.stop();
    await backend.close();
  }
});

test('behind a trusted PROXY peer, the client the header names is the one counted', async (t) => {
  const backend = await tcpBackend((s) => s.on('data', (d) => s.write(d)));
  t.after(() => backend.close()); // also when the proxy fails to start
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', acceptProxyProtocol: { from: ['127.0.0.1/32'] }, limits: { perClient: { maxConnections: 2 } } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  });
  const all: Socket[] = [];
  const via = async (client: string, port: number): Promise<End> => {
    const { socket, end } = await attempt(port, '127.0.0.1', `PROXY TCP4 ${client} 127.0.0.1 40000 80\r\nping`);
    if (socket === null) return end;
    all.push(socket);
    const first = await Promise.race([end, new Promise<Buffer>((r) => socket.once('data', r))]);
    return Buffer.isBuffer(first) ? { how: 'open', data: first } : first;
  };
  try {
    const port = p.addr('t').port;
    assert.equal((await via('192.0.2.7', port)).how, 'open');
    assert.equal((await via('192.0.2.7', port)).how, 'open');
    const third = await via('192.0.2.7', port);
    assert.equal(third.how, 'reset', 'the third connection of 192.0.2.7 is over its limit, though all came from one peer');
    assert.equal(third.data.length, 0);
    assert.equal((await via('192.0.2.8', port)).how, 'open', 'another client behind the same peer is served');
    const l = p.proxy.listeners.get('t')!;
    assert.equal(l.openFrom('192.0.2.7'), 2);
    assert.equal(l.openFrom('127.0.0.1'), 0, 'the peer itself is not counted');
    assert.equal(l.counters.rejectedLimits, 1);
  } finally {
    for (const s of all) s.destroy();
    await p.stop();
    await backend.close();
  }
});

test('listener limits.maxConnections: the connection over it is reset and counted; a place freed is taken again', async (t) => {
  const backend = await tcpBackend((s) => s.on('data', (d) => s.write(d)));
  t.after(() => backend.close()); // also when the proxy fails to start
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', limits: { maxConnections: 3 } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  });
  const all: Socket[] = [];
  try {
    const port = p.addr('t').port;
    const three = await Promise.all([0, 1, 2].map(() => dial(port)));
    all.push(...three);
    await waitFor(() => p.proxy.listeners.get('t')!.openConnections === 3, 5_000, 'three open');
    const fourth = await attempt(port, '127.0.0.3', 'x');
    if (fourth.socket !== null) all.push(fourth.socket);
    const r = await fourth.end;
    assert.equal(r.how, 'reset');
    assert.equal(r.data.length, 0);
    assert.equal(p.proxy.listeners.get('t')!.counters.rejectedLimits, 1);
    three[0]!.resetAndDestroy();
    await waitFor(() => p.proxy.listeners.get('t')!.openConnections === 2, 5_000, 'one place free');
    const fifth = await dial(port);
    all.push(fifth);
    fifth.write('ok');
    assert.equal(await new Promise<string>((res) => fifth.once('data', (d: Buffer) => res(d.toString()))), 'ok');
  } finally {
    for (const s of all) s.destroy();
    await p.stop();
    await backend.close();
  }
});

test('per-client state stays bounded: a flood of distinct addresses keeps at most BUCKETS buckets, counts only for open connections', () => {
  const limits = new ClientLimits();
  const n = BUCKETS + 5_000;
  for (let i = 0; i < n; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(limits.admit(a, { maxConnections: 1, newPerSecond: 5 }, 1_000), null);
    limits.release(a);
  }
  assert.deepEqual(limits.sizes, { open: 0, buckets: BUCKETS });
});
