// servers[].maxConnections with the queue (pools[].timeouts.queue), http mode
// (src/http/http-upstream.ts): requests beyond the server's connections wait for one to free, are
// served in turn, and get 503 after timeouts.queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend, type Backend } from '../../helpers/backends.ts';
import { spawnProxy, type ChildProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import type { Server as HttpServer } from 'node:http';

/** A server that holds each request `holdMs` before answering "served <path>"; `counts`: requests in hand at once. */
async function holdingBackend(holdMs: number): Promise<{ b: Backend<HttpServer>; counts: { now: number; max: number } }> {
  const counts = { now: 0, max: 0 };
  const b = await httpBackend('held', (req, res) => {
    counts.now++;
    counts.max = Math.max(counts.max, counts.now);
    setTimeout(() => {
      counts.now--;
      res.end(`served ${req.url}`);
    }, holdMs);
  });
  return { b, counts };
}

async function serverQueued(p: ChildProxy, address: string): Promise<number> {
  const a = p.listeners.get('#admin')!;
  const res = await fetch(`http://${a.host}:${a.port}/api/v1/stats`);
  const body = (await res.json()) as { pools: Record<string, { servers: Record<string, { queued: number }> }> };
  return body.pools['p']!.servers[address]!.queued;
}

/** `n` requests at once, each on its own client connection; per request: status, body, after how long. */
async function requests(port: number, n: number): Promise<Array<{ status: number; body: string; ms: number }>> {
  const start = Date.now();
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await get(port, { path: `/${i}` });
      return { status: r.status, body: r.body.toString(), ms: Date.now() - start };
    }),
  );
}

function config(address: string, queue: string): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address, maxConnections: 2 }], timeouts: { queue, response: '10s' } }],
  };
}

test('maxConnections 2, 4 requests at once: 2 served, 2 wait for a connection and are served when one frees', async () => {
  const { b, counts } = await holdingBackend(600);
  const p = await spawnProxy(config(b.address, '5s'));
  try {
    const running = requests(p.listeners.get('h')!.port, 4);
    await waitFor(() => counts.now === 2, 5_000, 'two requests at the server');
    assert.equal(await serverQueued(p, b.address), 2, 'two requests wait for a connection');
    const results = await running;
    console.log(results.map((r, i) => `  request ${i}: ${r.status} "${r.body}" after ${r.ms} ms`).join('\n'));
    assert.equal(counts.max, 2, 'never more than 2 requests at the server');
    assert.equal(b.accepted, 2, 'over 2 server connections, reused for the waiting requests');
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200, `request ${i}`);
      assert.equal(r.body, `served /${i}`);
    }
    assert.equal(results.filter((r) => r.ms >= 1_100).length, 2, 'two were served one hold (600 ms) later');
    assert.equal(await serverQueued(p, b.address), 0);
  } finally {
    p.child.kill('SIGKILL');
    await b.close();
  }
});

test('maxConnections 2, queue 300ms: the 2 excess requests get 503 after about 300 ms', async () => {
  const { b } = await holdingBackend(1_500);
  const p = await spawnProxy(config(b.address, '300ms'));
  try {
    const results = await requests(p.listeners.get('h')!.port, 4);
    console.log(results.map((r, i) => `  request ${i}: ${r.status} after ${r.ms} ms`).join('\n'));
    const served = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    assert.equal(served.length, 2);
    assert.equal(refused.length, 2);
    for (const r of refused) assert.ok(r.ms >= 250 && r.ms < 1_400, `503 after ${r.ms} ms (timeouts.queue 300 ms)`);
    for (const r of served) assert.ok(r.ms >= 1_400, `served after the hold: ${r.ms} ms`);
    assert.equal(b.accepted, 2);
  } finally {
    p.child.kill('SIGKILL');
    await b.close();
  }
});
