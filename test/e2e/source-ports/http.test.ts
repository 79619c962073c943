// http mode with 10 source ports: 40 concurrent slow requests (each on its own client
// connection) never use more than 10 server connections; the rest queue or get 503
// (`x-fullproxy-reason: source-exhausted`) per onExhausted; afterwards new requests succeed on
// the pooled connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { portBase, statsSourcePorts } from './setup.ts';

const SLOW_MS = 300;

async function slowBackend(): Promise<{ address: string; maxOpen: () => number; accepted: () => number; close: () => Promise<void> }> {
  const b = await httpBackend('slow', (_req, res) => {
    setTimeout(() => res.end('slow\n'), SLOW_MS);
  });
  let open = 0;
  let max = 0;
  b.server.on('connection', (s: Socket) => {
    if (++open > max) max = open;
    s.on('close', () => open--);
  });
  return { address: b.address, maxOpen: () => max, accepted: () => b.accepted, close: () => b.close() };
}

function proxyFor(server: string, source: Record<string, unknown>): Promise<RunningProxy> {
  return startProxy({
    logging: { level: 'info', access: false },
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server }], source }],
  });
}

interface Result {
  status: number;
  reason: string | undefined;
  ms: number;
}

/** `n` concurrent requests, each on a new client connection. */
async function burst(port: number, n: number): Promise<Result[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const t0 = Date.now();
      const r = await get(port, { path: `/r${i}` }); // agent false: a new client connection each
      const reason = r.headers['x-fullproxy-reason'];
      return { status: r.status, reason: typeof reason === 'string' ? reason : undefined, ms: Date.now() - t0 };
    }),
  );
}

function tally(rs: Result[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const r of rs) {
    const k = r.status === 200 ? '200' : `${r.status} ${r.reason}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

test('http, reject: 40 concurrent slow requests, 10 ports → 10 served, 30 × 503 at once; then all good', async () => {
  const b = await slowBackend();
  const base = portBase();
  const p = await proxyFor(b.address, { addresses: ['127.0.0.2'], portRange: [base, base + 9], onExhausted: 'reject' });
  try {
    const port = p.addr('h').port;
    const rs = await burst(port, 40);
    assert.deepEqual(tally(rs), { '200': 10, '503 source-exhausted': 30 });
    for (const r of rs) if (r.status === 503) assert.ok(r.ms < SLOW_MS, `503 after ${r.ms} ms: refused at once`);
    assert.ok(b.maxOpen() <= 10, `server saw ${b.maxOpen()} connections at once`);
    const sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['exhausted'], 30);
    assert.equal(sp['peak'], 10);
    // afterwards: the pooled connections serve new clients
    const again = await burst(port, 10);
    assert.deepEqual(tally(again), { '200': 10 });
    assert.ok(b.accepted() <= 10, `server accepted ${b.accepted()} connections in all`);
  } finally {
    await p.stop();
    await b.close();
  }
});

test('http, queue: 40 concurrent slow requests, 10 ports → never more than 10 server connections; waiters are served or 503 at queueTimeout', async () => {
  const b = await slowBackend();
  const base = portBase();
  const QUEUE_MS = 1_000;
  const p = await proxyFor(b.address, { addresses: ['127.0.0.2'], portRange: [base, base + 9], onExhausted: 'queue', queueTimeout: QUEUE_MS });
  try {
    const port = p.addr('h').port;
    const rs = await burst(port, 40);
    const t = tally(rs);
    // A waiter gives up after queueTimeout either way: waiting for a source port (source-exhausted)
    // or, once every port is held by a pooled connection, for one of those connections
    // (pools[].timeouts.queue, also 1 s: queue-timeout). Which one depends on the machine's speed.
    assert.equal((t['200'] ?? 0) + (t['503 source-exhausted'] ?? 0) + (t['503 queue-timeout'] ?? 0), 40, JSON.stringify(t));
    assert.ok((t['200'] ?? 0) >= 10, JSON.stringify(t));
    for (const r of rs) if (r.status === 503) assert.ok(r.ms >= QUEUE_MS - 20, `503 after ${r.ms} ms: only after waiting queueTimeout`);
    assert.ok(b.maxOpen() <= 10, `server saw ${b.maxOpen()} connections at once`);
    const sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['exhausted'], t['503 source-exhausted'] ?? 0);
    assert.equal(sp['queued'], 0);
    assert.ok((sp['inUse'] as number) <= 10);
    const again = await burst(port, 10);
    assert.deepEqual(tally(again), { '200': 10 });
    console.log(`# queue: ${JSON.stringify(t)}; server connections ${b.accepted()}`);
  } finally {
    await p.stop();
    await b.close();
  }
});
